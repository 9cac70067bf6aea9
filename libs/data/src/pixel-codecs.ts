/**
 * Decoders for compressed frames: 16-bit greyscale (CT) in RLE Lossless (PS3.5 Annex G, here), JPEG
 * Lossless processes 14 / 14 SV1 (jpeg-lossless-decoder-js), JPEG-LS lossless (CharLS), JPEG 2000 and
 * HTJ2K reversible (OpenJPEG), as little-endian 16-bit samples, rows * columns of them; 8-bit frames (DICOM
 * SEG) in JPEG-LS, JPEG 2000 and HTJ2K, and 8-bit or bit-packed 1-bit ones in RLE Lossless. Lossy codestreams
 * (near-lossless JPEG-LS, irreversible JPEG 2000 and HTJ2K) are refused, as they changed the CT numbers,
 * unless the caller passes a {@link LossyFrames} that accepts them and hears why each is lossy.
 */
/// <reference path="./jpeg-lossless.d.ts" />
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Decoder } from 'jpeg-lossless-decoder-js';
import { VolumeIOError } from './errors';

export const TS_RLE_LOSSLESS = '1.2.840.10008.1.2.5';
export const TS_JPEG_LOSSLESS_14 = '1.2.840.10008.1.2.4.57';
export const TS_JPEG_LOSSLESS_SV1 = '1.2.840.10008.1.2.4.70';
export const TS_JPEG_LS_LOSSLESS = '1.2.840.10008.1.2.4.80';
/** Near-lossless JPEG-LS: each value within NEAR of the original's; decoded only when lossy frames are accepted. */
export const TS_JPEG_LS_NEAR_LOSSLESS = '1.2.840.10008.1.2.4.81';
export const TS_JPEG_2000_LOSSLESS = '1.2.840.10008.1.2.4.90';
/** JPEG 2000 that may be lossy: decoded when its codestream is reversible (then it is lossless too). */
export const TS_JPEG_2000 = '1.2.840.10008.1.2.4.91';
/** High-Throughput JPEG 2000 (Part 15): lossless, lossless with RPCL progression, and possibly lossy. */
export const TS_HTJ2K_LOSSLESS = '1.2.840.10008.1.2.4.201';
export const TS_HTJ2K_LOSSLESS_RPCL = '1.2.840.10008.1.2.4.202';
export const TS_HTJ2K = '1.2.840.10008.1.2.4.203';
/** The JPEG 2000 family: reversible codestreams decoded, irreversible ones refused. */
export const JPEG_2000_TRANSFER_SYNTAXES = new Set([TS_JPEG_2000_LOSSLESS, TS_JPEG_2000, TS_HTJ2K_LOSSLESS, TS_HTJ2K_LOSSLESS_RPCL, TS_HTJ2K]);
/** Syntaxes whose name allows lossy coding: only the image's LossyImageCompression says a reversible wavelet was truncated. */
export const MAYBE_LOSSY_TRANSFER_SYNTAXES = new Set([TS_JPEG_2000, TS_HTJ2K]);
export const DECODABLE_TRANSFER_SYNTAXES = new Set([TS_RLE_LOSSLESS, TS_JPEG_LOSSLESS_14, TS_JPEG_LOSSLESS_SV1, TS_JPEG_LS_LOSSLESS, ...JPEG_2000_TRANSFER_SYNTAXES]);
/** Syntaxes lossy by name, decoded only when lossy frames are accepted. */
export const LOSSY_TRANSFER_SYNTAXES = new Set([TS_JPEG_LS_NEAR_LOSSLESS]);

/** Lossy frames accepted (decoded), each reported with why it is lossy ("JPEG-LS NEAR 3"); without one, refused. */
export interface LossyFrames {
  accept(why: string): void;
}

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
  const sof = findFrameHeader(frame, 0xc3);
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

/** Height, width and components of the first frame header with this marker: SOF3 (0xc3, lossless Huffman) or SOF55 (0xf7, JPEG-LS). */
function findFrameHeader(b: Uint8Array, marker: number): { rows: number; columns: number; components: number } | undefined {
  for (let i = 0; i + 9 < b.length; i++) {
    if (b[i] === 0xff && b[i + 1] === marker) {
      return { rows: (b[i + 5] << 8) | b[i + 6], columns: (b[i + 7] << 8) | b[i + 8], components: b[i + 9] };
    }
  }
  return undefined;
}

/** What the Emscripten builds of CharLS and OpenJPEG (@cornerstonejs/codec-*) offer a decoder. */
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean };
  delete(): void;
}
interface CharlsModule { JpegLSDecoder: new () => WasmDecoder & { getNearLossless(): number } }
interface OpenJpegModule { J2KDecoder: new () => WasmDecoder & { getIsReversible(): boolean } }

const requireHere = createRequire(import.meta.url);
// Node's WebAssembly, typed here: the project's lib settings (no DOM) do not declare it
interface WasmInstance { exports: object }
const wasmApi = (globalThis as unknown as { WebAssembly: { Module: new (binary: Uint8Array) => object; Instance: new (module: object, imports: object) => WasmInstance } }).WebAssembly;
/** The codec's last message on stderr (OpenJPEG reports a bad codestream there, not by throwing). */
let codecMessage = '';

