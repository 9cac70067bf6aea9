/**
 * Read-only preview reader for NIfTI-1 (.nii / .nii.gz), for the report's overlays only.
 *
 * The report may not depend on libs/data (lint scope), so this is a small, bounded reader of the one
 * case the report needs: a 3-D volume of uint8, int16 or float32 voxels (CT images and label maps as
 * the curator and trainer write them). Everything else is refused with a typed error naming the file.
 * Sizes are checked before allocating: the file, the inflated stream, and the header's declared payload
 * are all bounded by `maxBytes`. Geometry is read from the sform (or the qform, or pixdim), converted to
 * LPS as in libs/data: `direction` columns are the unit vectors of the i, j, k axes. For anything beyond
 * previews (training, evaluation), use libs/data's readNifti.
 */
import { readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export type PreviewVoxels = Uint8Array | Int16Array | Float32Array;

export interface PreviewVolume {
  /** [nx, ny, nz], i fastest. */
  shape: [number, number, number];
  spacingMm: [number, number, number];
  /** Row-major 3x3, columns = LPS unit vectors of the i, j, k axes. */
  direction: number[];
  data: PreviewVoxels;
}

export class NiftiPreviewError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'NiftiPreviewError';
  }
}

/** Default bound on the voxel payload: 512 MiB (a 512x512x500 float32 CT). */
export const PREVIEW_MAX_BYTES = 512 * 1024 * 1024;
const HEADER = 348;

export function readNiftiPreview(file: string, maxBytes = PREVIEW_MAX_BYTES): PreviewVolume {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    throw new NiftiPreviewError(file, `cannot read (${(e as Error).message})`);
  }
  if (size > maxBytes + 65536) throw new NiftiPreviewError(file, `file of ${size} bytes is over the ${maxBytes}-byte preview limit`);
  return parseNiftiPreview(file, readFileSync(file), maxBytes);
}

