/**
 * CT image series <-> Volume<Int16Array> (HU). Reading sorts slices by position along the slice
 * normal and checks the series is one regular block; writing produces CT Image Storage files.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { VolumeIOError } from './errors';
import { MAX_VOLUME_BYTES } from './fileio';
import { cross, dot, formatDS, fromColumns, median, norm } from './geometry';
import {
  DEFAULT_UID_ROOT,
  isLocalizer,
  isValidUid,
  parseDicomBuffer,
  SOP_CT_IMAGE,
  TS_DEFLATED_LE,
  TS_EXPLICIT_BE,
  TS_EXPLICIT_LE,
  TS_IMPLICIT_LE,
  uidFromSeed,
  writeDicomFile,
  type DicomFile,
} from './dicom';
import {
  decodeJpeg2000Family, decodeJpegLossless16, decodeJpegLs, decodeRle16, DECODABLE_TRANSFER_SYNTAXES, JPEG_2000_TRANSFER_SYNTAXES, joinFragments, LOSSY_TRANSFER_SYNTAXES, MAYBE_LOSSY_TRANSFER_SYNTAXES,
  TS_JPEG_LS_LOSSLESS, TS_JPEG_LS_NEAR_LOSSLESS, TS_RLE_LOSSLESS, type LossyFrames,
} from './pixel-codecs';
import { hasFunctionalGroups, imagePlanes } from './image-planes';
import { shiftSlice } from './slice-shift';
import { voxelCount, type Vec3, type Volume } from './volume';

export interface CtSeries {
  /** HU, shape [columns, rows, slices]; k increases along the slice normal (row x column cosines). */
  volume: Volume<Int16Array>;
  seriesInstanceUID: string;
  studyInstanceUID: string;
  frameOfReferenceUID: string;
  /** SOP class of the images: CT Image Storage, or Enhanced / Legacy Converted Enhanced CT. */
  sopClassUID: string;
  /** SOPInstanceUID of slice k (a multi-frame image's for each of its frames). */
  sopInstanceUIDs: string[];
  /** For multi-frame (Enhanced CT) images: slice k's 1-based frame number in its image. */
  frameNumbers?: number[];
  /** Path of slice k. */
  files: string[];
  patientPosition?: string;
  patientIdentityRemoved?: boolean;
  /** Things a person should know (clamped HU, uneven spacing, sheared stacks); the volume is usable. */
  warnings: string[];
}

const TRANSFER_SYNTAX_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian (retired)',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (lossy 8-bit)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (lossy 12-bit)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, First-Order Prediction',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.202': 'HTJ2K Lossless RPCL',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
};
/** Native (uncompressed) syntaxes; big endian's 16-bit samples are swapped on reading. */
const SUPPORTED_TS = new Set([TS_IMPLICIT_LE, TS_EXPLICIT_LE, TS_DEFLATED_LE, TS_EXPLICIT_BE]);

/** Per-slice facts gathered before assembling the volume. */
interface Slice {
  file: DicomFile;
  /** 1-based frame of a multi-frame (functional groups) image. */
  frame?: number;
  ipp: Vec3;
  position: number;
  /** The frame's stored 16-bit little-endian values. */
  pixels: Uint8Array;
  signed: boolean;
  bitsStored: number;
  slope: number;
  intercept: number;
  temporalPosition?: number;
}

/** "path" or "path frame N", for messages. */
function sliceName(s: Pick<Slice, 'file' | 'frame'>): string {
  return s.frame === undefined ? s.file.path : `${s.file.path} frame ${s.frame}`;
}

function num(f: DicomFile, key: string, required = true): number | undefined {
  const v = f.dataset[key];
  const n = Array.isArray(v) ? Number(v[0]) : v === null || v === undefined || v === '' ? NaN : Number(v);
  if (!Number.isFinite(n)) {
    if (required) throw new VolumeIOError(f.path, 'MISSING_TAG', `${key} is missing or not a number`);
    return undefined;
  }
  return n;
}