/**
 * An Emscripten codec module, compiled and instantiated synchronously (its own loader is asynchronous) so
 * that the CT reader stays synchronous; loaded on the first frame that needs it.
 */
function instantiateCodec<T>(js: string, wasm: string): T {
  const factory = requireHere(js) as (module: object) => unknown;
  const binary = readFileSync(requireHere.resolve(wasm));
  const module: Record<string, unknown> = {
    instantiateWasm(imports: object, receive: (instance: WasmInstance) => void) {
      const instance = new wasmApi.Instance(new wasmApi.Module(binary), imports);
      receive(instance);
      return instance.exports;
    },
    print: () => undefined,
    // OpenJPEG's warnings come here too; only its errors mean a failed decode
    printErr: (message: string) => void (/^\s*\[ERROR\]/.test(message) && (codecMessage = message)),
  };
  const ready = factory(module) as Promise<unknown> | undefined;
  ready?.then?.(undefined, () => undefined);
  return module as T;
}

let charls: CharlsModule | undefined;
let openJpeg: OpenJpegModule | undefined;

/**
 * Runs one frame through a codec's decoder: sizes checked before decoding, the samples copied out of the
 * module's memory. A failure is BAD_HEADER naming the file; the module is dropped (an aborted one is
 * unusable) and loaded anew for the next frame.
 */
function decodeWith<D extends WasmDecoder>(
  file: string, what: string, frame: Uint8Array, rows: number, columns: number, bytesPerSample: 1 | 2,
  make: () => D, drop: () => void, afterDecode: (d: D) => void,
): Uint8Array {
  // A codestream cut short (no end marker, FFD9 in both, before at most one byte of padding) is refused
  // before decoding: CharLS spends seconds on one before it gives up.
  const end = frame.length >= 3 && frame[frame.length - 1] === 0 ? frame.length - 1 : frame.length;
  if (end < 2 || frame[end - 2] !== 0xff || frame[end - 1] !== 0xd9) throw new VolumeIOError(file, 'TRUNCATED', `${what} frame of ${frame.length} bytes does not end with an end-of-image marker (cut short?)`);
  let decoder: D | undefined;
  codecMessage = '';
  try {
    decoder = make();
    decoder.getEncodedBuffer(frame.length).set(frame);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (codecMessage || !info.width) throw new VolumeIOError(file, 'BAD_HEADER', `${what} decoding failed${codecMessage ? `: ${codecMessage.trim()}` : ''}`);
    checkFrameInfo(file, what, info, rows, columns, bytesPerSample);
    afterDecode(decoder);
    const decoded = decoder.getDecodedBuffer(), bytes = bytesPerSample * rows * columns;
    if (decoded.length < bytes) throw new VolumeIOError(file, 'TRUNCATED', `${what} frame decodes to ${decoded.length} bytes, ${bytes} needed`);
    return decoded.slice(0, bytes);
  } catch (e) {
    if (e instanceof VolumeIOError) throw e;
    drop();
    decoder = undefined;
    const reason = e instanceof Error ? e.message : `the codec stopped (${String(e)})`;
    throw new VolumeIOError(file, 'BAD_HEADER', `${what} decoding failed: ${reason}`, { cause: e });
  } finally {
    try {
      decoder?.delete();
    } catch {
      drop();
    }
  }
}

function checkFrameInfo(file: string, what: string, info: ReturnType<WasmDecoder['getFrameInfo']>, rows: number, columns: number, bytesPerSample: 1 | 2): void {
  if (info.height !== rows || info.width !== columns || info.componentCount !== 1) {
    throw new VolumeIOError(file, 'SIZE_MISMATCH', `${what} frame is ${info.width}x${info.height}x${info.componentCount}, the DICOM header says ${columns}x${rows}x1`);
  }
  const [lo, hi] = bytesPerSample === 2 ? [9, 16] : [1, 8];
  if (info.bitsPerSample < lo || info.bitsPerSample > hi) throw new VolumeIOError(file, 'UNSUPPORTED_DATATYPE', `${what} frame holds ${info.bitsPerSample}-bit samples; ${lo} to ${hi} expected`);
}

/**
 * JPEG-LS frame (CharLS) -> its samples: little-endian 16-bit (CT, 2 bytes a pixel) or 8-bit (SEG, a byte
 * a pixel); a near-lossless one is refused.
 */
