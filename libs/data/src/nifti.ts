/**
 * NIfTI-1 (.nii, .nii.gz) <-> Volume. NIfTI stores RAS; we convert to and from LPS.
 * Read: sform if sform_code > 0 (and not sheared), else qform if qform_code > 0, else pixdim scaling.
 * Write: sform and qform both set (code 1, scanner anatomical), little endian, vox_offset 352.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync, constants as zc } from 'node:zlib';
import { VolumeIOError } from './errors';
import { DEFAULT_GZIP_LEVEL, gunzipBounded, gzipDeterministic, isGzip, MAX_VOLUME_BYTES, writeFileAtomic } from './fileio';
import { cross, dot, norm } from './geometry';
import { decodeVoxels, voxelBytesLE, voxelTypeOf, type VoxelTypeName } from './voxel-types';
import type { Mat3, Vec3, Volume, VoxelArray } from './volume';

const HEADER_SIZE = 348;
const VOX_OFFSET = 352;

/** NIfTI datatype code <-> our voxel type. */
const DATATYPES: Record<number, VoxelTypeName> = { 2: 'uint8', 4: 'int16', 8: 'int32', 16: 'float32', 64: 'float64', 256: 'int8', 512: 'uint16', 768: 'uint32' };
const DATATYPE_CODES: Record<VoxelTypeName, number> = { uint8: 2, int16: 4, int32: 8, float32: 16, float64: 64, int8: 256, uint16: 512, uint32: 768 };
const DATATYPE_NAMES: Record<number, string> = { 1: 'binary', 32: 'complex64', 128: 'rgb24', 1024: 'int64', 1280: 'uint64', 1536: 'float128', 1792: 'complex128', 2048: 'complex256', 2304: 'rgba32' };

export interface NiftiReadOptions {
  /** Apply scl_slope / scl_inter when they are not the identity (result becomes float32, or float64 for float64 files). Default true. */
  applyScaling?: boolean;
  /** Largest voxel payload accepted, bytes (default 2^31 - 1). */
  maxBytes?: number;
}

export interface NiftiWriteOptions {
  /** gzip level 1..9 for .nii.gz (default DEFAULT_GZIP_LEVEL = 2). */
  gzipLevel?: number;
  /** descrip field, at most 79 ASCII characters. */
  description?: string;
}

