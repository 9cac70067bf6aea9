/**
 * NRRD (.nrrd attached, .nhdr detached) <-> Volume. Space LPS is native; RAS and LAS are converted.
 * Encodings raw and gzip. Key/value pairs (`key:=value`) are returned and can be written back.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { VolumeIOError } from './errors';
import { DEFAULT_GZIP_LEVEL, gunzipBounded, gzipDeterministic, MAX_VOLUME_BYTES, writeFileAtomic } from './fileio';
import { decodeVoxels, voxelBytesLE, voxelTypeOf, VOXEL_CTORS, type VoxelTypeName } from './voxel-types';
import type { Mat3, Vec3, Volume } from './volume';

export interface NrrdImage {
  volume: Volume;
  /** `key:=value` pairs in file order (values unescaped). */
  keyValues: Record<string, string>;
}

export interface NrrdReadOptions {
  /** Largest voxel payload accepted, bytes (default 2^31 - 1). */
  maxBytes?: number;
}

export interface NrrdWriteOptions {
  /** 'gzip' (default) or 'raw'. */
  encoding?: 'raw' | 'gzip';
  /** gzip level 1..9 (default DEFAULT_GZIP_LEVEL = 2). */
  gzipLevel?: number;
  keyValues?: Record<string, string>;
  /** For a `.nhdr` path: the data file name written next to it (default `<name>.raw` or `.raw.gz`). */
  dataFileName?: string;
}

const TYPE_ALIASES: Record<string, VoxelTypeName> = {};
for (const [names, t] of [
  [['signed char', 'int8', 'int8_t'], 'int8'],
  [['uchar', 'unsigned char', 'uint8', 'uint8_t'], 'uint8'],
  [['short', 'short int', 'signed short', 'signed short int', 'int16', 'int16_t'], 'int16'],
  [['ushort', 'unsigned short', 'unsigned short int', 'uint16', 'uint16_t'], 'uint16'],
  [['int', 'signed int', 'int32', 'int32_t'], 'int32'],
  [['uint', 'unsigned int', 'uint32', 'uint32_t'], 'uint32'],
  [['float'], 'float32'],
  [['double'], 'float64'],
] as [string[], VoxelTypeName][]) {
  for (const n of names) TYPE_ALIASES[n] = t;
}
const TYPE_NAMES: Record<VoxelTypeName, string> = { int8: 'int8', uint8: 'uint8', int16: 'short', uint16: 'ushort', int32: 'int', uint32: 'uint', float32: 'float', float64: 'double' };

/** Axis flips (x, y) from the file's space to LPS. */
const SPACES: Record<string, [number, number]> = {
  'left-posterior-superior': [1, 1],
  lps: [1, 1],
  'right-anterior-superior': [-1, -1],
  ras: [-1, -1],
  'left-anterior-superior': [1, -1],
  las: [1, -1],
};

function parseVector(file: string, s: string): number[] | null {
  const t = s.trim();
  if (t === 'none') return null;
  const m = /^\(([^)]*)\)$/.exec(t);
  const v = m ? m[1].split(',').map(Number) : [];
  if (!m || v.some((x) => !Number.isFinite(x))) throw new VolumeIOError(file, 'BAD_HEADER', `bad vector '${t}'`);
  return v;
}

function unescapeValue(v: string): string {
  return v.replace(/\\(n|\\)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Header fields (lower-cased names) and key/values, and where the attached data begins. */
function parseHeaderText(file: string, bytes: Uint8Array): { fields: Map<string, string>; keyValues: Record<string, string>; dataStart: number } {
  if (bytes.length < 8 || String.fromCharCode(...bytes.subarray(0, 4)) !== 'NRRD' || !/^NRRD000[1-5]$/.test(String.fromCharCode(...bytes.subarray(0, 8)))) {
    throw new VolumeIOError(file, 'BAD_MAGIC', "does not start with 'NRRD000x'");
  }
  // Header ends at the first empty line (or at end of file for a detached header).
  const limit = Math.min(bytes.length, 1 << 20);
  let end = -1, dataStart = bytes.length;
  for (let i = 0; i < limit; i++) {
    if (bytes[i] === 0x0a && (bytes[i + 1] === 0x0a || (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a))) {
      end = i;
      dataStart = i + (bytes[i + 1] === 0x0a ? 2 : 3);
      break;
    }
  }
  if (end < 0) {
    if (bytes.length > limit) throw new VolumeIOError(file, 'BAD_HEADER', 'no end of header within the first MiB');
    end = bytes.length;
  }
  const text = Buffer.from(bytes.subarray(0, end)).toString('utf8');
  const fields = new Map<string, string>();
  const keyValues: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/).slice(1)) {
    const line = raw.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const kv = line.indexOf(':=');
    const colon = line.indexOf(': ');
    if (kv >= 0 && (colon < 0 || kv < colon)) {
      keyValues[line.slice(0, kv)] = unescapeValue(line.slice(kv + 2));
    } else if (colon > 0) {
      fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 2).trim());
    } else {
      throw new VolumeIOError(file, 'BAD_HEADER', `unreadable header line '${line.slice(0, 80)}'`);
    }
  }
  return { fields, keyValues, dataStart };
}

