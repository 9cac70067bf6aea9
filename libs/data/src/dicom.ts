/**
 * DICOM files through dcmjs: read one file (naturalized), write one file atomically, scan a folder tree
 * into CT series and RT structure sets, and derive deterministic UIDs.
 */
/// <reference path="./dcmjs.d.ts" />
import dcmjs from 'dcmjs';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VolumeIOError } from './errors';
import { toArrayBuffer, writeFileAtomic } from './fileio';

const { DicomDict, DicomMessage, DicomMetaDictionary } = dcmjs.data;
// dcmjs logs every recoverable oddity to the console; we report problems through errors and warnings.
dcmjs.log.setLevel('error');
// e.g. 'Invalid vr type ox - using OW' for implicit-VR pixel data, which OW reads correctly.
dcmjs.log.getLogger('validation.dcmjs').setLevel('silent');

export const TS_IMPLICIT_LE = '1.2.840.10008.1.2';
export const TS_EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const TS_DEFLATED_LE = '1.2.840.10008.1.2.1.99';
export const TS_EXPLICIT_BE = '1.2.840.10008.1.2.2';
export const SOP_CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';
export const SOP_ENHANCED_CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2.1';
export const SOP_LEGACY_ENHANCED_CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2.2';
export const SOP_RTSTRUCT = '1.2.840.10008.5.1.4.1.1.481.3';
export const SOP_SEGMENTATION = '1.2.840.10008.5.1.4.1.1.66.4';
/** Root for UIDs derived from hashes (ITU-T X.667 arc, as pydicom's generate_uid uses). */
export const DEFAULT_UID_ROOT = '2.25';
export const IMPLEMENTATION_CLASS_UID = '2.25.302340837266745938532401786563227914371';
export const IMPLEMENTATION_VERSION_NAME = 'ANATOMYNET_TS_1';

const PIXEL_DATA_TAG = '7FE00010';

export interface DicomFile {
  path: string;
  /** dcmjs naturalized dataset (keywords as keys, e.g. `dataset.ImagePositionPatient`). */
  dataset: Record<string, any>;
  transferSyntaxUID: string;
  sopClassUID: string;
  modality?: string;
}