function checkTransferSyntax(f: DicomFile, lossy: LossyFrames | undefined): void {
  if (SUPPORTED_TS.has(f.transferSyntaxUID) || DECODABLE_TRANSFER_SYNTAXES.has(f.transferSyntaxUID)) return;
  const lossyByName = LOSSY_TRANSFER_SYNTAXES.has(f.transferSyntaxUID);
  if (lossyByName && lossy) return;
  const name = TRANSFER_SYNTAX_NAMES[f.transferSyntaxUID] ?? 'unknown';
  if (lossyByName) {
    throw new VolumeIOError(f.path, 'UNSUPPORTED_TRANSFER_SYNTAX', `transfer syntax ${f.transferSyntaxUID} (${name}) is lossy: its CT numbers differ from the scan's by up to its NEAR; export it lossless, or accept lossy images (--accept-lossy)`);
  }
  throw new VolumeIOError(
    f.path,
    'UNSUPPORTED_TRANSFER_SYNTAX',
    `transfer syntax ${f.transferSyntaxUID} (${name}) is not supported; implicit/explicit VR little endian, explicit VR big endian, deflated, RLE Lossless, JPEG Lossless, JPEG-LS Lossless and reversible JPEG 2000 and HTJ2K are. Decompress first, e.g. 'gdcmconv --raw'`,
  );
}

/**
 * Each frame's native 16-bit little-endian pixel bytes (decoded when the transfer syntax is compressed).
 * A multi-frame image's compressed frames must each be one fragment, or be grouped by a basic offset table.
 */
function pixelFrames(f: DicomFile, rows: number, columns: number, frames: number, lossy: LossyFrames | undefined): Uint8Array[] {
  const pd = f.dataset.PixelData;
  const parts: unknown[] = Array.isArray(pd) ? pd : [pd];
  if (!parts.length || !parts.every((p) => p instanceof ArrayBuffer)) throw new VolumeIOError(f.path, 'MISSING_TAG', 'no PixelData (7FE0,0010)');
  const buffers = parts as ArrayBuffer[];
  const frameBytes = rows * columns * 2;
  const what = frames === 1 ? `${columns}x${rows}x16 bits needs` : `${frames} frames of ${columns}x${rows}x16 bits need`;
  if (!DECODABLE_TRANSFER_SYNTAXES.has(f.transferSyntaxUID) && !LOSSY_TRANSFER_SYNTAXES.has(f.transferSyntaxUID)) {
    if (buffers.length > 1) throw new VolumeIOError(f.path, 'BAD_HEADER', 'fragmented pixel data in a native transfer syntax');
    const all = buffers[0];
    if (all.byteLength < frames * frameBytes) throw new VolumeIOError(f.path, 'TRUNCATED', `PixelData holds ${all.byteLength} bytes, ${what} ${frames * frameBytes}`);
    return Array.from({ length: frames }, (_, i) => {
      const frame = new Uint8Array(all, i * frameBytes, frameBytes);
      return f.transferSyntaxUID === TS_EXPLICIT_BE ? swapBytes16(frame) : frame;
    });
  }
  if (frames > 1 && buffers.length !== frames) {
    throw new VolumeIOError(f.path, 'BAD_HEADER', `compressed pixel data holds ${buffers.length} fragments for ${frames} frames; each frame must be one fragment, or a basic offset table must group them`);
  }
  const codestreams = frames === 1 ? [joinFragments(buffers)] : buffers.map((b) => new Uint8Array(b));
  const ts = f.transferSyntaxUID;
  return codestreams.map((frame, i) => {
    let bytes: Uint8Array;
    // a frame is counted once, by the first reason it is lossy
    let why: string | undefined;
    const thisFrame: LossyFrames | undefined = lossy && { accept: (w) => void (why ??= w) };
    try {
      bytes =
        ts === TS_RLE_LOSSLESS ? decodeRle16(f.path, frame, rows * columns)
        : ts === TS_JPEG_LS_LOSSLESS || ts === TS_JPEG_LS_NEAR_LOSSLESS ? decodeJpegLs(f.path, frame, rows, columns, 2, thisFrame)
        : JPEG_2000_TRANSFER_SYNTAXES.has(ts) ? decodeJpeg2000Family(f.path, ts, lossless(f, frame, thisFrame), rows, columns, 2, thisFrame)
        : decodeJpegLossless16(f.path, frame, rows, columns);
      if (why) lossy!.accept(why);
    } catch (e) {
      if (frames === 1 || !(e instanceof VolumeIOError)) throw e;
      throw new VolumeIOError(f.path, e.code, `frame ${i + 1}: ${e.reason}`, { cause: e });
    }
    if (bytes.byteLength < frameBytes) {
      throw new VolumeIOError(f.path, 'TRUNCATED', `${frames === 1 ? '' : `frame ${i + 1}: `}PixelData holds ${bytes.byteLength} bytes, ${columns}x${rows}x16 bits needs ${frameBytes}`);
    }
    return bytes;
  });
}