export function decodeJpegLs(file: string, frame: Uint8Array, rows: number, columns: number, bytesPerSample: 1 | 2 = 2, lossy?: LossyFrames): Uint8Array {
  // CharLS allocates what the frame header (SOF55) declares: check it against the DICOM header first.
  const sof = findFrameHeader(frame, 0xf7);
  if (!sof) throw new VolumeIOError(file, 'BAD_HEADER', 'JPEG-LS frame has no SOF55 marker');
  if (sof.rows !== rows || sof.columns !== columns || sof.components !== 1) {
    throw new VolumeIOError(file, 'SIZE_MISMATCH', `JPEG-LS frame is ${sof.columns}x${sof.rows}x${sof.components}, the DICOM header says ${columns}x${rows}x1`);
  }
  return decodeWith(
    file, 'JPEG-LS', frame, rows, columns, bytesPerSample,
    () => new (charls ??= instantiateCodec<CharlsModule>('@cornerstonejs/codec-charls/decodewasmjs', '@cornerstonejs/codec-charls/decodewasm')).JpegLSDecoder(),
    () => void (charls = undefined),
    (d) => {
      const near = d.getNearLossless();
      if (near !== 0 && lossy) lossy.accept(`JPEG-LS NEAR ${near}`);
      else if (near !== 0) throw new VolumeIOError(file, 'UNSUPPORTED_ENCODING', `JPEG-LS frame is near-lossless (NEAR ${near}): its values differ from the original's by up to ${near}; export it lossless`);
    },
  );
}

/**
 * JPEG 2000 codestream (OpenJPEG) -> its samples, as {@link decodeJpegLs}. Its SIZ marker's size is
 * checked against the DICOM header before decoding; an irreversible (9/7 wavelet, lossy) one is refused.
 */
export function decodeJpeg2000(file: string, frame: Uint8Array, rows: number, columns: number, bytesPerSample: 1 | 2 = 2, lossy?: LossyFrames): Uint8Array {
  return decodeWithOpenJpeg(file, 'JPEG 2000', frame, rows, columns, bytesPerSample, lossy);
}

/**
 * High-Throughput JPEG 2000 codestream -> its samples, as {@link decodeJpeg2000}: OpenJPEG decodes HTJ2K
 * too. (OpenJPH's own WebAssembly decoder, @cornerstonejs/codec-openjph 2.4.11, hangs on some damaged
 * codestreams that OpenJPEG refuses: found by mutation.test.ts.)
 */
export function decodeHtj2k(file: string, frame: Uint8Array, rows: number, columns: number, bytesPerSample: 1 | 2 = 2, lossy?: LossyFrames): Uint8Array {
  return decodeWithOpenJpeg(file, 'HTJ2K', frame, rows, columns, bytesPerSample, lossy);
}

function decodeWithOpenJpeg(file: string, what: string, frame: Uint8Array, rows: number, columns: number, bytesPerSample: 1 | 2, lossy?: LossyFrames): Uint8Array {
  checkJ2kSize(file, what, frame, rows, columns);
  return decodeWith(
    file, what, frame, rows, columns, bytesPerSample,
    () => new (openJpeg ??= instantiateCodec<OpenJpegModule>('@cornerstonejs/codec-openjpeg/decodewasmjs', '@cornerstonejs/codec-openjpeg/decodewasm')).J2KDecoder(),
    () => void (openJpeg = undefined),
    (d) => {
      if (!d.getIsReversible() && lossy) lossy.accept(`${what} irreversible wavelet`);
      else if (!d.getIsReversible()) throw new VolumeIOError(file, 'UNSUPPORTED_ENCODING', `${what} frame is irreversible (lossy): its values differ from the original's; export it lossless`);
    },
  );
}

/** A JPEG 2000 family frame of the transfer syntax `ts` -> its samples. */
export function decodeJpeg2000Family(file: string, ts: string, frame: Uint8Array, rows: number, columns: number, bytesPerSample: 1 | 2 = 2, lossy?: LossyFrames): Uint8Array {
  return (ts === TS_JPEG_2000_LOSSLESS || ts === TS_JPEG_2000 ? decodeJpeg2000 : decodeHtj2k)(file, frame, rows, columns, bytesPerSample, lossy);
}

/** The codec allocates what the SIZ marker declares: checked against the DICOM header before decoding. */
function checkJ2kSize(file: string, what: string, frame: Uint8Array, rows: number, columns: number): void {
  const siz = j2kSize(frame);
  if (!siz) throw new VolumeIOError(file, 'BAD_HEADER', `${what} frame has no SIZ marker after its SOC`);
  if (siz.rows !== rows || siz.columns !== columns || siz.components !== 1) {
    throw new VolumeIOError(file, 'SIZE_MISMATCH', `${what} frame is ${siz.columns}x${siz.rows}x${siz.components}, the DICOM header says ${columns}x${rows}x1`);
  }
}

/** Width, height and components from a JPEG 2000 codestream's SIZ marker segment (it follows SOC: ff4f ff51). */
function j2kSize(b: Uint8Array): { rows: number; columns: number; components: number } | undefined {
  if (b.length < 42 || b[0] !== 0xff || b[1] !== 0x4f || b[2] !== 0xff || b[3] !== 0x51) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, 42);
  // Lsiz (2), Rsiz (2), Xsiz, Ysiz, XOsiz, YOsiz (4 each), ..., Csiz (2) at offset 38 of the segment's start + 2
  const [x, y, x0, y0] = [8, 12, 16, 20].map((o) => dv.getUint32(o));
  return { columns: x - x0, rows: y - y0, components: dv.getUint16(40) };
}
