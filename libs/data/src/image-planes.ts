/**
 * Where each frame of a CT image lies and how its stored values become HU. A single-frame CT Image
 * keeps these at the top level of its dataset; an Enhanced CT or Legacy Converted Enhanced CT image
 * keeps them in functional groups, a frame's own (PerFrameFunctionalGroupsSequence) before the shared
 * ones, and some converters leave them at the top level, which is read last.
 */
import { items, numbers, type Item } from './dataset-values';
import { SOP_ENHANCED_CT_IMAGE, SOP_LEGACY_ENHANCED_CT_IMAGE, type DicomFile } from './dicom';
import { VolumeIOError } from './errors';
import type { Vec3 } from './volume';

/** One frame's plane and rescale. */
export interface ImagePlane {
  /** 1-based frame number in a multi-frame image; absent for a single-frame image. */
  frame?: number;
  /** ImagePositionPatient: the centre of the frame's first pixel (LPS mm). */
  position: Vec3;
  /** ImageOrientationPatient: row then column direction cosines. */
  orientation: number[];
  /** PixelSpacing: between rows, then between columns (mm). */
  pixelSpacing: [number, number];
  sliceThickness?: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  /** FrameContentSequence's TemporalPositionIndex (a 4D CT's phase). */
  temporalPosition?: number;
}

/** The numbers of a value, or undefined when it has none or one is not finite. */
function numbersOf(v: unknown): number[] | undefined {
  const out = numbers(v);
  return out.length && out.every(Number.isFinite) ? out : undefined;
}

/** True when the image keeps its geometry in functional groups (Enhanced CT and its kin, any frame count). */
export function hasFunctionalGroups(f: DicomFile): boolean {
  const d = f.dataset;
  return f.sopClassUID === SOP_ENHANCED_CT_IMAGE || f.sopClassUID === SOP_LEGACY_ENHANCED_CT_IMAGE || d.PerFrameFunctionalGroupsSequence !== undefined || d.SharedFunctionalGroupsSequence !== undefined;
}

/**
 * Each frame's plane, in the file's frame order. Throws VolumeIOError naming the file (and frame):
 * MISSING_TAG when a frame's position, orientation or spacing is absent or not numbers, BAD_HEADER when
 * NumberOfFrames disagrees with the functional groups, UNSUPPORTED_DATATYPE for a multi-frame image
 * without functional groups (no standard CT image is one).
 */
export function imagePlanes(f: DicomFile): ImagePlane[] {
  const d = f.dataset;
  const given = d.NumberOfFrames !== undefined && d.NumberOfFrames !== null && d.NumberOfFrames !== '';
  const n = given ? numbersOf(d.NumberOfFrames)?.[0] : 1;
  if (!(n !== undefined && Number.isInteger(n) && n >= 1)) {
    throw new VolumeIOError(f.path, 'BAD_HEADER', `NumberOfFrames ${JSON.stringify(d.NumberOfFrames)} is not a positive integer`);
  }
  if (!hasFunctionalGroups(f)) {
    if (n !== 1) throw new VolumeIOError(f.path, 'UNSUPPORTED_DATATYPE', `${n} frames without functional groups (a multi-frame CT must be an Enhanced CT image)`);
    return [plane(f, [d], undefined)];
  }
  const perFrame = items(d.PerFrameFunctionalGroupsSequence);
  const shared = items(d.SharedFunctionalGroupsSequence)[0] ?? {};
  if (perFrame.length !== n && !(perFrame.length === 0 && n === 1)) {
    throw new VolumeIOError(f.path, 'BAD_HEADER', `PerFrameFunctionalGroupsSequence has ${perFrame.length} items for NumberOfFrames ${n}`);
  }
  return Array.from({ length: n }, (_, i) => plane(f, [perFrame[i] ?? {}, shared, d], i + 1));
}

/** A frame's plane from its groups in order of precedence (functional groups, then the top level). */
function plane(f: DicomFile, groups: Item[], frame: number | undefined): ImagePlane {
  const where = frame === undefined ? '' : `frame ${frame}: `;
  // The first group holding `key` in `macro` (a functional group sequence), or at the top level itself.
  const find = (macro: string, key: string): unknown => {
    for (const g of groups) {
      const inMacro = items(g[macro])[0]?.[key];
      if (inMacro !== undefined) return inMacro;
    }
    return groups[groups.length - 1][key];
  };
  const need = (macro: string, key: string, count: number): number[] => {
    const v = find(macro, key);
    const arr = numbersOf(v);
    if (!arr || arr.length !== count) {
      const place = frame === undefined ? key : `${key} (${macro} or the top level)`;
      throw new VolumeIOError(f.path, 'MISSING_TAG', `${where}${place} must hold ${count} numbers, found ${JSON.stringify(v ?? null)}`);
    }
    return arr;
  };
  const optional = (macro: string, key: string): number | undefined => numbersOf(find(macro, key))?.[0];
  const temporal = frame === undefined ? undefined : numbersOf(items(groups[0].FrameContentSequence)[0]?.TemporalPositionIndex)?.[0];
  const thickness = optional('PixelMeasuresSequence', 'SliceThickness');
  return {
    ...(frame === undefined ? {} : { frame }),
    position: need('PlanePositionSequence', 'ImagePositionPatient', 3) as Vec3,
    orientation: need('PlaneOrientationSequence', 'ImageOrientationPatient', 6),
    pixelSpacing: need('PixelMeasuresSequence', 'PixelSpacing', 2) as [number, number],
    ...(thickness === undefined ? {} : { sliceThickness: thickness }),
    rescaleSlope: optional('PixelValueTransformationSequence', 'RescaleSlope') ?? 1,
    rescaleIntercept: optional('PixelValueTransformationSequence', 'RescaleIntercept') ?? 0,
    ...(temporal === undefined ? {} : { temporalPosition: temporal }),
  };
}
