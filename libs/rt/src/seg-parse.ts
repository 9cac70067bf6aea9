/**
 * Naturalized DICOM SEG dataset (dcmjs) -> its segments, what it references, and each segment's voxels
 * on a CT grid. Frames are placed by their plane position (or, without one, by the CT slice they name as
 * source) on a CT slice's plane with the CT's in-plane axes; on the CT's grid (its spacing, offset by whole
 * voxels, as highdicom, dcmqi and our writer make them) pixel for voxel, else (a segmentation drawn on an
 * oversampled or shifted geometry, as 3D Slicer allows) resampled to the CT's voxels by nearest neighbour. Binary and fractional (thresholded at half) segmentations,
 * native, deflated or compressed a frame per fragment: RLE Lossless (a binary frame's bits packed from
 * its own first byte, as encapsulated 1-bit frames are), JPEG-LS Lossless and JPEG 2000 or HTJ2K (reversible; a
 * byte a pixel, binary ones too, as highdicom codes them); other compressions are refused with the
 * reason. Checks every declared size against the bytes present, or against a frame's own codestream
 * header, before allocating (ROBUSTNESS.md).
 */
import {
  datasetItems as items, datasetNumbers as numbers, datasetString as str, decodeJpeg2000Family, decodeJpegLs, decodeRle8, joinFragments,
  JPEG_2000_TRANSFER_SYNTAXES, MAX_VOLUME_BYTES, rleFrameCanHold, TS_DEFLATED_LE, TS_EXPLICIT_BE, TS_EXPLICIT_LE, TS_IMPLICIT_LE,
  TS_JPEG_LS_LOSSLESS, TS_RLE_LOSSLESS, VolumeIOError, type DatasetItem as Item, type Vec3,
} from '@anatomynet/data';
import { RtStructError } from './errors';
import { nearestSlice, sliceFrame, type SliceGeometry } from './geometry';
import { sliceLookup, type SliceImages } from './image-refs';
import { SEGMENTATION_STORAGE, type CodedConcept } from './seg';

// Pixel data as stored (dcmjs inflates a deflated file whole).
const NATIVE_TRANSFER_SYNTAXES = new Set([TS_IMPLICIT_LE, TS_EXPLICIT_LE, TS_EXPLICIT_BE, TS_DEFLATED_LE]);

/** One segment of a SEG. */
export interface SegSegment {
  number: number;
  /** SegmentLabel, trimmed ('' when absent). */
  label: string;
  type?: CodedConcept;
  typeModifier?: CodedConcept;
  category?: CodedConcept;
}

/** Where one frame lies and which segment it belongs to. */
export interface SegFrame {
  segment: number;
  /** ImagePositionPatient of the frame's first pixel (LPS mm), when given. */
  position?: Vec3;
  /** Row and column direction cosines, per frame or shared. */
  orientation?: number[];
  /** PixelSpacing [between rows, between columns] (mm), per frame or shared. */
  pixelSpacing?: [number, number];
  /** The image the frame was derived from, when named. */
  sourceSopInstanceUID?: string;
  /** Its frame, when the source image is multi-frame (Enhanced CT). */
  sourceFrameNumber?: number;
}

export interface ParsedSeg {
  path: string;
  segmentationType: 'BINARY' | 'FRACTIONAL';
  /** MaximumFractionalValue (FRACTIONAL only). */
  maxFractional: number;
  rows: number;
  columns: number;
  segments: SegSegment[];
  frames: SegFrame[];
  frameOfReferenceUID?: string;
  /** Series named by ReferencedSeriesSequence, sorted, unique. */
  referencedSeriesUIDs: string[];
  /** Instances named there and as each frame's source image, sorted, unique. */
  referencedSOPInstanceUIDs: string[];
  /** The pixel data, when the dataset holds it (a header-only read leaves it out). */
  pixels?: Uint8Array;
}

const coded = (it: Item | undefined): CodedConcept | undefined => {
  const value = str(it?.CodeValue), scheme = str(it?.CodingSchemeDesignator);
  return value && scheme ? { value, scheme, meaning: str(it?.CodeMeaning) ?? '' } : undefined;
};

function vec(v: unknown, n: number): number[] | undefined {
  const x = numbers(v);
  return x.length === n && x.every(Number.isFinite) ? x : undefined;
}

