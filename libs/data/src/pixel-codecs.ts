/**
 * Decoders for compressed frames: 16-bit greyscale (CT) in RLE Lossless (PS3.5 Annex G, here) and JPEG
 * Lossless processes 14 / 14 SV1 (jpeg-lossless-decoder-js), as little-endian 16-bit samples, rows *
 * columns of them; 8-bit or bit-packed 1-bit frames (DICOM SEG) in RLE Lossless.
 */
/// <reference path="./jpeg-lossless.d.ts" />
import { Decoder } from 'jpeg-lossless-decoder-js';
import { VolumeIOError } from './errors';

export const TS_RLE_LOSSLESS = '1.2.840.10008.1.2.5';
export const TS_JPEG_LOSSLESS_14 = '1.2.840.10008.1.2.4.57';
export const TS_JPEG_LOSSLESS_SV1 = '1.2.840.10008.1.2.4.70';
export const DECODABLE_TRANSFER_SYNTAXES = new Set([TS_RLE_LOSSLESS, TS_JPEG_LOSSLESS_14, TS_JPEG_LOSSLESS_SV1]);

/** Joins the fragments of one frame (a single-frame image's fragments form one codestream). */
export function joinFragments(fragments: ArrayBuffer[]): Uint8Array {
  const total = fragments.reduce((s, f) => s + f.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const f of fragments) {
    out.set(new Uint8Array(f), o);
    o += f.byteLength;
  }
  return out;
}

/** PackBits segment -> exactly `n` bytes into out[start + k * stride]; returns how many were produced. */
function unpackSegment(src: Uint8Array, from: number, to: number, out: Uint8Array, start: number, stride: number, n: number): number {
  let i = from, produced = 0;
  while (i < to && produced < n) {
    const c = src[i++];
    if (c < 128) {
      const count = Math.min(c + 1, to - i, n - produced);
      for (let k = 0; k < count; k++) out[start + stride * produced++] = src[i + k];
      i += c + 1;
    } else if (c > 128) {
      if (i >= to) break;
      const v = src[i++];
      const count = Math.min(257 - c, n - produced);
      for (let k = 0; k < count; k++) out[start + stride * produced++] = v;
    } // 128: no-op
  }
  return produced;
}

/** The segments' [start, end) byte ranges of an RLE Lossless frame, checked against its length. */
function rleSegments(file: string, frame: Uint8Array, expected: number, what: string): [number, number][] {
  if (frame.length < 64) throw new VolumeIOError(file, 'TRUNCATED', `RLE frame of ${frame.length} bytes has no 64-byte header`);
  const dv = new DataView(frame.buffer, frame.byteOffset, 64);
  const segments = dv.getUint32(0, true);
  if (segments !== expected) throw new VolumeIOError(file, 'UNSUPPORTED_DATATYPE', `RLE frame has ${segments} segments; ${what} needs ${expected}`);
  const offsets = [...Array.from({ length: segments }, (_, s) => dv.getUint32(4 + 4 * s, true)), frame.length];
  if (!(offsets[0] >= 64 && offsets.every((o, s) => s === 0 || offsets[s - 1] <= o))) {
    throw new VolumeIOError(file, 'BAD_HEADER', `RLE segment offsets ${offsets.slice(0, segments).join(', ')} do not fit a ${frame.length}-byte frame`);
  }
  return offsets.slice(0, segments).map((o, s) => [o, offsets[s + 1]]);
}

/** PackBits expands at most 64:1 (a 2-byte run gives 128 bytes): whether a frame can hold `bytes`, checked before allocating. */
export const rleFrameCanHold = (frameLength: number, bytes: number) => (frameLength - 64) * 64 >= bytes;

/** RLE Lossless frame of 16-bit samples -> little-endian bytes (2 * pixels). */
export function decodeRle16(file: string, frame: Uint8Array, pixels: number): Uint8Array {
  const ranges = rleSegments(file, frame, 2, '16-bit greyscale');
  if (!rleFrameCanHold(frame.length, 2 * pixels)) throw new VolumeIOError(file, 'TRUNCATED', `RLE frame of ${frame.length} bytes cannot hold ${pixels} 16-bit pixels`);
  const out = new Uint8Array(2 * pixels);
  // Segment 0 holds the most significant bytes, segment 1 the least significant.
  for (const [seg, byte] of [[0, 1], [1, 0]] as const) {
    const got = unpackSegment(frame, ranges[seg][0], ranges[seg][1], out, byte, 2, pixels);
    if (got < pixels) throw new VolumeIOError(file, 'TRUNCATED', `RLE segment ${seg} decodes to ${got} bytes, ${pixels} needed`);
  }
  return out;
}

/**
 * RLE Lossless frame of one 8-bit segment -> its `bytes` bytes, into `out` at `at` (8-bit samples, or a
 * 1-bit frame's packed bits).
 */
export function decodeRle8(file: string, frame: Uint8Array, bytes: number, out: Uint8Array, at = 0): void {
  const [[from, to]] = rleSegments(file, frame, 1, 'an 8-bit or 1-bit frame');
  if (!rleFrameCanHold(frame.length, bytes)) throw new VolumeIOError(file, 'TRUNCATED', `RLE frame of ${frame.length} bytes cannot hold ${bytes} bytes`);
  const got = unpackSegment(frame, from, to, out, at, 1, bytes);
  if (got < bytes) throw new VolumeIOError(file, 'TRUNCATED', `RLE segment decodes to ${got} bytes, ${bytes} needed`);
}

/** JPEG Lossless frame -> little-endian 16-bit bytes (2 * pixels). */
export function decodeJpegLossless16(file: string, frame: Uint8Array, rows: number, columns: number): Uint8Array {
  const pixels = rows * columns;
  // The decoder allocates what the frame header (SOF3) declares: check it against the DICOM header first.
  const sof = findSof3(frame);
  if (!sof) throw new VolumeIOError(file, 'BAD_HEADER', 'JPEG Lossless frame has no SOF3 marker');
  if (sof.rows !== rows || sof.columns !== columns || sof.components !== 1) {
    throw new VolumeIOError(file, 'SIZE_MISMATCH', `JPEG frame is ${sof.columns}x${sof.rows}x${sof.components}, the DICOM header says ${columns}x${rows}x1`);
  }
  let buf: ArrayBuffer;
  try {
    const ab = frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer;
    buf = new Decoder(undefined, 2).decompress(ab, 0, ab.byteLength);
  } catch (e) {
    throw new VolumeIOError(file, 'BAD_HEADER', `JPEG Lossless decoding failed: ${(e as Error).message}`, { cause: e });
  }
  if (buf.byteLength < 2 * pixels) throw new VolumeIOError(file, 'TRUNCATED', `JPEG Lossless frame decodes to ${buf.byteLength} bytes, ${2 * pixels} needed`);
  return new Uint8Array(buf, 0, 2 * pixels);
}

/** Height, width and components of the first SOF3 (lossless Huffman) segment. */
function findSof3(b: Uint8Array): { rows: number; columns: number; components: number } | undefined {
  for (let i = 0; i + 9 < b.length; i++) {
    if (b[i] === 0xff && b[i + 1] === 0xc3) {
      return { rows: (b[i + 5] << 8) | b[i + 6], columns: (b[i + 7] << 8) | b[i + 8], components: b[i + 9] };
    }
  }
  return undefined;
}