/** A copy of 16-bit big-endian samples, little-endian. */
function swapBytes16(be: Uint8Array): Uint8Array {
  const out = new Uint8Array(be.length);
  for (let i = 0; i + 1 < be.length; i += 2) {
    out[i] = be[i + 1];
    out[i + 1] = be[i];
  }
  return out;
}

/**
 * The frame, when nothing says it was coded lossy: the general JPEG 2000 and HTJ2K transfer syntaxes (4.91,
 * 4.203) allow a reversible wavelet truncated to a rate, which only the image's LossyImageCompression flag tells.
 */
function lossless(f: DicomFile, frame: Uint8Array, lossy: LossyFrames | undefined): Uint8Array {
  if (MAYBE_LOSSY_TRANSFER_SYNTAXES.has(f.transferSyntaxUID) && flaggedLossy(f)) {
    const name = TRANSFER_SYNTAX_NAMES[f.transferSyntaxUID];
    if (lossy) lossy.accept(`${name} with LossyImageCompression 01`);
    else throw new VolumeIOError(f.path, 'UNSUPPORTED_ENCODING', `${name} image compressed lossy (LossyImageCompression 01): its CT numbers differ from the scan's; export it lossless, or accept lossy images (--accept-lossy)`);
  }
  return frame;
}

/** The image says it has been compressed lossy, now or before it was stored as it is. */
function flaggedLossy(f: DicomFile): boolean {
  return String(f.dataset.LossyImageCompression ?? '').trim() === '01';
}

function pos(p: number): string {
  return `${+p.toFixed(3)}`;
}

/** Single-frame CT images or functional-group (Enhanced CT) images; a series holds one kind. */
function imageKind(f: DicomFile): string {
  return hasFunctionalGroups(f) ? 'multi-frame (Enhanced CT)' : 'single-frame CT';
}

/** What a series of images that cannot be one stack usually is, and what to do. */
const SEVERAL_STACKS = ' (several reconstructions or acquisitions in one series? export the axial stack to segment as its own series)';

/**
 * Reads a CT series into HU: single-frame CT images, or Enhanced / Legacy Converted Enhanced CT images
 * (one or several multi-frame files, each frame a slice). Slices are ordered by ImagePositionPatient
 * projected on the ImageOrientationPatient normal (never by file name, InstanceNumber or frame order).
 * RescaleSlope/Intercept (a frame's own for multi-frame images) are applied and rounded; values outside
 * int16 are clamped with a warning. `spacing[2]` is the median step, `slicePositionsMm` the real
 * positions; where steps vary (`sliceSpacingUniform` false) the slices stay as acquired, the contours and
 * SEG frames drawn on them, and callers put the stack on a uniform grid with `evenSlices`. `onProgress(done, total)` is called before each file.
 *
 * Throws VolumeIOError: NO_FILES, NOT_DICOM, NOT_CT (Modality other than CT), TRUNCATED (file or pixel data short), MISSING_TAG,
 * UNSUPPORTED_TRANSFER_SYNTAX (other than native little or big endian, deflated, RLE, JPEG Lossless, JPEG-LS Lossless, JPEG 2000 and HTJ2K), UNSUPPORTED_ENCODING (lossy JPEG-LS, JPEG 2000 or HTJ2K;
 * with `acceptLossy` these are decoded, near-lossless JPEG-LS's own syntax too, with a warning; lossy JPEG never),
 * UNSUPPORTED_DATATYPE (not 16-bit, colour, several temporal positions, multi-frame without functional groups), MIXED_SERIES,
 * MIXED_ORIENTATION, MIXED_SIZE, DUPLICATE_SLICE, MISSING_SLICE (a step > 1.5x the steps on both sides of it, or > 3x the median), BAD_HEADER.
 * Localizer (scout) images among the files are left out with a warning; only localizers is UNSUPPORTED_DATATYPE.
 */