/** Resolves a detached data file, refusing anything outside the header's folder (symlinks included). */
function detachedPath(file: string, name: string): string {
  const dir = dirname(resolve(file));
  if (isAbsolute(name)) throw new VolumeIOError(file, 'PATH_ESCAPE', `data file '${name}' is an absolute path; it must lie in the header's folder`);
  const p = resolve(dir, name);
  const rel = relative(dir, p);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new VolumeIOError(file, 'PATH_ESCAPE', `data file '${name}' leaves the header's folder`);
  let real: string;
  try {
    real = realpathSync(p);
  } catch (e) {
    throw new VolumeIOError(file, 'IO', `data file '${name}' cannot be opened: ${(e as Error).message}`, { cause: e });
  }
  const realDir = realpathSync(dir);
  if (!real.startsWith(realDir + sep)) throw new VolumeIOError(file, 'PATH_ESCAPE', `data file '${name}' resolves outside the header's folder`);
  return real;
}

/** Reads a .nrrd or .nhdr file. See {@link parseNrrd}. */
export function readNrrd(path: string, opts: NrrdReadOptions = {}): NrrdImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new VolumeIOError(path, 'IO', `cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseNrrd(path, bytes, opts);
}

/**
 * Parses NRRD bytes; a detached data file is read relative to `file`'s folder and must stay in it.
 * Throws VolumeIOError: BAD_MAGIC, BAD_HEADER, UNSUPPORTED_DATATYPE, UNSUPPORTED_ENCODING, TOO_LARGE,
 * TRUNCATED, SIZE_MISMATCH (extra bytes), PATH_ESCAPE, BAD_GEOMETRY.
 */
export function parseNrrd(file: string, bytes: Uint8Array, opts: NrrdReadOptions = {}): NrrdImage {
  const maxBytes = opts.maxBytes ?? MAX_VOLUME_BYTES;
  const { fields, keyValues, dataStart } = parseHeaderText(file, bytes);
  const need = (k: string) => {
    const v = fields.get(k);
    if (v === undefined) throw new VolumeIOError(file, 'BAD_HEADER', `required field '${k}' is missing`);
    return v;
  };
  const typeName = need('type').toLowerCase();
  const type = TYPE_ALIASES[typeName];
  if (!type) throw new VolumeIOError(file, 'UNSUPPORTED_DATATYPE', `type '${typeName}' is not supported`);
  const dimension = Number(need('dimension'));
  const sizes = need('sizes').split(/\s+/).map(Number);
  if (!Number.isInteger(dimension) || dimension < 1 || sizes.length !== dimension || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new VolumeIOError(file, 'BAD_HEADER', `dimension ${dimension} and sizes '${fields.get('sizes')}' disagree or are invalid`);
  }
  const spaceName = (fields.get('space') ?? '').toLowerCase();
  const flips = spaceName ? SPACES[spaceName] : undefined;
  if (spaceName && !flips) throw new VolumeIOError(file, 'BAD_GEOMETRY', `space '${spaceName}' is not supported (LPS, RAS or LAS)`);
  const dirsText = fields.get('space directions');
  const dirs = dirsText ? dirsText.trim().split(/\s+(?=\(|none)/).map((s) => parseVector(file, s)) : undefined;
  if (dirs && dirs.length !== dimension) throw new VolumeIOError(file, 'BAD_HEADER', `${dirs.length} space directions for dimension ${dimension}`);
  // Spatial axes: those with a direction (or all, without 'space directions'); others must be singletons.
  const spatial = sizes.map((_, i) => (dirs ? dirs[i] !== null : true));
  const spatialAxes = spatial.flatMap((s, i) => (s ? [i] : []));
  sizes.forEach((s, i) => {
    if (!spatial[i] && s !== 1) throw new VolumeIOError(file, 'UNSUPPORTED_DATATYPE', `non-spatial axis ${i} has size ${s}; only singleton extra axes are supported`);
  });
  if (spatialAxes.length > 3 || (dirs && spatialAxes.length !== 3)) {
    throw new VolumeIOError(file, 'UNSUPPORTED_DATATYPE', `${spatialAxes.length} spatial axes; only 3-D volumes are supported`);
  }
  while (spatialAxes.length < 3) spatialAxes.push(-1);
  const shape = spatialAxes.map((a) => (a < 0 ? 1 : sizes[a])) as Vec3;
  const voxels = shape[0] * shape[1] * shape[2];
  const size = VOXEL_CTORS[type].BYTES_PER_ELEMENT;
  const payload = voxels * size;
  if (payload > maxBytes) throw new VolumeIOError(file, 'TOO_LARGE', `header declares ${sizes.join('x')} ${type} = ${payload} bytes, over the ${maxBytes}-byte limit`);

  // Geometry.
  let spacing: Vec3 = [1, 1, 1], origin: Vec3 = [0, 0, 0], direction: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  if (dirs) {
    const [fx, fy] = flips ?? [1, 1];
    const cols = spatialAxes.map((a) => {
      const v = dirs[a]!;
      if (v.length !== 3) throw new VolumeIOError(file, 'BAD_GEOMETRY', `space direction ${a} has ${v.length} components, need 3`);
      return [v[0] * fx + 0, v[1] * fy + 0, v[2] + 0];
    });
    spacing = cols.map((c) => Math.hypot(c[0], c[1], c[2])) as Vec3;
    if (spacing.some((s) => !(s > 0))) throw new VolumeIOError(file, 'BAD_GEOMETRY', 'a space direction has zero length');
    direction = [0, 1, 2].flatMap((r) => cols.map((c, ci) => c[r] / spacing[ci] + 0)) as Mat3; // + 0: no -0
    const o = fields.get('space origin');
    if (o) {
      const v = parseVector(file, o);
      if (!v || v.length !== 3) throw new VolumeIOError(file, 'BAD_GEOMETRY', `space origin '${o}' needs 3 components`);
      origin = [v[0] * fx + 0, v[1] * fy + 0, v[2] + 0];
    }
  } else if (fields.has('spacings')) {
    const sp = fields.get('spacings')!.split(/\s+/).map(Number);
    spacing = spatialAxes.map((a) => (a >= 0 && Number.isFinite(sp[a]) && sp[a] > 0 ? sp[a] : 1)) as Vec3;
  }

  // Data bytes.
  const encoding = need('encoding').toLowerCase();
  if (!['raw', 'gzip', 'gz'].includes(encoding)) throw new VolumeIOError(file, 'UNSUPPORTED_ENCODING', `encoding '${encoding}' is not supported (raw, gzip)`);
  const endian = (fields.get('endian') ?? 'little').toLowerCase();
  if (size > 1 && endian !== 'little' && endian !== 'big') throw new VolumeIOError(file, 'BAD_HEADER', `endian '${endian}'`);
  for (const k of ['line skip', 'lineskip']) if (fields.has(k) && Number(fields.get(k)) !== 0) throw new VolumeIOError(file, 'UNSUPPORTED_ENCODING', "'line skip' is not supported");
  const byteSkip = Number(fields.get('byte skip') ?? fields.get('byteskip') ?? 0);
  if (!(byteSkip === 0 || (byteSkip === -1 && encoding === 'raw'))) throw new VolumeIOError(file, 'UNSUPPORTED_ENCODING', `'byte skip: ${byteSkip}' is not supported`);
  const dataFile = fields.get('data file') ?? fields.get('datafile');
  let dataName = file, data: Uint8Array;
  if (dataFile) {
    if (/^LIST\b|%/.test(dataFile) || dataFile.split(/\s+/).length > 1) throw new VolumeIOError(file, 'UNSUPPORTED_ENCODING', `multi-file data '${dataFile}' is not supported`);
    dataName = detachedPath(file, dataFile);
    try {
      data = readFileSync(dataName);
    } catch (e) {
      throw new VolumeIOError(dataName, 'IO', `cannot read data file: ${(e as Error).message}`, { cause: e });
    }
  } else {
    data = bytes.subarray(dataStart);
  }
  if (encoding !== 'raw') data = gunzipBounded(dataName, data, payload + 1);
  else if (byteSkip === -1) data = data.subarray(Math.max(0, data.length - payload));
  if (data.length < payload) throw new VolumeIOError(dataName, 'TRUNCATED', `${data.length} data bytes, header declares ${sizes.join('x')} ${type} = ${payload}`);
  if (data.length > payload) throw new VolumeIOError(dataName, 'SIZE_MISMATCH', `${data.length - payload} bytes after the declared ${sizes.join('x')} ${type} voxels`);
  const volume: Volume = { data: decodeVoxels(type, data, 0, voxels, endian !== 'big'), shape, spacing, origin, direction };
  return { volume, keyValues };
}

function vec(v: number[]): string {
  return `(${v.map((x) => String(Object.is(x, -0) ? 0 : x)).join(',')})`;
}

/** NRRD header text (ends with the blank line) for `volume`, LPS, 3-D. */
function headerText(volume: Volume, encoding: 'raw' | 'gzip', keyValues: Record<string, string>, dataFile?: string): string {
  const d = volume.direction, s = volume.spacing;
  const cols = [0, 1, 2].map((c) => [d[c] * s[c], d[3 + c] * s[c], d[6 + c] * s[c]]);
  const lines = [
    'NRRD0004',
    '# Complete NRRD file format specification at: http://teem.sourceforge.net/nrrd/format.html',
    `type: ${TYPE_NAMES[voxelTypeOf(volume.data)]}`,
    'dimension: 3',
    'space: left-posterior-superior',
    `sizes: ${volume.shape.join(' ')}`,
    `space directions: ${cols.map(vec).join(' ')}`,
    'kinds: domain domain domain',
    'endian: little',
    `encoding: ${encoding}`,
    `space origin: ${vec(volume.origin)}`,
    ...(dataFile ? [`data file: ${dataFile}`] : []),
  ];
  for (const [k, v] of Object.entries(keyValues)) {
    if (!k || k.includes(':=') || /[\n\r]/.test(k)) throw new RangeError(`writeNrrd: invalid key '${k}'`);
    lines.push(`${k}:=${escapeValue(v)}`);
  }
  return lines.join('\n') + '\n\n';
}

/**
 * Writes `.nrrd` (attached) or `.nhdr` (+ detached data file in the same folder), atomically.
 * gzip output is deterministic.
 */
export function writeNrrd(path: string, volume: Volume, opts: NrrdWriteOptions = {}): void {
  const [nx, ny, nz] = volume.shape;
  if (volume.data.length !== nx * ny * nz) throw new RangeError(`writeNrrd: ${volume.data.length} voxels for shape ${volume.shape.join('x')}`);
  const encoding = opts.encoding ?? 'gzip';
  const raw = voxelBytesLE(volume.data);
  const payload = encoding === 'gzip' ? gzipDeterministic(raw, opts.gzipLevel ?? DEFAULT_GZIP_LEVEL) : raw;
  const kv = opts.keyValues ?? {};
  if (path.toLowerCase().endsWith('.nhdr')) {
    const name = opts.dataFileName ?? basename(path).replace(/\.nhdr$/i, encoding === 'gzip' ? '.raw.gz' : '.raw');
    if (basename(name) !== name || name.startsWith('.')) throw new VolumeIOError(path, 'PATH_ESCAPE', `data file name '${name}' must be a plain name in the header's folder`);
    writeFileAtomic(join(dirname(path), name), payload);
    writeFileAtomic(path, headerText(volume, encoding, kv, name));
    return;
  }
  const head = Buffer.from(headerText(volume, encoding, kv), 'utf8');
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  writeFileAtomic(path, out);
}
