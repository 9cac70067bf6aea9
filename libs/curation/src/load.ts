/**
 * Loading one case from its source files: the CT in HU (int16) and each structure as sparse voxel
 * offsets on the CT grid. Only structures `wanted` (those that map to an organ) are read/rasterised.
 * A bad structure becomes an `error` on that structure; a bad CT, RTSTRUCT or SEG throws (the case is
 * skipped).
 */
import { parseDicomSeg, parseRtStruct, rasteriseRoi, segmentOnGrid, type ParsedSeg, type SegSegment } from '@anatomynet/rt';
import { evenSlices, NOT_A_NUMBER_HU, readCtSeries, readDicomFile, readNrrd, SOP_SEGMENTATION, type Volume } from '@anatomynet/data';
import { basename, dirname } from 'node:path';
import { maskToOffsets } from './labels';

export interface LoadedStructure {
  name: string;
  /** Sorted voxel offsets on the CT grid (absent when not read or on error). */
  offsets?: Int32Array;
  /** Why this structure could not be used. */
  error?: string;
  /** Something worth knowing about an otherwise usable structure. */
  note?: string;
  /** What a DICOM SEG segment's codes call it ("Parotid gland, Left"), when that is not its name. */
  codedName?: string;
}

export interface LoadedCase {
  ct: Volume<Int16Array>;
  structures: LoadedStructure[];
  /** PatientIdentityRemoved=YES in the CT; null when the format cannot say (NRRD). */
  identityRemoved: boolean | null;
  warnings: string[];
  /** Per acquired CT slice, its plane of `ct`, when the slices were moved onto a uniform grid. */
  sourceSlicePlanes?: Int32Array;
}

/** Round-and-clamp any voxel array to int16 HU, counting clamped voxels and NaN ones (stored as air). */
export function toInt16(v: Volume): { volume: Volume<Int16Array>; clamped: number; notNumbers: number } {
  if (v.data instanceof Int16Array) return { volume: v as Volume<Int16Array>, clamped: 0, notNumbers: 0 };
  const out = new Int16Array(v.data.length);
  let clamped = 0, notNumbers = 0;
  for (let p = 0; p < out.length; p++) {
    const x = Math.round(v.data[p]);
    if (Number.isNaN(x)) {
      notNumbers++;
      out[p] = NOT_A_NUMBER_HU;
      continue;
    }
    const c = x < -32768 ? -32768 : x > 32767 ? 32767 : x;
    if (c !== x) clamped++;
    out[p] = c;
  }
  return { volume: { ...v, data: out }, clamped, notNumbers };
}

function sameGrid(a: Volume, b: Volume, tolMm = 1e-3): string | null {
  if (a.shape.some((s, i) => s !== b.shape[i])) return `grid ${b.shape.join('x')} differs from the image's ${a.shape.join('x')}`;
  if (a.spacing.some((s, i) => Math.abs(s - b.spacing[i]) > tolMm)) return 'voxel spacing differs from the image';
  if (a.origin.some((s, i) => Math.abs(s - b.origin[i]) > Math.max(tolMm, 0.01 * a.spacing[i]))) return 'origin differs from the image';
  if (a.direction.some((s, i) => Math.abs(s - b.direction[i]) > 1e-4)) return 'direction differs from the image';
  return null;
}

/** Non-zero values of a mask: a binary mask has exactly one. */
function distinctNonZero(data: ArrayLike<number>, limit = 8): number[] {
  const seen = new Set<number>();
  for (let p = 0; p < data.length && seen.size < limit; p++) if (data[p] !== 0) seen.add(data[p]);
  return [...seen].sort((x, y) => x - y);
}