/** Parses NIfTI-1 bytes (gzip detected by its magic). */
export function parseNiftiPreview(file: string, bytes: Uint8Array, maxBytes = PREVIEW_MAX_BYTES): PreviewVolume {
  let raw: Uint8Array = bytes;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      raw = gunzipSync(bytes, { maxOutputLength: maxBytes + 65536 });
    } catch (e) {
      const msg = (e as Error).message;
      throw new NiftiPreviewError(file, /maxOutputLength|buffer length|Cannot create a Buffer/i.test(msg) ? `gzip stream inflates past the ${maxBytes}-byte preview limit` : `bad gzip stream (${msg})`);
    }
  }
  if (raw.length < HEADER) throw new NiftiPreviewError(file, `${raw.length} bytes, shorter than a NIfTI-1 header`);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const little = dv.getInt32(0, true) === HEADER;
  if (!little && dv.getInt32(0, false) !== HEADER) throw new NiftiPreviewError(file, 'not NIfTI-1 (sizeof_hdr is not 348)');
  const magic = String.fromCharCode(raw[344], raw[345], raw[346]);
  if (magic !== 'n+1' && magic !== 'ni1') throw new NiftiPreviewError(file, `bad magic "${magic}"`);
  const i16 = (o: number) => dv.getInt16(o, little), f32 = (o: number) => dv.getFloat32(o, little);
  const ndim = i16(40);
  const dims = [1, 2, 3, 4, 5, 6, 7].map((k) => i16(40 + 2 * k));
  if (ndim < 1 || ndim > 7) throw new NiftiPreviewError(file, `dim[0] = ${ndim}`);
  if (dims.slice(3, ndim).some((d) => d !== 1)) throw new NiftiPreviewError(file, `only 3-D volumes are previewed, not ${dims.slice(0, ndim).join('x')}`);
  const shape = [0, 1, 2].map((k) => (k < ndim ? dims[k] : 1)) as [number, number, number];
  if (shape.some((d) => !(d >= 1))) throw new NiftiPreviewError(file, `bad dimensions ${shape.join('x')}`);
  const datatype = i16(70), bitpix = i16(72);
  const type = ({ 2: 'uint8', 4: 'int16', 16: 'float32' } as Record<number, 'uint8' | 'int16' | 'float32'>)[datatype];
  if (!type) throw new NiftiPreviewError(file, `datatype ${datatype} is not previewed (uint8, int16, float32 only)`);
  const bytesPer = { uint8: 1, int16: 2, float32: 4 }[type];
  if (bitpix !== bytesPer * 8) throw new NiftiPreviewError(file, `bitpix ${bitpix} does not match ${type}`);
  const voxels = shape[0] * shape[1] * shape[2];
  if (voxels * bytesPer > maxBytes) throw new NiftiPreviewError(file, `header declares ${shape.join('x')} ${type}, over the ${maxBytes}-byte preview limit`);
  const offset = f32(108);
  if (!(offset >= HEADER) || offset !== Math.floor(offset) || offset > 1 << 20) throw new NiftiPreviewError(file, `vox_offset ${offset} is invalid`);
  if (raw.length < offset + voxels * bytesPer) throw new NiftiPreviewError(file, `truncated: ${shape.join('x')} ${type} needs ${offset + voxels * bytesPer} bytes, found ${raw.length}`);

  let data: PreviewVoxels;
  if (type === 'uint8') data = new Uint8Array(raw.subarray(offset, offset + voxels)); // a copy, and a plain Uint8Array (not a Buffer)
  else if (type === 'int16') {
    data = new Int16Array(voxels);
    for (let i = 0; i < voxels; i++) data[i] = dv.getInt16(offset + 2 * i, little);
  } else {
    data = new Float32Array(voxels);
    for (let i = 0; i < voxels; i++) data[i] = dv.getFloat32(offset + 4 * i, little);
  }
  const slope = f32(112), inter = f32(116);
  if (Number.isFinite(slope) && slope !== 0 && !(slope === 1 && (inter === 0 || !Number.isFinite(inter)))) {
    const scaled = new Float32Array(voxels);
    for (let i = 0; i < voxels; i++) scaled[i] = data[i] * slope + (Number.isFinite(inter) ? inter : 0);
    data = scaled;
  }
  const ras = rasAffine(dv, little);
  // RAS -> LPS: negate the first two rows.
  const lps = [-ras[0], -ras[1], -ras[2], -ras[3], -ras[4], -ras[5], ras[6], ras[7], ras[8]];
  const spacingMm = [0, 1, 2].map((c) => Math.hypot(lps[c], lps[3 + c], lps[6 + c])) as [number, number, number];
  if (spacingMm.some((s) => !(s > 0) || !Number.isFinite(s))) throw new NiftiPreviewError(file, `bad voxel spacing ${spacingMm.join('x')}`);
  const direction = lps.map((v, i) => v / spacingMm[i % 3] + 0);
  return { shape, spacingMm, direction, data };
}

/** Row-major 3x3 (RAS, scaled by spacing): sform when set, else qform, else pixdim. */
function rasAffine(dv: DataView, little: boolean): number[] {
  const i16 = (o: number) => dv.getInt16(o, little), f32 = (o: number) => dv.getFloat32(o, little);
  const pix = [1, 2, 3].map((k) => Math.abs(f32(76 + 4 * k)) || 1);
  if (i16(254) > 0) return [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => f32(280 + 16 * r + 4 * c)));
  if (i16(252) > 0) {
    const b = f32(256), c = f32(260), d = f32(264);
    const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
    const qfac = f32(76) < 0 ? -1 : 1;
    const r = [
      a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c),
      2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b),
      2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b,
    ];
    const s = [pix[0], pix[1], pix[2] * qfac];
    return r.map((v, i) => v * s[i % 3]);
  }
  return [pix[0], 0, 0, 0, pix[1], 0, 0, 0, pix[2]];
}