/** Reads the file's bytes; IO errors become VolumeIOError. */
function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new VolumeIOError(path, 'IO', `cannot read: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Parses a DICOM Part 10 buffer (128-byte preamble, 'DICM', file meta group). Throws VolumeIOError:
 * NOT_DICOM without the 'DICM' marker, TRUNCATED when an element runs past the end, BAD_HEADER otherwise.
 * `pixelData: false` stops before (7FE0,0010), which is much faster for header scans.
 */
export function parseDicomBuffer(path: string, buf: Uint8Array, opts: { pixelData?: boolean } = {}): DicomFile {
  return parseInternal(path, buf, opts.pixelData !== false).file;
}

function parseInternal(path: string, buf: Uint8Array, pixelData: boolean): { file: DicomFile; reachedPixelData: boolean } {
  if (buf.byteLength < 132 || buf[128] !== 0x44 || buf[129] !== 0x49 || buf[130] !== 0x43 || buf[131] !== 0x4d) {
    throw new VolumeIOError(path, 'NOT_DICOM', "no 'DICM' marker after a 128-byte preamble (not a DICOM Part 10 file)");
  }
  let dict: InstanceType<typeof DicomDict>;
  try {
    dict = DicomMessage.readFile(toArrayBuffer(buf), pixelData ? {} : { untilTag: PIXEL_DATA_TAG, includeUntilTagValue: false });
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (e instanceof RangeError && /call stack/i.test(msg)) {
      throw new VolumeIOError(path, 'BAD_HEADER', 'sequences nested too deeply', { cause: e });
    }
    if (e instanceof RangeError || /outside the bounds|out of range|beyond|end of|past end|more than currently allocated/i.test(msg)) {
      throw new VolumeIOError(path, 'TRUNCATED', `file ends inside an element (${msg})`, { cause: e });
    }
    throw new VolumeIOError(path, 'BAD_HEADER', `unparsable DICOM: ${msg}`, { cause: e });
  }
  const reachedPixelData = PIXEL_DATA_TAG in dict.dict;
  if (!pixelData) delete dict.dict[PIXEL_DATA_TAG]; // only a placeholder when stopped before it
  const depth = sequenceDepth(dict.dict);
  if (depth > MAX_SEQUENCE_DEPTH) throw new VolumeIOError(path, 'BAD_HEADER', `sequences nested ${depth} deep (limit ${MAX_SEQUENCE_DEPTH})`);
  const meta = DicomMetaDictionary.naturalizeDataset(dict.meta);
  const transferSyntaxUID = typeof meta.TransferSyntaxUID === 'string' ? meta.TransferSyntaxUID : '';
  if (!transferSyntaxUID) throw new VolumeIOError(path, 'MISSING_TAG', 'file meta has no TransferSyntaxUID (0002,0010)');
  let dataset: Record<string, any>;
  try {
    dataset = DicomMetaDictionary.naturalizeDataset(dict.dict);
  } catch (e) {
    throw new VolumeIOError(path, 'BAD_HEADER', `cannot interpret dataset: ${(e as Error).message}`, { cause: e });
  }
  const sopClassUID = String(dataset.SOPClassUID ?? meta.MediaStorageSOPClassUID ?? '');
  const modality = typeof dataset.Modality === 'string' ? dataset.Modality : undefined;
  return { file: { path, dataset, transferSyntaxUID, sopClassUID, ...(modality ? { modality } : {}) }, reachedPixelData };
}

const HEADER_CHUNK = 64 * 1024;
/** How much of a file header scans read, each tried in turn before the whole file. */
const HEADER_CHUNKS = [HEADER_CHUNK, 16 * HEADER_CHUNK, 256 * HEADER_CHUNK];

/** Deepest sequence nesting accepted (pydicom stops at 100, fo-dicom at 256). */
export const MAX_SEQUENCE_DEPTH = 128;

/** Deepest SQ nesting in a dcmjs dict, walked without recursion. */
function sequenceDepth(root: Record<string, { vr: string; Value?: unknown[] }>): number {
  let max = 0;
  const stack: [Record<string, { vr: string; Value?: unknown[] }>, number][] = [[root, 0]];
  while (stack.length) {
    const [d, depth] = stack.pop()!;
    for (const el of Object.values(d)) {
      if (el?.vr !== 'SQ' || !Array.isArray(el.Value)) continue;
      max = Math.max(max, depth + 1);
      if (max > MAX_SEQUENCE_DEPTH) return max;
      for (const item of el.Value) if (item && typeof item === 'object') stack.push([item as Record<string, { vr: string; Value?: unknown[] }>, depth + 1]);
    }
  }
  return max;
}

/**
 * Reads one DICOM file. See {@link parseDicomBuffer} for the errors. With `pixelData: false` only the
 * file's head is read: the first 64 KiB, then 1 MiB, then 16 MiB, until the header ends (at the pixel
 * data) inside it (an Enhanced CT's per-frame groups can fill megabytes); otherwise the whole file.
 */
export function readDicomFile(path: string, opts: { pixelData?: boolean } = {}): DicomFile {
  if (opts.pixelData !== false) return parseInternal(path, readBytes(path), true).file;
  for (const chunk of HEADER_CHUNKS) {
    const { head, size } = readHead(path, chunk);
    if (head.length >= size) return parseInternal(path, head, false).file;
    try {
      const r = parseInternal(path, head, false);
      if (r.reachedPixelData) return r.file;
    } catch (e) {
      if (!(e instanceof VolumeIOError) || e.code === 'NOT_DICOM') throw e;
    }
  }
  return parseInternal(path, readBytes(path), false).file;
}

/** The first `bytes` of the file (fewer when it is shorter) and the file's size. */
function readHead(path: string, bytes: number): { head: Buffer; size: number } {
  try {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const head = Buffer.alloc(Math.min(size, bytes));
      let got = 0;
      while (got < head.length) {
        const n = readSync(fd, head, got, head.length - got, got);
        if (n <= 0) break;
        got += n;
      }
      return { head: head.subarray(0, got), size };
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new VolumeIOError(path, 'IO', `cannot read: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Serialises a naturalized dataset to Part 10 bytes. The file meta group is built from the dataset's
 * SOPClassUID / SOPInstanceUID. Binary values (PixelData) must be ArrayBuffers; set `_vrMap` for
 * VRs the dictionary leaves open (PixelData defaults to OW here).
 */
export function encodeDicom(dataset: Record<string, any>, transferSyntaxUID = TS_EXPLICIT_LE): Uint8Array {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: transferSyntaxUID,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  };
  const ds = { ...dataset, _vrMap: { ...(dataset.PixelData !== undefined ? { PixelData: 'OW' } : {}), ...(dataset._vrMap ?? {}) } };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return new Uint8Array(dict.write());
}