/**
 * Reads a SEG's segments, frames and references.
 * @param dataset a dcmjs naturalized dataset (`readDicomFile(path).dataset`, or a header-only read for
 *   discovery: then `pixels` is undefined).
 * @param transferSyntaxUID the file's, to decode compressed pixel data (RLE, JPEG-LS, JPEG 2000) or refuse
 *   what it cannot.
 * @param opts.maxBytes the most its decoded frames may take (default MAX_VOLUME_BYTES).
 * @throws RtStructError naming the file when it is not a Segmentation, lacks what places its frames,
 *   declares more frames or pixels than it holds, or more than `maxBytes` once decoded.
 */
export function parseDicomSeg(dataset: Record<string, unknown>, path: string, transferSyntaxUID?: string, opts: { maxBytes?: number } = {}): ParsedSeg {
  const sopClass = str(dataset.SOPClassUID), modality = str(dataset.Modality);
  if (sopClass !== SEGMENTATION_STORAGE && modality !== 'SEG') throw new RtStructError(path, `not a DICOM Segmentation (SOPClassUID ${sopClass ?? 'missing'}, Modality ${modality ?? 'missing'})`);
  const type = str(dataset.SegmentationType);
  if (type !== 'BINARY' && type !== 'FRACTIONAL') throw new RtStructError(path, `SegmentationType ${type ?? 'missing'}; BINARY or FRACTIONAL expected`);
  const rows = numbers(dataset.Rows)[0], columns = numbers(dataset.Columns)[0];
  const nFrames = numbers(dataset.NumberOfFrames)[0] ?? 1;
  if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(columns) && columns > 0)) throw new RtStructError(path, `Rows ${rows} and Columns ${columns} must be positive integers`);
  if (!(Number.isInteger(nFrames) && nFrames > 0)) throw new RtStructError(path, `NumberOfFrames ${nFrames} is not a positive integer`);
  const bits = numbers(dataset.BitsAllocated)[0];
  if (bits !== (type === 'BINARY' ? 1 : 8)) throw new RtStructError(path, `BitsAllocated ${bits} for a ${type} segmentation (${type === 'BINARY' ? 1 : 8} expected)`);
  const segments: SegSegment[] = [];
  for (const [index, it] of items(dataset.SegmentSequence).entries()) {
    const number = numbers(it.SegmentNumber)[0];
    if (!Number.isInteger(number)) throw new RtStructError(path, `SegmentSequence item ${index + 1} has no integer SegmentNumber`);
    if (segments.some((s) => s.number === number)) throw new RtStructError(path, `SegmentNumber ${number} is used twice`);
    const typeItem = items(it.SegmentedPropertyTypeCodeSequence)[0];
    const segment: SegSegment = { number, label: str(it.SegmentLabel) ?? '' };
    const t = coded(typeItem), m = coded(items(typeItem?.SegmentedPropertyTypeModifierCodeSequence)[0]), c = coded(items(it.SegmentedPropertyCategoryCodeSequence)[0]);
    if (t) segment.type = t;
    if (m) segment.typeModifier = m;
    if (c) segment.category = c;
    segments.push(segment);
  }
  if (segments.length === 0) throw new RtStructError(path, 'SegmentSequence is missing or empty');

  const shared = items(dataset.SharedFunctionalGroupsSequence)[0] ?? {};
  const perFrame = items(dataset.PerFrameFunctionalGroupsSequence);
  if (perFrame.length !== nFrames) throw new RtStructError(path, `PerFrameFunctionalGroupsSequence has ${perFrame.length} items for ${nFrames} frames`);
  const orientationOf = (g: Item) => vec(items(g.PlaneOrientationSequence)[0]?.ImageOrientationPatient, 6);
  const spacingOf = (g: Item) => vec(items(g.PixelMeasuresSequence)[0]?.PixelSpacing, 2) as [number, number] | undefined;
  const segmentOf = (g: Item) => numbers(items(g.SegmentIdentificationSequence)[0]?.ReferencedSegmentNumber)[0];
  const sharedOrientation = orientationOf(shared), sharedSpacing = spacingOf(shared), sharedSegment = segmentOf(shared);
  const sops = new Set<string>(), series = new Set<string>();
  const frames: SegFrame[] = perFrame.map((g, f) => {
    const segment = segmentOf(g) ?? sharedSegment;
    if (segment === undefined || !segments.some((s) => s.number === segment)) throw new RtStructError(path, `frame ${f + 1} names segment ${segment ?? '(none)'}, which SegmentSequence does not hold`);
    const frame: SegFrame = { segment };
    const position = vec(items(g.PlanePositionSequence)[0]?.ImagePositionPatient, 3);
    if (position) frame.position = position as Vec3;
    const orientation = orientationOf(g) ?? sharedOrientation, spacing = spacingOf(g) ?? sharedSpacing;
    if (orientation) frame.orientation = orientation;
    if (spacing) frame.pixelSpacing = spacing;
    const source = items(items(g.DerivationImageSequence)[0]?.SourceImageSequence)[0];
    const sop = str(source?.ReferencedSOPInstanceUID);
    if (sop) {
      frame.sourceSopInstanceUID = sop;
      sops.add(sop);
      const sourceFrame = numbers(source?.ReferencedFrameNumber)[0];
      if (Number.isInteger(sourceFrame)) frame.sourceFrameNumber = sourceFrame;
    }
    return frame;
  });
  for (const se of items(dataset.ReferencedSeriesSequence)) {
    const uid = str(se.SeriesInstanceUID);
    if (uid) series.add(uid);
    for (const im of items(se.ReferencedInstanceSequence)) {
      const sop = str(im.ReferencedSOPInstanceUID);
      if (sop) sops.add(sop);
    }
  }

  const parsed: ParsedSeg = {
    path,
    segmentationType: type,
    maxFractional: type === 'FRACTIONAL' ? numbers(dataset.MaximumFractionalValue)[0] ?? 255 : 1,
    rows,
    columns,
    segments,
    frames,
    referencedSeriesUIDs: [...series].sort(),
    referencedSOPInstanceUIDs: [...sops].sort(),
  };
  const frameOfReference = str(dataset.FrameOfReferenceUID);
  if (frameOfReference) parsed.frameOfReferenceUID = frameOfReference;
  if (type === 'FRACTIONAL' && !(parsed.maxFractional > 0)) throw new RtStructError(path, `MaximumFractionalValue ${parsed.maxFractional} must be positive`);

  const pd = dataset.PixelData;
  if (pd !== undefined) {
    const parts = (Array.isArray(pd) ? pd : [pd]).filter((p): p is ArrayBuffer => p instanceof ArrayBuffer);
    const what = `${nFrames} frames of ${rows}x${columns} ${type === 'BINARY' ? 'bits' : 'bytes'}`;
    if (transferSyntaxUID && FRAME_DECODERS.has(transferSyntaxUID)) {
      parsed.pixels = decodeFrames(path, transferSyntaxUID, parts, nFrames, type === 'BINARY', rows, columns, what, opts.maxBytes ?? MAX_VOLUME_BYTES);
    } else if (transferSyntaxUID && !NATIVE_TRANSFER_SYNTAXES.has(transferSyntaxUID)) {
      throw new RtStructError(path, `pixel data in compressed transfer syntax ${transferSyntaxUID}, which this reader does not decode (it reads native, deflated, RLE Lossless, JPEG-LS Lossless, JPEG 2000 and HTJ2K); store it uncompressed first (gdcmconv --raw)`);
    } else {
      const bytes = joinFragments(parts);
      const need = type === 'BINARY' ? Math.ceil((nFrames * rows * columns) / 8) : nFrames * rows * columns;
      if (bytes.length < need) throw new RtStructError(path, `PixelData holds ${bytes.length} bytes; ${what} need ${need}`);
      parsed.pixels = bytes;
    }
  }
  return parsed;
}