export function readCtSeries(files: string[], opts: { onProgress?: (done: number, total: number) => void; acceptLossy?: boolean } = {}): CtSeries {
  if (files.length === 0) throw new VolumeIOError('(no files)', 'NO_FILES', 'readCtSeries needs at least one file');
  const warnings: string[] = [];
  // lossy frames decoded (as asked), by why they are lossy; native images flagged as once compressed lossy
  const lossyWhy = new Map<string, number>();
  const lossy: LossyFrames | undefined = opts.acceptLossy ? { accept: (why) => void lossyWhy.set(why, (lossyWhy.get(why) ?? 0) + 1) } : undefined;
  let onceLossy = 0;
  let first: DicomFile | undefined;
  let rows = 0, cols = 0, rowCos: Vec3 = [1, 0, 0], colCos: Vec3 = [0, 1, 0], normal: Vec3 = [0, 0, 1], ps: number[] = [1, 1];
  let thickness: number | undefined;
  const slices: Slice[] = [];
  const localizers: string[] = [];
  for (const [done, path] of files.entries()) {
    opts.onProgress?.(done, files.length);
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      throw new VolumeIOError(path, 'IO', `cannot read: ${(e as Error).message}`, { cause: e });
    }
    const f = parseDicomBuffer(path, buf);
    if (f.modality !== undefined && f.modality.trim() !== 'CT') throw new VolumeIOError(path, 'NOT_CT', `Modality is '${f.modality}', not CT`);
    if (isLocalizer(f)) {
      localizers.push(path);
      continue;
    }
    checkTransferSyntax(f, lossy);
    const r = num(f, 'Rows')!, c = num(f, 'Columns')!;
    if (!(Number.isInteger(r) && Number.isInteger(c) && r >= 1 && c >= 1)) throw new VolumeIOError(path, 'BAD_HEADER', `Rows ${r} / Columns ${c} must be positive integers`);
    if ((num(f, 'SamplesPerPixel', false) ?? 1) !== 1) throw new VolumeIOError(path, 'UNSUPPORTED_DATATYPE', 'only one sample per pixel (greyscale) is supported');
    const bitsAllocated = num(f, 'BitsAllocated')!;
    if (bitsAllocated !== 16) throw new VolumeIOError(path, 'UNSUPPORTED_DATATYPE', `BitsAllocated ${bitsAllocated}; only 16 is supported`);
    const planes = imagePlanes(f);
    if (!first) {
      first = f;
      rows = r; cols = c; ps = planes[0].pixelSpacing; thickness = planes[0].sliceThickness;
      const iop = planes[0].orientation;
      rowCos = iop.slice(0, 3) as Vec3;
      colCos = iop.slice(3, 6) as Vec3;
      const n = cross(rowCos, colCos);
      const len = norm(n);
      if (!(len > 0.9 && len < 1.1) || Math.abs(dot(rowCos, colCos)) > 1e-3) {
        throw new VolumeIOError(path, 'BAD_GEOMETRY', `ImageOrientationPatient ${iop.join('\\')} is not two orthogonal unit vectors`);
      }
      normal = [n[0] / len, n[1] / len, n[2] / len];
    } else {
      if (f.dataset.SeriesInstanceUID !== first.dataset.SeriesInstanceUID) {
        throw new VolumeIOError(path, 'MIXED_SERIES', `SeriesInstanceUID ${f.dataset.SeriesInstanceUID} differs from ${first.dataset.SeriesInstanceUID} (${first.path})`);
      }
      if (imageKind(f) !== imageKind(first)) throw new VolumeIOError(path, 'MIXED_SERIES', `a ${imageKind(f)} image in a series of ${imageKind(first)} images (${first.path})`);
      if (r !== rows || c !== cols) throw new VolumeIOError(path, 'MIXED_SIZE', `${c}x${r} pixels, ${first.path} has ${cols}x${rows}${SEVERAL_STACKS}`);
    }
    const ref = [...rowCos, ...colCos];
    for (const p of planes) {
      const where = p.frame === undefined ? '' : `frame ${p.frame}: `;
      if (p.orientation.some((v, i) => Math.abs(v - ref[i]) > 1e-4)) {
        throw new VolumeIOError(path, 'MIXED_ORIENTATION', `${where}ImageOrientationPatient ${p.orientation.join('\\')} differs from ${ref.join('\\')} in ${first.path}${SEVERAL_STACKS}`);
      }
      if (Math.abs(p.pixelSpacing[0] - ps[0]) > 1e-4 || Math.abs(p.pixelSpacing[1] - ps[1]) > 1e-4) {
        throw new VolumeIOError(path, 'MIXED_SIZE', `${where}PixelSpacing ${p.pixelSpacing.join('\\')} differs from ${ps.join('\\')} in ${first.path}${SEVERAL_STACKS}`);
      }
    }
    // Every file still to read holds at least one slice.
    const slicesAtLeast = slices.length + planes.length + files.length - done - 1;
    if (r * c * 2 * slicesAtLeast > MAX_VOLUME_BYTES) {
      throw new VolumeIOError(path, 'TOO_LARGE', `${c}x${r} pixels x ${slicesAtLeast} slices exceeds the ${MAX_VOLUME_BYTES}-byte volume limit`);
    }
    const frames = pixelFrames(f, r, c, planes.length, lossy);
    if (SUPPORTED_TS.has(f.transferSyntaxUID) && flaggedLossy(f)) onceLossy += planes.length;
    const signed = (num(f, 'PixelRepresentation', false) ?? 0) === 1;
    const bitsStored = num(f, 'BitsStored', false) ?? 16;
    planes.forEach((p, i) => {
      slices.push({
        file: f,
        ...(p.frame === undefined ? {} : { frame: p.frame }),
        ipp: p.position,
        position: dot(p.position, normal),
        pixels: frames[i],
        signed,
        bitsStored,
        slope: p.rescaleSlope,
        intercept: p.rescaleIntercept,
        ...(p.temporalPosition === undefined ? {} : { temporalPosition: p.temporalPosition }),
      });
    });
  }
  if (!first) throw new VolumeIOError(localizers[0], 'UNSUPPORTED_DATATYPE', `only localizer (scout) images (${localizers.length}): no cross-sectional slices to read`);
  if (lossyWhy.size) {
    const n = [...lossyWhy.values()].reduce((a, b) => a + b, 0);
    warnings.push(`${n} slice${n === 1 ? '' : 's'} compressed lossy, read as accepted (${[...lossyWhy].map(([why, k]) => `${why}: ${k}`).join('; ')}): their CT numbers differ from the scan's`);
  }
  if (onceLossy) warnings.push(`${onceLossy} slice${onceLossy === 1 ? ' says it was' : 's say they were'} compressed lossy before (LossyImageCompression 01): their CT numbers may differ from the scan's`);
  if (localizers.length) {
    const shown = localizers.slice(0, 3).map((p) => basename(p)).join(', ') + (localizers.length > 3 ? ', ...' : '');
    warnings.push(`${localizers.length} localizer (scout) image${localizers.length === 1 ? '' : 's'} left out (${shown}): projections, not slices`);
  }
  const phases = new Set(slices.map((s) => s.temporalPosition).filter((t) => t !== undefined));
  if (phases.size > 1) {
    throw new VolumeIOError(first!.path, 'UNSUPPORTED_DATATYPE', `${phases.size} temporal positions of the same slices (a 4D CT); export one phase, or the average, as its own series`);
  }
  slices.sort((a, b) => a.position - b.position);
  dropCopies(slices, warnings);

  // Slice spacing: duplicates, gaps, uniformity.
  const positions = slices.map((s) => s.position);
  const steps = positions.slice(1).map((p, k) => p - positions[k]);
  for (let k = 0; k < steps.length; k++) {
    if (steps[k] < 1e-3) {
      const [a, b] = [slices[k], slices[k + 1]];
      throw new VolumeIOError(b.file.path, 'DUPLICATE_SLICE', `${b.frame === undefined ? '' : `frame ${b.frame}: `}same position ${pos(positions[k])} mm as ${sliceName(a)}${SEVERAL_STACKS}`);
    }
  }
  const step = steps.length ? median(steps) : thickness || num(first!, 'SliceThickness', false) || num(first!, 'SpacingBetweenSlices', false) || 1;
  // A slice missing leaves a gap among steps it is 1.5x larger than (on both sides); a protocol whose
  // increment changes (2.5 mm, then 5) leaves a run of larger steps, kept for evenSlices to resample;
  // a step past 3x the median is a hole in the stack either way.
  for (let k = 0; k < steps.length; k++) {
    const neighbours = Math.max(k > 0 ? steps[k - 1] : 0, k + 1 < steps.length ? steps[k + 1] : 0);
    if ((neighbours > 0 && steps[k] > 1.5 * neighbours) || steps[k] > 3 * step) {
      throw new VolumeIOError(
        slices[k + 1].file.path,
        'MISSING_SLICE',
        `gap of ${pos(steps[k])} mm between slices at ${pos(positions[k])} and ${pos(positions[k + 1])} mm (median step ${pos(step)} mm, neighbouring steps ${[steps[k - 1], steps[k + 1]].filter((x) => x !== undefined).map(pos).join(' and ')} mm): slice(s) missing; export the series again with all its slices`,
      );
    }
  }
  const uniform = steps.every((s) => Math.abs(s - step) <= 0.01 * step);
  // A gantry-tilted stack: each slice's origin drifts in-plane off the first slice's normal. Its voxels
  // are shifted back by that drift (bilinear) so that the volume's orthogonal grid holds them where they
  // are in the patient, where its contours are drawn; a drift under a twentieth of a voxel is rounding.
  const p0 = slices[0].ipp;
  const drift = slices.map((s) => {
    const d: Vec3 = [s.ipp[0] - p0[0], s.ipp[1] - p0[1], s.ipp[2] - p0[2]];
    return { di: dot(d, rowCos) / ps[1], dj: dot(d, colCos) / ps[0], mm: Math.hypot(dot(d, rowCos), dot(d, colCos)) };
  });
  const shear = Math.max(...drift.map((d) => d.mm));
  const tilted = drift.some((d) => Math.abs(d.di) > 0.05 || Math.abs(d.dj) > 0.05);
  if (tilted) {
    warnings.push(`slice origins drift up to ${pos(shear)} mm off the slice normal (gantry tilt): slices were shifted in-plane (bilinear) onto an orthogonal grid, as dcm2niix does; voxels beyond a slice's edge take its lowest value`);
  } else if (shear > 0.01) {
    warnings.push(`slice origins drift ${pos(shear)} mm off the slice normal, under a twentieth of a voxel: ignored`);
  }

  const shape: Vec3 = [cols, rows, slices.length];
  const data = new Int16Array(voxelCount(shape));
  let clamped = 0;
  const n = rows * cols;
  const unshifted = tilted ? new Int16Array(n) : undefined;
  slices.forEach((s, k) => {
    const out = data.subarray(k * n, (k + 1) * n);
    const { di, dj } = drift[k];
    if (!unshifted || (di === 0 && dj === 0)) {
      clamped += decodeSlice(s.pixels, n, s.signed, s.bitsStored, s.slope, s.intercept, out);
      return;
    }
    clamped += decodeSlice(s.pixels, n, s.signed, s.bitsStored, s.slope, s.intercept, unshifted);
    shiftSlice(unshifted, cols, rows, di, dj, unshifted.reduce((m, v) => (v < m ? v : m), 32767), out);
  });
  if (clamped > 0) warnings.push(`${clamped} voxels outside the int16 range after rescale were clamped`);

  const d = first!.dataset;
  const identity = typeof d.PatientIdentityRemoved === 'string' ? d.PatientIdentityRemoved.trim().toUpperCase() : undefined;
  const multiFrame = hasFunctionalGroups(first!);
  return {
    volume: {
      data,
      shape,
      spacing: [ps[1], ps[0], step],
      origin: [...p0] as Vec3,
      direction: fromColumns(rowCos, colCos, normal),
      slicePositionsMm: positions,
      sliceSpacingUniform: uniform,
    },
    seriesInstanceUID: String(d.SeriesInstanceUID ?? ''),
    studyInstanceUID: String(d.StudyInstanceUID ?? ''),
    frameOfReferenceUID: String(d.FrameOfReferenceUID ?? ''),
    sopClassUID: first!.sopClassUID || SOP_CT_IMAGE,
    sopInstanceUIDs: slices.map((s) => String(s.file.dataset.SOPInstanceUID ?? '')),
    ...(multiFrame ? { frameNumbers: slices.map((s) => s.frame!) } : {}),
    files: slices.map((s) => s.file.path),
    ...(typeof d.PatientPosition === 'string' && d.PatientPosition ? { patientPosition: d.PatientPosition.trim() } : {}),
    ...(identity ? { patientIdentityRemoved: identity === 'YES' } : {}),
    warnings,
  };
}