/** Writes a naturalized dataset as a DICOM Part 10 file, atomically (temp file, fsync, rename). */
export function writeDicomFile(path: string, dataset: Record<string, any>, transferSyntaxUID = TS_EXPLICIT_LE): void {
  if (!dataset.SOPClassUID || !dataset.SOPInstanceUID) {
    throw new VolumeIOError(path, 'MISSING_TAG', 'dataset needs SOPClassUID and SOPInstanceUID to build the file meta');
  }
  let bytes: Uint8Array;
  try {
    bytes = encodeDicom(dataset, transferSyntaxUID);
  } catch (e) {
    throw new VolumeIOError(path, 'BAD_HEADER', `cannot encode dataset: ${(e as Error).message}`, { cause: e });
  }
  writeFileAtomic(path, bytes);
}

const UID_RE = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

/** True for a syntactically valid UID: digits and dots, no leading zeros in a component, <= 64 chars. */
export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && UID_RE.test(uid);
}

/**
 * A deterministic UID `<root>.<decimal digits of sha256(parts)>`, at most 64 characters. The same
 * root and parts give the same UID; `root` must itself be a valid UID of at most 44 characters.
 */
export function uidFromSeed(root: string, ...parts: (string | number)[]): string {
  if (!isValidUid(root) || root.length > 44) throw new RangeError(`uidFromSeed: root '${root}' is not a valid UID of <= 44 chars`);
  const hex = createHash('sha256').update(JSON.stringify(parts.map(String))).digest('hex');
  // 38 decimal digits keep ~126 bits; BigInt's decimal form never starts with 0 unless it is 0.
  const digits = (BigInt('0x' + hex) % 10n ** 38n).toString();
  return `${root}.${digits}`.slice(0, 64).replace(/\.$/, '');
}

export interface CtSeriesInfo {
  seriesInstanceUID: string;
  frameOfReferenceUID: string;
  studyInstanceUID: string;
  /** Sorted paths. */
  files: string[];
  /** Same order as `files`. */
  sopInstanceUIDs: string[];
}

export interface DicomScan {
  /** Sorted by seriesInstanceUID. */
  ctSeries: CtSeriesInfo[];
  /** RT Structure Set files, parsed in full, sorted by path. */
  rtStructs: DicomFile[];
  /** DICOM Segmentation files, headers only (no pixel data), sorted by path. */
  segmentations: DicomFile[];
  /** Other DICOM files (other modalities, DICOMDIR, CT localizers...), `note` saying what when known. */
  other: { path: string; modality?: string; note?: string }[];
  /** Files that could not be read, with the reason; the scan carries on. */
  failures: { path: string; reason: string; code: string }[];
}