/** A PDDCA case: `<case>/img.nrrd` and `<case>/structures/<Name>.nrrd`. */
export function loadPddcaCase(imagePath: string, structurePaths: readonly string[], wanted: (name: string) => boolean): LoadedCase {
  const warnings: string[] = [];
  const { volume: ct, clamped, notNumbers } = toInt16(readNrrd(imagePath).volume);
  if (clamped > 0) warnings.push(`${clamped} image voxels clamped to the int16 range`);
  if (notNumbers > 0) warnings.push(`${notNumbers} image voxels are not numbers (NaN): stored as ${NOT_A_NUMBER_HU} HU (air)`);
  const structures: LoadedStructure[] = [];
  for (const path of structurePaths) {
    const name = basename(path).replace(/\.nrrd$/i, '');
    if (!wanted(name)) { structures.push({ name }); continue; }
    let m: Volume;
    try {
      m = readNrrd(path).volume;
    } catch (e) {
      structures.push({ name, error: `unreadable: ${(e as Error).message}` });
      continue;
    }
    const bad = sameGrid(ct, m);
    if (bad) { structures.push({ name, error: bad }); continue; }
    const values = distinctNonZero(m.data);
    if (values.length > 1) {
      structures.push({ name, error: `multi-valued mask (values ${values.join(', ')}${values.length >= 8 ? ', ...' : ''}); a structure mask must be binary` });
      continue;
    }
    structures.push({ name, offsets: maskToOffsets(m.data) });
  }
  return { ct, structures, identityRemoved: null, warnings };
}

/** What a segment's codes call it ("Parotid gland, Left"), when it has a type code. */
export function segmentCodedName(s: SegSegment): string | undefined {
  return s.type?.meaning ? [s.type.meaning, s.typeModifier?.meaning].filter(Boolean).join(', ') : undefined;
}

/**
 * A SEG's segment names as the name table sees them: each SegmentLabel; without one, what its codes say,
 * else `Segment N`.
 */
export function segmentNames(seg: ParsedSeg): string[] {
  return seg.segments.map((s) => s.label || segmentCodedName(s) || `Segment ${s.number}`);
}

/**
 * A DICOM case: one CT series and the RTSTRUCT or SEG paired with it. Contours and SEG frames are placed
 * on the slices as acquired; where their steps vary, the CT and the masks then move onto a uniform grid
 * (`evenSlices`: the CT linearly, each plane's masks from the nearest slice) and `sourceSlicePlanes` says
 * where each acquired slice went.
 */
export function loadDicomCase(ctFiles: readonly string[], rtPath: string, wanted: (name: string) => boolean, opts: { acceptLossy?: boolean } = {}): LoadedCase {
  const loaded = loadOnAcquiredSlices(ctFiles, rtPath, wanted, opts.acceptLossy === true);
  const even = evenSlices(loaded.ct, dirname(ctFiles[0]));
  if (!even) return loaded;
  const sliceVoxels = loaded.ct.shape[0] * loaded.ct.shape[1];
  return {
    ...loaded,
    ct: even.volume,
    structures: loaded.structures.map((s) => (s.offsets ? { ...s, offsets: offsetsOnPlanes(s.offsets, sliceVoxels, even.grid.nearestSlice) } : s)),
    warnings: [...loaded.warnings, `${even.note}; annotations from the nearest slice`],
    sourceSlicePlanes: even.grid.nearestPlane,
  };
}

/**
 * Sorted mask offsets on the acquired slices -> sorted offsets on the planes, plane m holding slice
 * `sliceOfPlane[m]`'s (non-decreasing in m).
 */