/** How each compressed frame is decoded: to packed bits (RLE's 1-bit frames) or to a byte a pixel. */
type FrameDecoder = (path: string, frame: Uint8Array, rows: number, columns: number, binary: boolean) => { bits: boolean; data: Uint8Array };
const FRAME_DECODERS = new Map<string, FrameDecoder>([
  [TS_RLE_LOSSLESS, (path, frame, rows, columns, binary) => {
    const bytes = binary ? Math.ceil((rows * columns) / 8) : rows * columns;
    const data = new Uint8Array(bytes);
    decodeRle8(path, frame, bytes, data);
    return { bits: binary, data };
  }],
  [TS_JPEG_LS_LOSSLESS, (path, frame, rows, columns) => ({ bits: false, data: decodeJpegLs(path, frame, rows, columns, 1) })],
  ...[...JPEG_2000_TRANSFER_SYNTAXES].map((ts): [string, FrameDecoder] => [ts, (path, frame, rows, columns) => ({ bits: false, data: decodeJpeg2000Family(path, ts, frame, rows, columns, 1) })]),
]);

/**
 * Compressed frames (one fragment each) -> the native layout: a byte a pixel, or for a binary SEG bits
 * packed across frames (a frame decoded to bytes is packed, any non-zero byte a set bit; RLE's own packed
 * frames are shifted into place when their pixel count is no multiple of 8).
 */