/** Every regular file under `root` at any depth, sorted by path (byte order), symlinks not followed. */
export function listFilesRecursive(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(root);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** CT Image Storage, single-frame, or Enhanced / Legacy Converted Enhanced CT (multi-frame). */
function isCt(f: DicomFile): boolean {
  return f.sopClassUID === SOP_CT_IMAGE || f.sopClassUID === SOP_ENHANCED_CT_IMAGE || f.sopClassUID === SOP_LEGACY_ENHANCED_CT_IMAGE || (f.sopClassUID === '' && f.modality === 'CT');
}

/**
 * A localizer (scout, topogram): a projection image stored as CT, sometimes in the axial series itself,
 * never one of its slices (ImageType value 3 LOCALIZER, as dcm2niix also leaves them out).
 */
export function isLocalizer(f: DicomFile): boolean {
  const t = f.dataset.ImageType;
  const values = Array.isArray(t) ? t : typeof t === 'string' ? t.split('\\') : [];
  return values.some((v) => String(v).trim().toUpperCase() === 'LOCALIZER');
}

function isRtStruct(f: DicomFile): boolean {
  return f.sopClassUID === SOP_RTSTRUCT || f.modality === 'RTSTRUCT';
}

function isSegmentation(f: DicomFile): boolean {
  return f.sopClassUID === SOP_SEGMENTATION || f.modality === 'SEG';
}

/**
 * Walks `root` (any nesting, sorted paths) and classifies every file: CT image series grouped by
 * SeriesInstanceUID (localizers left out, under `other`), RT structure sets, segmentations, other DICOM,
 * and failures (never throws for one bad file).
 * Reads only the header (first 64 KiB when the pixel data starts within them). `onProgress(done, total,
 * path)` is called before each file.
 * Throws VolumeIOError('NO_FILES') only when `root` itself cannot be listed.
 */
export function scanDicomTree(root: string, opts: { onProgress?: (done: number, total: number, path: string) => void } = {}): DicomScan {
  let paths: string[];
  try {
    if (!statSync(root).isDirectory()) throw new Error('not a directory');
    paths = listFilesRecursive(root);
  } catch (e) {
    throw new VolumeIOError(root, 'NO_FILES', `cannot list folder: ${(e as Error).message}`, { cause: e });
  }
  const series = new Map<string, CtSeriesInfo>();
  const scan: DicomScan = { ctSeries: [], rtStructs: [], segmentations: [], other: [], failures: [] };
  for (const [done, path] of paths.entries()) {
    opts.onProgress?.(done, paths.length, path);
    try {
      const head = readDicomFile(path, { pixelData: false });
      if (isRtStruct(head)) {
        scan.rtStructs.push(head);
      } else if (isSegmentation(head)) {
        scan.segmentations.push(head);
      } else if (isCt(head) && isLocalizer(head)) {
        scan.other.push({ path, modality: 'CT', note: 'a localizer (scout) image, not a slice' });
      } else if (isCt(head)) {
        const d = head.dataset;
        const uid = String(d.SeriesInstanceUID ?? '');
        if (!uid) throw new VolumeIOError(path, 'MISSING_TAG', 'CT image without SeriesInstanceUID');
        let s = series.get(uid);
        if (!s) {
          s = { seriesInstanceUID: uid, frameOfReferenceUID: String(d.FrameOfReferenceUID ?? ''), studyInstanceUID: String(d.StudyInstanceUID ?? ''), files: [], sopInstanceUIDs: [] };
          series.set(uid, s);
        }
        s.files.push(path);
        s.sopInstanceUIDs.push(String(d.SOPInstanceUID ?? ''));
      } else {
        scan.other.push({ path, ...(head.modality ? { modality: head.modality } : {}) });
      }
    } catch (e) {
      if (e instanceof VolumeIOError) scan.failures.push({ path, reason: e.reason, code: e.code });
      else scan.failures.push({ path, reason: (e as Error).message ?? String(e), code: 'BAD_HEADER' });
    }
  }
  scan.ctSeries = [...series.values()].sort((a, b) => (a.seriesInstanceUID < b.seriesInstanceUID ? -1 : a.seriesInstanceUID > b.seriesInstanceUID ? 1 : 0));
  return scan;
}