export function offsetsOnPlanes(offsets: Int32Array, sliceVoxels: number, sliceOfPlane: Int32Array): Int32Array {
  const firstAtOrAfter = (x: number) => {
    let lo = 0, hi = offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (offsets[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const runs: [number, number, number][] = [];
  let total = 0;
  for (let m = 0; m < sliceOfPlane.length; m++) {
    const k = sliceOfPlane[m];
    const a = firstAtOrAfter(k * sliceVoxels), b = firstAtOrAfter((k + 1) * sliceVoxels);
    if (b > a) runs.push([m, a, b]);
    total += b - a;
  }
  const out = new Int32Array(total);
  let o = 0;
  for (const [m, a, b] of runs) {
    const shift = (m - sliceOfPlane[m]) * sliceVoxels;
    for (let q = a; q < b; q++) out[o++] = offsets[q] + shift;
  }
  return out;
}

function loadOnAcquiredSlices(ctFiles: readonly string[], rtPath: string, wanted: (name: string) => boolean, acceptLossy: boolean): LoadedCase {
  const series = readCtSeries([...ctFiles], { acceptLossy });
  const ct = series.volume;
  const warnings = [...series.warnings];
  const file = readDicomFile(rtPath);
  if (file.sopClassUID === SOP_SEGMENTATION || file.modality === 'SEG') {
    const seg = parseDicomSeg(file.dataset, rtPath, file.transferSyntaxUID);
    if (seg.segmentationType === 'FRACTIONAL') warnings.push(`SEG: fractional segments thresholded at half their maximum (${seg.maxFractional})`);
    const names = segmentNames(seg);
    const structures = seg.segments.map((segment, i): LoadedStructure => {
      const name = names[i];
      const coded = segmentCodedName(segment);
      const codedName = coded !== undefined && coded !== name ? { codedName: coded } : {};
      if (!wanted(name) && !(coded && wanted(coded))) return { name, ...codedName };
      const s = segmentOnGrid(seg, segment.number, ct, series);
      const lost = [[s.offVolume, 'off every CT slice'], [s.offGrid, "not on the CT's in-plane axes (rotated or flipped)"], [s.unplaced, 'without a position or a source image of this CT']] as const;
      const problems = lost.filter(([n]) => n > 0).map(([n, why]) => `${n} of ${s.frames} frames ${why}`);
      if (s.outside > 0) problems.push(`${s.outside} pixels beside the CT's slices`);
      if (problems.length && s.voxels === 0) return { name, ...codedName, error: `nothing could be placed: ${problems.join('; ')}` };
      const notes = [
        ...(problems.length ? [`left out: ${problems.join('; ')}`] : s.frames === 0 ? ['no frames'] : []),
        ...(s.resampled ? [`${s.resampled} of ${s.frames} frames resampled to the CT's voxels by nearest neighbour (another pixel spacing or a fractional offset)`] : []),
      ];
      return { name, ...codedName, offsets: maskToOffsets(s.mask), ...(notes.length ? { note: notes.join('; ') } : {}) };
    });
    return { ct, structures, identityRemoved: series.patientIdentityRemoved === true, warnings };
  }
  const rt = parseRtStruct(file.dataset, rtPath);
  warnings.push(...rt.warnings.map((w) => `RTSTRUCT: ${w}`));
  const structures: LoadedStructure[] = [];
  for (const roi of rt.rois) {
    if (!wanted(roi.name)) { structures.push({ name: roi.name }); continue; }
    if (roi.contours.length === 0) { structures.push({ name: roi.name, offsets: new Int32Array(0), note: 'no contours' }); continue; }
    try {
      const { mask, stats } = rasteriseRoi(roi.contours, ct);
      const notes: string[] = [];
      if (stats.offVolume > 0) notes.push(`${stats.offVolume} contours off every slice`);
      if (stats.tooFewPoints > 0) notes.push(`${stats.tooFewPoints} contours with under 3 points`);
      for (const [type, n] of Object.entries(stats.skippedByType)) notes.push(`${n} ${type} contours skipped`);
      if (stats.notInSlicePlane > 0) notes.push(`${stats.notInSlicePlane} contours not in a slice plane`);
      structures.push({ name: roi.name, offsets: maskToOffsets(mask), ...(notes.length ? { note: notes.join('; ') } : {}) });
    } catch (e) {
      structures.push({ name: roi.name, error: `cannot rasterise: ${(e as Error).message}` });
    }
  }
  return { ct, structures, identityRemoved: series.patientIdentityRemoved === true, warnings };
}