/**
 * Removes, from slices sorted by position (stable, so in file order), the second file of an image found
 * twice (an export that copied a file: same SOPInstanceUID and frame, same position, same pixels), with a
 * warning. Two different images at one position are left for DUPLICATE_SLICE.
 */
function dropCopies(slices: Slice[], warnings: string[]): void {
  const copies: string[] = [];
  for (let k = slices.length - 1; k > 0; k--) {
    const [a, b] = [slices[k - 1], slices[k]];
    const uid = String(a.file.dataset.SOPInstanceUID ?? '');
    if (Math.abs(b.position - a.position) < 1e-3 && uid && uid === String(b.file.dataset.SOPInstanceUID ?? '') && a.frame === b.frame && Buffer.from(a.pixels).equals(Buffer.from(b.pixels))) {
      copies.unshift(`${sliceName(b)} (a copy of ${sliceName(a)})`);
      slices.splice(k, 1);
    }
  }
  if (copies.length) warnings.push(`${copies.length} file${copies.length > 1 ? 's' : ''} repeating an image of the series ignored: ${copies.slice(0, 3).join('; ')}${copies.length > 3 ? '; ...' : ''}`);
}

/** Stored 16-bit values -> HU into `out`; returns how many were clamped to int16. */
function decodeSlice(bytes: Uint8Array, n: number, signed: boolean, bitsStored: number, slope: number, intercept: number, out: Int16Array): number {
  const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
  const raw = signed ? new Int16Array(aligned.buffer, aligned.byteOffset, n) : new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  const bs = Math.min(16, Math.max(1, bitsStored));
  const identity = slope === 1 && intercept === 0 && bs === 16;
  if (identity && signed) {
    out.set(raw);
    return 0;
  }
  const mask = (1 << bs) - 1;
  const shift = 32 - bs;
  let clamped = 0;
  for (let i = 0; i < n; i++) {
    let v = raw[i] & mask;
    if (signed) v = (v << shift) >> shift;
    let hu = Math.round(v * slope + intercept);
    if (hu > 32767) { hu = 32767; clamped++; } else if (hu < -32768) { hu = -32768; clamped++; }
    out[i] = hu;
  }
  return clamped;
}

