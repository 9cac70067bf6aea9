/**
 * Owner of the shared WebAssembly memory, the kernel instances and the worker threads.
 * Everything is synchronous from the caller's view: tfjs kernels on the cpu backend must
 * return their result, so the main thread computes chunks itself and then Atomics.waits.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { WORKER_SOURCE } from './worker-source';
import {
  type Conv3dGeometry, encodeGeometry, filterSize, GEO_LEN, inputSize, outputSize,
} from './geometry';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const FN = { fwd: 0, bwdInput: 1, bwdFilter: 2 } as const;
const MB = 16; // rows per A panel group (conv3d.c)
const YB = 256; // voxels per block in the filter gradient (conv3d.c)
const S_PANEL = 2048; // scratch header bytes (conv3d.c)

// ctrl slots
/** Chunks of a filter-gradient reduction, whatever the thread count (see conv3dBackpropFilter). */
const FILTER_CHUNKS = 32;
const C_SEQ = 0, C_FN = 1, C_NCHUNK = 2, C_NEXT = 3, C_DONE = 4, C_ARGS = 5;
const C_START = 10, C_END = 11, C_CHUNK = 12, C_SSTRIDE = 13, C_OSTRIDE = 14, C_ERR = 15;

/** Thrown when a convolution does not fit the 4 GiB wasm memory (callers fall back to stock). */
export class Conv3dTooLargeError extends Error {
  constructor(bytes: number) {
    super(`conv3d needs ${(bytes / 2 ** 30).toFixed(2)} GiB, more than the 4 GiB wasm32 memory`);
    this.name = 'Conv3dTooLargeError';
  }
}

interface Exports {
  pack_filter_fwd(g: number, w: number, bp: number): void;
  pack_filter_bwd(g: number, w: number, bp: number): void;
  conv3d_fwd(g: number, a: number, b: number, out: number, scratch: number, s: number, e: number): void;
  conv3d_bwd_input(g: number, a: number, b: number, out: number, scratch: number, s: number, e: number): void;
  conv3d_bwd_filter(g: number, a: number, b: number, out: number, scratch: number, s: number, e: number): void;
  sum_partials(base: number, n: number, count: number): void;
  peak_4x8(a: number, b: number, k: number, reps: number, out: number, scratch: number): void;
}

/** The parts of the WebAssembly JS API used here (the project's TS lib has no DOM types). */
interface WasmMemory { readonly buffer: SharedArrayBuffer; grow(pages: number): number }
type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Instance: new (m: WasmModule, imports: object) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let cachedModule: WasmModule | undefined;
/** The compiled conv3d.wasm (built from native/conv3d.c by native/build.sh). */
export function wasmModule(): WasmModule {
  cachedModule ??= new WA.Module(readFileSync(new URL('./native/conv3d.wasm', import.meta.url)));
  return cachedModule;
}

const align = (n: number, a = 64): number => Math.ceil(n / a) * a;

/** Bump allocator over one call's layout. */
class Layout {
  top: number;
  constructor(start: number) { this.top = start; }
  take(bytes: number): number {
    const at = this.top;
    this.top = align(at + bytes);
    return at;
  }
}

/**
 * A per-channel epilogue of the forward conv, applied in the wasm kernel: y = y * scale + offset,
 * then LeakyReLU with slope alpha unless alpha is null.
 */
export interface ConvEpilogueParams {
  scale: Float32Array;
  offset: Float32Array;
  alpha: number | null;
}

/** Conv3D forward and gradients on a pool of threads sharing one wasm memory. */
export class Conv3dEngine {
  readonly threads: number;
  private readonly memory: WasmMemory;
  private readonly exports: Exports;
  private readonly ctrl: Int32Array;
  private readonly workers: Worker[] = [];
  private seq = 0;