/** Reads a .nii or .nii.gz file (gzip detected from the bytes). See {@link parseNifti}. */
export function readNifti(path: string, opts: NiftiReadOptions = {}): Volume {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new VolumeIOError(path, 'IO', `cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseNifti(path, bytes, opts);
}

/** The first bytes of a gzip stream, without inflating the rest (a bomb cannot expand here). */
function gunzipPrefix(file: string, bytes: Uint8Array, want: number): Buffer {
  for (const take of [4096, 65536, bytes.length]) {
    let out: Buffer;
    try {
      out = gunzipSync(bytes.subarray(0, Math.min(take, bytes.length)), { finishFlush: zc.Z_SYNC_FLUSH, maxOutputLength: 64 * 1024 * 1024 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') continue;
      throw new VolumeIOError(file, 'BAD_HEADER', `gzip stream is corrupt: ${(e as Error).message}`, { cause: e });
    }
    if (out.length >= want || take >= bytes.length) return out;
  }
  throw new VolumeIOError(file, 'TRUNCATED', 'gzip stream too short to hold a NIfTI header');
}

interface Header {
  little: boolean;
  shape: Vec3;
  datatype: number;
  bitpix: number;
  pixdim: number[];
  voxOffset: number;
  slope: number;
  inter: number;
  qformCode: number;
  sformCode: number;
  quatern: [number, number, number];
  qoffset: Vec3;
  srow: number[];
}

function parseHeader(file: string, h: Uint8Array): Header {
  if (h.length < HEADER_SIZE) throw new VolumeIOError(file, 'TRUNCATED', `${h.length} bytes, a NIfTI-1 header needs ${HEADER_SIZE}`);
  const dv = new DataView(h.buffer, h.byteOffset, HEADER_SIZE);
  let little = true;
  if (dv.getInt32(0, true) !== HEADER_SIZE) {
    if (dv.getInt32(0, false) === HEADER_SIZE) little = false;
    else if (dv.getInt32(0, true) === 540 || dv.getInt32(0, false) === 540) throw new VolumeIOError(file, 'UNSUPPORTED_DATATYPE', 'NIfTI-2 files are not supported');
    else throw new VolumeIOError(file, 'BAD_MAGIC', `sizeof_hdr is ${dv.getInt32(0, true)}, not 348: not a NIfTI-1 file`);
  }
  const magic = String.fromCharCode(h[344], h[345], h[346]);
  if ((magic !== 'n+1' && magic !== 'ni1') || h[347] !== 0) {
    throw new VolumeIOError(file, 'BAD_MAGIC', `magic is '${String.fromCharCode(h[344], h[345], h[346], h[347]).replace(/[^\x20-\x7e]/g, '?')}', expected 'n+1' (a header-only 'ni1' pair is not supported)`);
  }
  if (magic === 'ni1') throw new VolumeIOError(file, 'UNSUPPORTED_DATATYPE', "two-file NIfTI (.hdr/.img, magic 'ni1') is not supported");
  const i16 = (o: number) => dv.getInt16(o, little);
  const f32 = (o: number) => dv.getFloat32(o, little);
  const dim = Array.from({ length: 8 }, (_, i) => i16(40 + 2 * i));
  const ndim = dim[0];
  if (ndim < 1 || ndim > 7) throw new VolumeIOError(file, 'BAD_HEADER', `dim[0] = ${ndim}, must be 1..7`);
  for (let i = 1; i <= ndim; i++) if (dim[i] < 1) throw new VolumeIOError(file, 'BAD_HEADER', `dim[${i}] = ${dim[i]}, must be >= 1`);
  for (let i = 4; i <= ndim; i++) {
    if (dim[i] !== 1) throw new VolumeIOError(file, 'UNSUPPORTED_DATATYPE', `dim[${i}] = ${dim[i]}: only 3-D volumes (extra axes of size 1) are supported`);
  }
  const shape: Vec3 = [dim[1], ndim >= 2 ? dim[2] : 1, ndim >= 3 ? dim[3] : 1];
  const pixdim = Array.from({ length: 8 }, (_, i) => f32(76 + 4 * i));
  return {
    little,
    shape,
    datatype: i16(70),
    bitpix: i16(72),
    pixdim,
    voxOffset: f32(108),
    slope: f32(112),
    inter: f32(116),
    qformCode: i16(252),
    sformCode: i16(254),
    quatern: [f32(256), f32(260), f32(264)],
    qoffset: [f32(268), f32(272), f32(276)],
    srow: Array.from({ length: 12 }, (_, i) => f32(280 + 4 * i)),
  };
}

/** RAS affine columns (3x3 row-major, spacing included) and translation, from the header. */
function rasAffine(file: string, h: Header): { m: number[]; t: Vec3 } {
  const sform = () => ({ m: [h.srow[0], h.srow[1], h.srow[2], h.srow[4], h.srow[5], h.srow[6], h.srow[8], h.srow[9], h.srow[10]], t: [h.srow[3], h.srow[7], h.srow[11]] as Vec3 });
  const qform = () => {
    const [b, c, d] = h.quatern;
    let a2 = 1 - (b * b + c * c + d * d);
    if (a2 < 1e-7) a2 = 0;
    const a = Math.sqrt(a2);
    const s = a2 === 0 ? 1 / Math.sqrt(b * b + c * c + d * d) : 1;
    const [B, C, D] = [b * s, c * s, d * s];
    const r = [
      a * a + B * B - C * C - D * D, 2 * (B * C - a * D), 2 * (B * D + a * C),
      2 * (B * C + a * D), a * a + C * C - B * B - D * D, 2 * (C * D - a * B),
      2 * (B * D - a * C), 2 * (C * D + a * B), a * a + D * D - C * C - B * B,
    ];
    const qfac = h.pixdim[0] < 0 ? -1 : 1;
    const sp = [Math.abs(h.pixdim[1]) || 1, Math.abs(h.pixdim[2]) || 1, (Math.abs(h.pixdim[3]) || 1) * qfac];
    return { m: r.map((v, i) => v * sp[i % 3]), t: h.qoffset };
  };
  const sheared = (m: number[]) => {
    const cols = [0, 1, 2].map((c) => [m[c], m[3 + c], m[6 + c]]);
    const n = cols.map(norm);
    if (n.some((x) => !(x > 0) || !Number.isFinite(x))) return true;
    return Math.abs(dot(cols[0], cols[1])) / (n[0] * n[1]) > 1e-3 || Math.abs(dot(cols[0], cols[2])) / (n[0] * n[2]) > 1e-3 || Math.abs(dot(cols[1], cols[2])) / (n[1] * n[2]) > 1e-3;
  };
  if (h.sformCode > 0) {
    const s = sform();
    if (!sheared(s.m)) return s;
    if (h.qformCode <= 0) throw new VolumeIOError(file, 'BAD_GEOMETRY', 'sform is sheared or degenerate and there is no qform');
  }
  if (h.qformCode > 0) return qform();
  const sp = [1, 2, 3].map((i) => Math.abs(h.pixdim[i]) || 1);
  return { m: [sp[0], 0, 0, 0, sp[1], 0, 0, 0, sp[2]], t: [0, 0, 0] };
}

/**
 * Parses NIfTI-1 bytes (gzip detected by its magic). Every declared size is checked before allocating.
 * Throws VolumeIOError: BAD_MAGIC, TRUNCATED (fewer bytes than declared), TOO_LARGE (declared payload
 * over `maxBytes`, or a gzip stream inflating past the declared size), SIZE_MISMATCH (bitpix vs datatype,
 * trailing bytes), UNSUPPORTED_DATATYPE, BAD_HEADER, BAD_GEOMETRY.
 */
export function parseNifti(file: string, bytes: Uint8Array, opts: NiftiReadOptions = {}): Volume {
  const maxBytes = opts.maxBytes ?? MAX_VOLUME_BYTES;
  const gz = isGzip(bytes);
  const h = parseHeader(file, gz ? gunzipPrefix(file, bytes, HEADER_SIZE) : bytes);
  const type = DATATYPES[h.datatype];
  if (!type) {
    throw new VolumeIOError(file, 'UNSUPPORTED_DATATYPE', `datatype ${h.datatype}${DATATYPE_NAMES[h.datatype] ? ` (${DATATYPE_NAMES[h.datatype]})` : ''} is not supported; use int8/uint8/int16/uint16/int32/uint32/float32/float64`);
  }
  const size = { int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4, float64: 8 }[type];
  if (h.bitpix !== size * 8) throw new VolumeIOError(file, 'SIZE_MISMATCH', `bitpix ${h.bitpix} does not match datatype ${type} (${size * 8} bits)`);
  const voxels = h.shape[0] * h.shape[1] * h.shape[2];
  const payload = voxels * size;
  if (payload > maxBytes) {
    throw new VolumeIOError(file, 'TOO_LARGE', `header declares ${h.shape.join('x')} ${type} = ${payload} bytes, over the ${maxBytes}-byte limit`);
  }
  const offset = Math.floor(h.voxOffset);
  if (!(offset >= HEADER_SIZE) || offset !== h.voxOffset || offset > 1 << 24) throw new VolumeIOError(file, 'BAD_HEADER', `vox_offset ${h.voxOffset} is invalid`);
  const expected = offset + payload;
  if (!gz && bytes.length < expected) {
    throw new VolumeIOError(file, 'TRUNCATED', `header declares ${h.shape.join('x')} ${type} (${payload} bytes from offset ${offset}) but the file holds ${bytes.length} bytes`);
  }
  const raw = gz ? gunzipBounded(file, bytes, expected + 65536) : bytes;
  if (raw.length < expected) {
    throw new VolumeIOError(file, 'TRUNCATED', `header declares ${h.shape.join('x')} ${type} (${payload} bytes from offset ${offset}) but the data holds ${raw.length} bytes`);
  }
  if (raw.length > expected) throw new VolumeIOError(file, 'SIZE_MISMATCH', `${raw.length - expected} bytes after the declared ${h.shape.join('x')} ${type} voxels`);
  let data: VoxelArray = decodeVoxels(type, raw, offset, voxels, h.little);
  const slope = h.slope, inter = Number.isFinite(h.inter) ? h.inter : 0;
  if ((opts.applyScaling ?? true) && Number.isFinite(slope) && slope !== 0 && !(slope === 1 && inter === 0)) {
    const out = type === 'float64' ? new Float64Array(voxels) : new Float32Array(voxels);
    for (let i = 0; i < voxels; i++) out[i] = data[i] * slope + inter;
    data = out;
  }
  const { m, t } = rasAffine(file, h);
  // RAS -> LPS: negate the first two rows of the affine and of the translation.
  const lps = [-m[0], -m[1], -m[2], -m[3], -m[4], -m[5], m[6], m[7], m[8]];
  const spacing = [0, 1, 2].map((c) => norm([lps[c], lps[3 + c], lps[6 + c]])) as Vec3;
  const direction = lps.map((v, i) => v / spacing[i % 3] + 0) as Mat3; // + 0: no -0
  return { data, shape: h.shape, spacing, origin: [-t[0] + 0, -t[1] + 0, t[2] + 0], direction };
}

/** Quaternion (b, c, d) and qfac of an orthonormal rotation, as nifti_mat44_to_quatern. */
function toQuaternion(r: number[]): { b: number; c: number; d: number; qfac: number } {
  const col = (c: number) => [r[c], r[3 + c], r[6 + c]] as Vec3;
  let qfac = 1;
  let m = [...r];
  if (dot(cross(col(0), col(1)), col(2)) < 0) {
    qfac = -1;
    m = [r[0], r[1], -r[2], r[3], r[4], -r[5], r[6], r[7], -r[8]];
  }
  const [r11, r12, r13, r21, r22, r23, r31, r32, r33] = m;
  let a = r11 + r22 + r33 + 1, b: number, c: number, d: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r32 - r23)) / a;
    c = (0.25 * (r13 - r31)) / a;
    d = (0.25 * (r21 - r12)) / a;
  } else {
    const xd = 1 + r11 - (r22 + r33), yd = 1 + r22 - (r11 + r33), zd = 1 + r33 - (r11 + r22);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd); c = (0.25 * (r12 + r21)) / b; d = (0.25 * (r13 + r31)) / b; a = (0.25 * (r32 - r23)) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd); b = (0.25 * (r12 + r21)) / c; d = (0.25 * (r23 + r32)) / c; a = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd); b = (0.25 * (r13 + r31)) / d; c = (0.25 * (r23 + r32)) / d; a = (0.25 * (r21 - r12)) / d;
    }
    if (a < 0) { b = -b; c = -c; d = -d; }
  }
  return { b, c, d, qfac };
}

function isOrthonormal(d: Mat3): boolean {
  const cols = [0, 1, 2].map((c) => [d[c], d[3 + c], d[6 + c]]);
  return cols.every((v) => Math.abs(norm(v) - 1) < 1e-4) && Math.abs(dot(cols[0], cols[1])) < 1e-4 && Math.abs(dot(cols[0], cols[2])) < 1e-4 && Math.abs(dot(cols[1], cols[2])) < 1e-4;
}

/** Uncompressed NIfTI-1 bytes (.nii layout) of `volume`. */
export function encodeNifti(volume: Volume, opts: NiftiWriteOptions = {}): Uint8Array {
  const type = voxelTypeOf(volume.data);
  const [nx, ny, nz] = volume.shape;
  if (volume.data.length !== nx * ny * nz) throw new RangeError(`encodeNifti: ${volume.data.length} voxels for shape ${volume.shape.join('x')}`);
  if (volume.shape.some((s) => s > 32767)) throw new RangeError(`encodeNifti: NIfTI-1 dims are int16; shape ${volume.shape.join('x')}`);
  const vox = voxelBytesLE(volume.data);
  const out = new Uint8Array(VOX_OFFSET + vox.byteLength);
  const dv = new DataView(out.buffer);
  const size = volume.data.BYTES_PER_ELEMENT;
  dv.setInt32(0, HEADER_SIZE, true);
  out[39] = 0; // dim_info
  [3, nx, ny, nz, 1, 1, 1, 1].forEach((v, i) => dv.setInt16(40 + 2 * i, v, true));
  dv.setInt16(70, DATATYPE_CODES[type], true);
  dv.setInt16(72, size * 8, true);
  // LPS -> RAS rotation (unit columns) and scaled affine.
  const d = volume.direction, sp = volume.spacing, o = volume.origin;
  const rot = [-d[0], -d[1], -d[2], -d[3], -d[4], -d[5], d[6], d[7], d[8]];
  const t: Vec3 = [-o[0], -o[1], o[2]];
  const q = isOrthonormal(d) ? toQuaternion(rot) : undefined;
  [q?.qfac ?? 1, sp[0], sp[1], sp[2], 1, 1, 1, 1].forEach((v, i) => dv.setFloat32(76 + 4 * i, v, true));
  dv.setFloat32(108, VOX_OFFSET, true);
  dv.setFloat32(112, 1, true); // scl_slope
  dv.setFloat32(116, 0, true); // scl_inter
  out[123] = 2; // xyzt_units: mm
  const descrip = (opts.description ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 79);
  for (let i = 0; i < descrip.length; i++) out[148 + i] = descrip.charCodeAt(i);
  dv.setInt16(252, q ? 1 : 0, true); // qform_code: scanner anatomical
  dv.setInt16(254, 1, true); // sform_code
  if (q) {
    [q.b, q.c, q.d, t[0], t[1], t[2]].forEach((v, i) => dv.setFloat32(256 + 4 * i, v, true));
  }
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) dv.setFloat32(280 + 16 * r + 4 * c, rot[3 * r + c] * sp[c], true);
    dv.setFloat32(280 + 16 * r + 12, t[r], true);
  }
  out.set([0x6e, 0x2b, 0x31, 0], 344); // 'n+1\0'
  out.set(vox, VOX_OFFSET);
  return out;
}

/** Writes `.nii` or `.nii.gz` (by extension) atomically; gzip output is deterministic. */
export function writeNifti(path: string, volume: Volume, opts: NiftiWriteOptions = {}): void {
  const raw = encodeNifti(volume, opts);
  writeFileAtomic(path, path.toLowerCase().endsWith('.gz') ? gzipDeterministic(raw, opts.gzipLevel ?? DEFAULT_GZIP_LEVEL) : raw);
}