export interface WriteCtOptions {
  dir: string;
  seriesInstanceUID: string;
  studyInstanceUID: string;
  frameOfReferenceUID: string;
  /** SOPInstanceUID of slice k is `<prefix>.<k+1>`; without it, uidFromSeed(DEFAULT_UID_ROOT, series UID, k). */
  sopInstanceUIDPrefix?: string;
  patientId: string;
  patientName: string;
  /** 'HFS' by default. */
  patientPosition?: string;
  seriesDescription?: string;
  patientIdentityRemoved?: boolean;
  /** Plain file name (no folders) of slice k; `CT0001.dcm`... by default. */
  fileName?: (k: number) => string;
  /** Called before each slice is written. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Writes `volume` (HU) as a CT Image Storage series, one explicit-VR little-endian file per k slice,
 * each written atomically. Slice k lies at origin + k * spacing[2] * direction column 2; pixels are
 * stored as signed 16-bit with slope 1, intercept 0, so reading back is bit-exact.
 * Throws VolumeIOError (BAD_GEOMETRY, PATH_ESCAPE, IO) and RangeError for invalid UIDs.
 */
export function writeCtSeries(volume: Volume<Int16Array>, opts: WriteCtOptions): { files: string[]; sopInstanceUIDs: string[] } {
  const grid = ctGridToWrite(volume, opts, 'writeCtSeries');
  const [nx, ny, nz] = volume.shape;
  const width = Math.max(4, String(nz).length);
  const nameOf = opts.fileName ?? ((k: number) => `CT${String(k + 1).padStart(width, '0')}.dcm`);
  const prefix = opts.sopInstanceUIDPrefix;
  const files: string[] = [];
  const sops: string[] = [];
  const n = nx * ny;
  for (let k = 0; k < nz; k++) {
    opts.onProgress?.(k, nz);
    const path = plainFileIn(opts.dir, nameOf(k), 'fileName(k)');
    const sop = prefix ? `${prefix}.${k + 1}` : uidFromSeed(DEFAULT_UID_ROOT, opts.seriesInstanceUID, 'ct-slice', k);
    if (!isValidUid(sop)) throw new RangeError(`writeCtSeries: SOPInstanceUID '${sop}' is not a valid UID`);
    const ipp = grid.position(k);
    const bytes = volume.data.buffer.slice(volume.data.byteOffset + k * n * 2, volume.data.byteOffset + (k + 1) * n * 2);
    const dataset: Record<string, any> = {
      ...ctSeriesAttributes(opts),
      ImageType: ['DERIVED', 'SECONDARY', 'AXIAL'],
      SOPClassUID: SOP_CT_IMAGE,
      SOPInstanceUID: sop,
      Laterality: null,
      SliceThickness: formatDS(volume.spacing[2]),
      KVP: null,
      AcquisitionNumber: null,
      InstanceNumber: String(k + 1),
      ImagePositionPatient: ipp.map(formatDS),
      ImageOrientationPatient: grid.orientation,
      SliceLocation: formatDS(dot(ipp, grid.normal)),
      ...ctPixelAttributes(volume),
      PixelSpacing: grid.pixelSpacing,
      RescaleIntercept: '0',
      RescaleSlope: '1',
      PixelData: bytes,
    };
    writeDicomFile(path, dataset);
    files.push(path);
    sops.push(sop);
  }
  return { files, sopInstanceUIDs: sops };
}

/** `dir/name`, when `name` is a plain file name (no folders); PATH_ESCAPE otherwise. */
export function plainFileIn(dir: string, name: string, what: string): string {
  if (!name || basename(name) !== name || name === '.' || name === '..') {
    throw new VolumeIOError(join(dir, String(name)), 'PATH_ESCAPE', `${what} must be a plain file name inside dir`);
  }
  return join(dir, name);
}

/** A volume's grid as CT images store it; BAD_GEOMETRY unless orthonormal with k along row x column. */
export interface CtGridToWrite {
  /** ImageOrientationPatient, formatted. */
  orientation: string[];
  /** PixelSpacing (between rows, between columns), formatted. */
  pixelSpacing: string[];
  normal: Vec3;
  /** ImagePositionPatient of slice k. */
  position(k: number): Vec3;
}

export function ctGridToWrite(volume: Volume<Int16Array>, opts: Pick<WriteCtOptions, 'dir' | 'seriesInstanceUID' | 'studyInstanceUID' | 'frameOfReferenceUID'>, who: string): CtGridToWrite {
  const [nx, ny, nz] = volume.shape;
  if (!(volume.data instanceof Int16Array) || volume.data.length !== nx * ny * nz) {
    throw new VolumeIOError(opts.dir, 'SIZE_MISMATCH', `volume data must be an Int16Array of ${nx * ny * nz} voxels`);
  }
  for (const [k, uid] of [['seriesInstanceUID', opts.seriesInstanceUID], ['studyInstanceUID', opts.studyInstanceUID], ['frameOfReferenceUID', opts.frameOfReferenceUID]] as const) {
    if (!isValidUid(uid)) throw new RangeError(`${who}: ${k} '${uid}' is not a valid UID`);
  }
  const dm = volume.direction;
  const rowCos: Vec3 = [dm[0], dm[3], dm[6]];
  const colCos: Vec3 = [dm[1], dm[4], dm[7]];
  const normal = cross(rowCos, colCos);
  const kDir: Vec3 = [dm[2], dm[5], dm[8]];
  if (Math.abs(norm(rowCos) - 1) > 1e-3 || Math.abs(norm(colCos) - 1) > 1e-3 || Math.abs(dot(rowCos, colCos)) > 1e-3 || dot(normal, kDir) < 0.999) {
    throw new VolumeIOError(opts.dir, 'BAD_GEOMETRY', 'direction must be orthonormal and right-handed (k along row x column cosines) to be stored as a CT series');
  }
  return {
    orientation: [...rowCos, ...colCos].map(formatDS),
    pixelSpacing: [formatDS(volume.spacing[1]), formatDS(volume.spacing[0])],
    normal,
    position: (k) => [0, 1, 2].map((a) => volume.origin[a] + kDir[a] * volume.spacing[2] * k) as Vec3,
  };
}

/** Patient, study, series and frame of reference attributes of a CT image we write (no dates, ids or names but the given). */
export function ctSeriesAttributes(opts: Omit<WriteCtOptions, 'dir' | 'fileName' | 'onProgress'>): Record<string, unknown> {
  const nonAscii = /[^\x20-\x7e]/.test(opts.patientName + opts.patientId + (opts.seriesDescription ?? ''));
  return {
    ...(nonAscii ? { SpecificCharacterSet: 'ISO_IR 192' } : {}),
    StudyDate: null,
    StudyTime: null,
    AccessionNumber: null,
    Modality: 'CT',
    Manufacturer: null,
    ReferringPhysicianName: null,
    ...(opts.seriesDescription ? { SeriesDescription: opts.seriesDescription } : {}),
    PatientName: opts.patientName,
    PatientID: opts.patientId,
    PatientBirthDate: null,
    PatientSex: null,
    ...(opts.patientIdentityRemoved !== undefined
      ? { PatientIdentityRemoved: opts.patientIdentityRemoved ? 'YES' : 'NO', ...(opts.patientIdentityRemoved ? { DeidentificationMethod: 'anatomynet-ts: identifiers replaced' } : {}) }
      : {}),
    PatientPosition: opts.patientPosition ?? 'HFS',
    StudyInstanceUID: opts.studyInstanceUID,
    SeriesInstanceUID: opts.seriesInstanceUID,
    StudyID: null,
    SeriesNumber: '1',
    FrameOfReferenceUID: opts.frameOfReferenceUID,
    PositionReferenceIndicator: null,
  };
}

/** Image Pixel attributes of signed 16-bit HU. */
export function ctPixelAttributes(volume: Volume<Int16Array>): Record<string, unknown> {
  return { SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2', Rows: volume.shape[1], Columns: volume.shape[0], BitsAllocated: 16, BitsStored: 16, HighBit: 15, PixelRepresentation: 1 };
}