  /** @param threads total threads including the caller's (default: available cores). */
  constructor(threads = availableParallelism()) {
    this.threads = Math.max(1, Math.floor(threads));
    this.memory = new WA.Memory({ initial: 64, maximum: MAX_PAGES, shared: true });
    const module = wasmModule();
    this.exports = new WA.Instance(module, { env: { memory: this.memory } }).exports as unknown as Exports;
    this.ctrl = new Int32Array(new SharedArrayBuffer(16 * 4));
    for (let t = 1; t < this.threads; t++) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true, workerData: { module, memory: this.memory, ctrl: this.ctrl, tid: t },
      });
      w.unref();
      this.workers.push(w);
    }
  }

  /** Stop the worker threads; the engine cannot be used afterwards. */
  dispose(): void {
    Atomics.store(this.ctrl, C_SEQ, -1);
    Atomics.notify(this.ctrl, C_SEQ);
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
  }

  /**
   * y = conv3d(x, w): x [N,D,H,W,Cin], w [kD,kH,kW,Cin,Cout] -> y [N,oD,oH,oW,Cout]; with an
   * epilogue, each output row passes through it while still in cache (see ConvEpilogueParams).
   */
  conv3d(g: Conv3dGeometry, x: Float32Array, w: Float32Array, epilogue?: ConvEpilogueParams): Float32Array {
    const taps = g.kD * g.kH * g.kW;
    const K = taps * g.inC;
    const rows = g.batch * g.outD * g.outH * g.outW;
    const scratch = align(S_PANEL + 2 * MB * (Math.ceil(K / 4) * 4) * 4);
    const L = new Layout(0);
    // the forward's geometry block carries the epilogue: a pointer to [scale, offset], activation, slope bits
    const geo = L.take((GEO_LEN + 3) * 4);
    const ep = epilogue ? L.take(2 * g.outC * 4) : 0;
    const sc = L.take(scratch * this.threads);
    const xp = L.take(x.length * 4);
    const wp = L.take(w.length * 4);
    const bp = L.take(Math.ceil(g.outC / 8) * 8 * K * 4);
    const yp = L.take(outputSize(g) * 4);
    this.reserve(L.top);
    const alphaBits = new Int32Array(Float32Array.of(epilogue?.alpha ?? 0).buffer)[0];
    this.put(geo, Int32Array.of(...encodeGeometry(g), ep, epilogue?.alpha != null ? 1 : 0, alphaBits));
    if (epilogue) {
      if (epilogue.scale.length !== g.outC || epilogue.offset.length !== g.outC) {
        throw new RangeError(`conv3d epilogue: scale and offset need ${g.outC} values, got ${epilogue.scale.length} and ${epilogue.offset.length}`);
      }
      this.put(ep, epilogue.scale);
      this.put(ep + g.outC * 4, epilogue.offset);
    }
    this.put(xp, x);
    this.put(wp, w);
    this.exports.pack_filter_fwd(geo, wp, bp);
    const chunk = this.chunkOf(rows, MB);
    this.run(FN.fwd, [geo, xp, bp, yp, sc], 0, rows, chunk, scratch, 0);
    return this.get(yp, outputSize(g));
  }

  /** dx = conv3dBackpropInput(dy, w) with x's geometry `g`; returns dx [N,D,H,W,Cin]. */
  conv3dBackpropInput(g: Conv3dGeometry, dy: Float32Array, w: Float32Array): Float32Array {
    const taps = g.kD * g.kH * g.kW;
    const K = taps * g.outC;
    const lines = g.batch * g.inD * g.inH;
    const scratch = align(S_PANEL + 2 * MB * (Math.ceil(K / 4) * 4) * 4);
    const L = new Layout(0);
    const geo = L.take(GEO_LEN * 4);
    const sc = L.take(scratch * this.threads);
    const dyp = L.take(dy.length * 4);
    const wp = L.take(w.length * 4);
    const bp = L.take(Math.ceil(g.inC / 8) * 8 * K * 4);
    const dxp = L.take(inputSize(g) * 4);
    this.reserve(L.top);
    this.put(geo, encodeGeometry(g));
    this.put(dyp, dy);
    this.put(wp, w);
    this.exports.pack_filter_bwd(geo, wp, bp);
    const chunk = this.chunkOf(lines, 1);
    this.run(FN.bwdInput, [geo, dyp, bp, dxp, sc], 0, lines, chunk, scratch, 0);
    return this.get(dxp, inputSize(g));
  }

  /** dw = conv3dBackpropFilter(x, dy); returns dw [kD,kH,kW,Cin,Cout]. */
  conv3dBackpropFilter(g: Conv3dGeometry, x: Float32Array, dy: Float32Array): Float32Array {
    const taps = g.kD * g.kH * g.kW;
    const rows = g.batch * g.outD * g.outH * g.outW;
    const nw = filterSize(g);
    const scratch = align(S_PANEL + taps * YB * 4 + YB * 16 + YB * 4 + (g.inC + 4) * 4);
    const partial = align(nw * 4);
    const L = new Layout(0);
    const geo = L.take(GEO_LEN * 4);
    const sc = L.take(scratch * this.threads);
    const xp = L.take(x.length * 4);
    const dyp = L.take((dy.length + 8) * 4); // the kernel reads up to 8 floats past a row
    // A fixed number of chunks (not one per thread) with one partial dW each, summed in chunk order:
    // whichever thread takes a chunk, and however many threads there are, the sums happen in the
    // same order, so gradients are bit-identical run to run and machine to machine.
    const chunk = Math.max(YB, Math.ceil(rows / FILTER_CHUNKS / YB) * YB);
    const nchunks = Math.ceil(rows / chunk);
    const dwp = L.take(partial * nchunks);
    this.reserve(L.top);
    this.put(geo, encodeGeometry(g));
    this.put(xp, x);
    this.put(dyp, dy);
    new Float32Array(this.memory.buffer, dyp + dy.length * 4, 8).fill(0);
    new Uint8Array(this.memory.buffer, dwp, partial * nchunks).fill(0);
    this.run(FN.bwdFilter, [geo, xp, dyp, dwp, sc], 0, rows, chunk, scratch, partial);
    this.exports.sum_partials(dwp, partial / 4, nchunks);
    return this.get(dwp, nw);
  }

  /**
   * Throughput of the bare 4x8 micro-kernel on L1-resident data in one thread (GFLOP/s):
   * the ceiling of these kernels on this machine. Uses about `seconds` of CPU.
   */
  measurePeak(seconds = 0.5): number {
    const K = 256;
    const L = new Layout(0);
    const sc = L.take(S_PANEL);
    const a = L.take(K * 16);
    const b = L.take(K * 32);
    const out = L.take(128);
    this.reserve(L.top);
    const f = new Float32Array(this.memory.buffer, a, K * 12);
    for (let i = 0; i < f.length; i++) f[i] = ((i * 7919) % 13) / 13 - 0.5;
    let reps = 1000;
    for (;;) {
      const t0 = performance.now();
      this.exports.peak_4x8(a, b, K, reps, out, sc);
      const s = (performance.now() - t0) / 1e3;
      if (s > seconds / 4 || reps > 1e8) return (64 * K * reps) / s / 1e9;
      reps *= 4;
    }
  }

  /** Chunks of `unit` multiples, about 8 per thread, so threads balance dynamically. */
  private chunkOf(total: number, unit: number): number {
    const target = Math.ceil(total / (this.threads * 8));
    return Math.max(unit, Math.ceil(target / unit) * unit);
  }

  private reserve(bytes: number): void {
    if (bytes > MAX_PAGES * PAGE) throw new Conv3dTooLargeError(bytes);
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE));
  }

  private put(at: number, data: Float32Array | Int32Array): void {
    const view = data instanceof Int32Array
      ? new Int32Array(this.memory.buffer, at, data.length)
      : new Float32Array(this.memory.buffer, at, data.length);
    view.set(data);
  }

  private get(at: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, n).slice();
  }

  /**
   * Run fn over [start,end) in chunks on all threads; returns when every chunk is done. Scratch is per
   * thread; the output of chunk k is at args[3] + k * outStride (0: all chunks write one output).
   */
  private run(fn: number, args: number[], start: number, end: number, chunk: number,
    scratchStride: number, outStride: number): void {
    const c = this.ctrl;
    const nchunks = Math.ceil((end - start) / chunk);
    if (nchunks === 0) return;
    c[C_FN] = fn;
    for (let i = 0; i < 5; i++) c[C_ARGS + i] = args[i];
    c[C_START] = start; c[C_END] = end; c[C_CHUNK] = chunk;
    c[C_SSTRIDE] = scratchStride; c[C_OSTRIDE] = outStride; c[C_ERR] = 0;
    c[C_NCHUNK] = nchunks;
    Atomics.store(c, C_DONE, 0);
    Atomics.store(c, C_NEXT, 0);
    this.seq = (this.seq + 1) & 0x3fffffff;
    Atomics.store(c, C_SEQ, this.seq);
    Atomics.notify(c, C_SEQ);
    const f = [this.exports.conv3d_fwd, this.exports.conv3d_bwd_input, this.exports.conv3d_bwd_filter][fn];
    for (;;) {
      const k = Atomics.add(c, C_NEXT, 1);
      if (k >= nchunks) break;
      const s = start + k * chunk;
      f(args[0], args[1], args[2], args[3] + k * outStride, args[4], s, Math.min(end, s + chunk));
      Atomics.add(c, C_DONE, 1);
    }
    for (;;) {
      const done = Atomics.load(c, C_DONE);
      if (done >= nchunks) break;
      Atomics.wait(c, C_DONE, done, 1000);
    }
    if (Atomics.load(c, C_ERR) !== 0) throw new Error('conv3d worker failed (wasm trap)');
  }
}

let shared: Conv3dEngine | undefined;
/** The process-wide engine, created on first use with `threads` (default: available cores). */
export function conv3dEngine(threads?: number): Conv3dEngine {
  if (shared && threads !== undefined && shared.threads !== threads) {
    shared.dispose();
    shared = undefined;
  }
  shared ??= new Conv3dEngine(threads);
  return shared;
}