function decodeFrames(path: string, ts: string, frames: ArrayBuffer[], nFrames: number, binary: boolean, rows: number, columns: number, what: string, maxBytes: number): Uint8Array {
  if (frames.length !== nFrames) {
    throw new RtStructError(path, `compressed pixel data holds ${frames.length} fragments for ${what}; each frame must be in exactly one (RLE Lossless requires it; for JPEG, a basic offset table groups them)`);
  }
  const pixelsPerFrame = rows * columns;
  if (ts === TS_RLE_LOSSLESS) {
    // Every frame's size is checked before the whole is allocated (a small file declaring a huge image).
    const frameBytes = binary ? Math.ceil(pixelsPerFrame / 8) : pixelsPerFrame;
    const short = frames.findIndex((f) => !rleFrameCanHold(f.byteLength, frameBytes));
    if (short >= 0) throw new RtStructError(path, `RLE frame ${short + 1} of ${frames[short].byteLength} bytes cannot hold ${frameBytes} bytes (${what})`);
  }
  const decode = FRAME_DECODERS.get(ts)!;
  // Allocated once the first frame has decoded: a JPEG frame's own header has then vouched for Rows and
  // Columns (JPEG-LS and JPEG 2000 have no bound on their compression to check sizes by).
  let out: Uint8Array | undefined;
  frames.forEach((f, index) => {
    let frame: { bits: boolean; data: Uint8Array };
    try {
      frame = decode(path, new Uint8Array(f), rows, columns, binary);
    } catch (e) {
      if (e instanceof VolumeIOError) throw new RtStructError(path, `frame ${index + 1}: ${e.reason}`);
      throw e;
    }
    if (!out) {
      // highly compressible frames (JPEG-LS, JPEG 2000) can declare far more than the file holds
      const bytes = binary ? Math.ceil((nFrames * pixelsPerFrame) / 8) : nFrames * pixelsPerFrame;
      if (bytes > maxBytes) throw new RtStructError(path, `${what} decode to ${bytes} bytes, over the ${maxBytes}-byte limit`);
      out = new Uint8Array(bytes);
    }
    if (!binary) return void out.set(frame.data, index * pixelsPerFrame);
    const bit0 = index * pixelsPerFrame;
    if (frame.bits && bit0 % 8 === 0) return void out.set(frame.data.subarray(0, Math.ceil(pixelsPerFrame / 8)), bit0 / 8);
    const { data } = frame;
    for (let p = 0; p < pixelsPerFrame; p++) {
      const set = frame.bits ? (data[p >> 3] >> (p & 7)) & 1 : data[p] !== 0;
      if (set) out[(bit0 + p) >> 3] |= 1 << ((bit0 + p) & 7);
    }
  });
  return out!;
}

/** One segment's mask on the CT grid and what could not be placed. */
export interface SegOnGrid {
  segment: SegSegment;
  mask: Uint8Array;
  voxels: number;
  frames: number;
  /** Frames whose plane is no CT slice (off the volume). */
  offVolume: number;
  /** Frames whose in-plane axes are not the CT's (rotated, or flipped): not placed. */
  offGrid: number;
  /** Frames on the CT's axes with another pixel spacing or a fractional offset: resampled by nearest neighbour. */
  resampled: number;
  /** Frames with neither a plane position nor a source image on this CT. */
  unplaced: number;
  /** Pixels set in placed frames that fall beside the CT's slice (a frame larger than the CT's). */
  outside: number;
}

/**
 * One segment's voxels on a CT grid. A mask a call, so a SEG of many segments (an atlas of a hundred
 * structures) costs one CT-sized mask at a time, not one per segment.
 * @param number the SegmentNumber.
 * @param images the CT slices' images (slice k's SOP instance UID at k, and its frame for multi-frame
 *   images), to place frames that carry only a source image.
 * @throws RtStructError when the SEG was read without its pixel data or holds no such segment.
 */
export function segmentOnGrid(seg: ParsedSeg, number: number, grid: SliceGeometry, images?: SliceImages): SegOnGrid {
  if (!seg.pixels) throw new RtStructError(seg.path, 'read without its pixel data');
  const segment = seg.segments.find((s) => s.number === number);
  if (!segment) throw new RtStructError(seg.path, `no segment ${number}`);
  const f = sliceFrame(grid);
  const perSlice = f.nx * f.ny, frameSize = seg.rows * seg.columns;
  const sliceOf = sliceLookup(images ?? { sopInstanceUIDs: [] });
  const o: SegOnGrid = { segment, mask: new Uint8Array(perSlice * f.nz), voxels: 0, frames: 0, offVolume: 0, offGrid: 0, resampled: 0, unplaced: 0, outside: 0 };
  const binary = seg.segmentationType === 'BINARY';
  const threshold = binary ? 1 : seg.maxFractional / 2;
  const pixels = seg.pixels;
  const dot = (a: readonly number[], b: readonly number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const near = (x: number) => Math.abs(x - Math.round(x)) < 0.01;
  seg.frames.forEach((fr, index) => {
    if (fr.segment !== number) return;
    o.frames++;
    // Which slice, and where the frame's first pixel falls on it.
    let k: number, di = 0, dj = 0;
    if (fr.position) {
      const rel = [0, 1, 2].map((a) => fr.position![a] - f.origin[a]);
      k = nearestSlice(f, dot(fr.position, f.n), grid.spacing[2] || 1);
      if (k < 0) return void o.offVolume++;
      di = dot(rel, f.u) / f.spacingI;
      dj = dot(rel, f.v) / f.spacingJ;
    } else {
      const fromSource = fr.sourceSopInstanceUID === undefined ? undefined : sliceOf.slice(fr.sourceSopInstanceUID, fr.sourceFrameNumber);
      if (fromSource === undefined) return void o.unplaced++;
      k = fromSource;
    }
    const axesMatch = !fr.orientation || (dot(fr.orientation.slice(0, 3), f.u) > 1 - 1e-4 && dot(fr.orientation.slice(3, 6), f.v) > 1 - 1e-4);
    const spacingMatch = !fr.pixelSpacing || (Math.abs(fr.pixelSpacing[1] - f.spacingI) <= 1e-3 * f.spacingI && Math.abs(fr.pixelSpacing[0] - f.spacingJ) <= 1e-3 * f.spacingJ);
    if (!axesMatch) return void o.offGrid++;
    const base = index * frameSize;
    const at = (p: number) => (binary ? (pixels[p >> 3] >> (p & 7)) & 1 : pixels[p]);
    const set = (v: number) => {
      if (!o.mask[v]) {
        o.mask[v] = 1;
        o.voxels++;
      }
    };
    if (!spacingMatch || !near(di) || !near(dj)) {
      // Each CT voxel of the slice takes the frame pixel nearest its centre: frame pixel (c, r) is centred
      // at CT voxel (di + c * sc, dj + r * sr).
      const sc = (fr.pixelSpacing?.[1] ?? f.spacingI) / f.spacingI, sr = (fr.pixelSpacing?.[0] ?? f.spacingJ) / f.spacingJ;
      if (!(sc > 0 && sr > 0)) return void o.offGrid++;
      o.resampled++;
      const iFrom = Math.max(0, Math.ceil(di - sc / 2)), iTo = Math.min(f.nx - 1, Math.floor(di + (seg.columns - 0.5) * sc));
      const jFrom = Math.max(0, Math.ceil(dj - sr / 2)), jTo = Math.min(f.ny - 1, Math.floor(dj + (seg.rows - 0.5) * sr));
      for (let j = jFrom; j <= jTo; j++) {
        const r = Math.round((j - dj) / sr);
        if (r < 0 || r >= seg.rows) continue;
        for (let i = iFrom; i <= iTo; i++) {
          const c = Math.round((i - di) / sc);
          if (c >= 0 && c < seg.columns && at(base + r * seg.columns + c) >= threshold) set(k * perSlice + j * f.nx + i);
        }
      }
      return;
    }
    const i0 = Math.round(di), j0 = Math.round(dj);
    for (let r = 0; r < seg.rows; r++) {
      const j = j0 + r;
      for (let c = 0; c < seg.columns; c++) {
        const p = base + r * seg.columns + c;
        // a zero byte of a binary frame is eight pixels outside
        if (binary && (p & 7) === 0 && pixels[p >> 3] === 0 && c + 8 <= seg.columns) { c += 7; continue; }
        if (at(p) < threshold) continue;
        const i = i0 + c;
        if (i < 0 || i >= f.nx || j < 0 || j >= f.ny) {
          o.outside++;
          continue;
        }
        set(k * perSlice + j * f.nx + i);
      }
    }
  });
  return o;
}

/** Every segment's voxels on a CT grid (see segmentOnGrid), in SegmentSequence order. */
export function segmentsOnGrid(seg: ParsedSeg, grid: SliceGeometry, images?: SliceImages): SegOnGrid[] {
  return seg.segments.map((s) => segmentOnGrid(seg, s.number, grid, images));
}
