/**
 * tfjs-backend-webgpu keeps every freed buffer in a pool keyed by exact size and never returns it,
 * so volumes of changing sizes leave tens of GB allocated and later allocations fail (seen on an
 * H100: 95 GB "allocated" after four 178x302x225 steps). These helpers release the pool.
 */
import * as tf from '@tensorflow/tfjs';
import { submitRecorded, type SubmittingBackend } from './program';

interface BufferManagerLike {
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
  freeBuffers: Map<string, GPUBuffer[]>;
  usedBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numUsedBuffers: number;
  numBytesAllocated: number;
  numBytesUsed: number;
}

function bufferManager(): BufferManagerLike | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  return (tf.backend() as unknown as { bufferManager?: BufferManagerLike }).bufferManager;
}

/** Destroys the pooled (free) buffers that `keep` rejects; returns the bytes released. */
function destroyPooled(m: BufferManagerLike, keep: (b: GPUBuffer) => boolean = () => false): number {
  let released = 0;
  for (const list of m.freeBuffers.values()) {
    const kept: GPUBuffer[] = [];
    for (const b of list) {
      if (keep(b)) {
        kept.push(b);
        continue;
      }
      released += b.size;
      b.destroy();
    }
    m.numFreeBuffers -= list.length - kept.length;
    // the lists are emptied, never deleted: releaseBuffer drops buffers while the map is empty
    list.splice(0, list.length, ...kept);
  }
  m.numBytesAllocated -= released;
  return released;
}

/** Destroys the pooled (free) buffers of the webgpu backend; returns the bytes released. */
export function trimGpuBufferPool(): number {
  const m = bufferManager();
  return m ? destroyPooled(m) : 0;
}

/** Per buffer manager: buffers handed out since the last {@link boundGpuBufferPool}, the cap, the peak. */
interface PoolState {
  acquired: WeakSet<GPUBuffer>;
  maxFreeBytes: number;
  /** Free buffers are destroyed, the largest first, before a creation would pass this. */
  maxAllocatedBytes: number;
  peakAllocated: number;
  peakInUse: number;
  /** Requests from this many bytes up may take a larger free buffer; Infinity: none. */
  bestFitMinBytes: number;
  /** See {@link GpuPoolStats}. */
  stats: GpuPoolStats;
}

/** tfjs-webgpu's list of disposed tensors whose buffers wait for the next submit. */
interface PendingBackend extends SubmittingBackend {
  tensorDataPendingDisposal: object[];
}

/** What the webgpu buffer pool did since any function of this module first looked at it. */
export interface GpuPoolStats {
  /** Buffers created and their bytes. */
  buffersCreated: number;
  bytesCreated: number;
  /** Requests a larger free buffer served ({@link useBestFitGpuBuffers}). */
  largerServed: number;
  /** Submits made to return freed buffers to the pool before creating one ({@link useBestFitGpuBuffers}). */
  flushes: number;
  /** Free buffers destroyed, and their bytes, to keep within the budget ({@link limitGpuMemory}). */
  buffersEvicted: number;
  bytesEvicted: number;
}

function emptyPoolStats(): GpuPoolStats {
  return { buffersCreated: 0, bytesCreated: 0, largerServed: 0, flushes: 0, buffersEvicted: 0, bytesEvicted: 0 };
}

/** Requests below this keep to buffers of their exact size (uniforms, small tensors: little to gain). */
const BEST_FIT_MIN_BYTES = 1 << 20;

/**
 * A pooled buffer may serve a request up to this many times smaller than itself. Replaying the
 * allocations of a recomputed 178x302x225 training step (a product loss, before the strided
 * upsampling gradient; 2026-11-28): at most 21.0 GB allocated with 2, 20.9 with 4, 20.7 with no
 * limit, 31.7 with exact sizes only; 2 bounds the bytes a tensor wastes.
 */
const MAX_FIT = 2;

/**
 * When no free buffer of the requested size exists, takes the smallest free one of the same usage
 * at most MAX_FIT times larger and books it as tfjs's acquireBuffer would; undefined if none.
 */
function takeLargerFree(m: BufferManagerLike, size: number, usage: number): GPUBuffer | undefined {
  if ((m.freeBuffers.get(`${size}_${usage}`)?.length ?? 0) > 0) return undefined;
  let best: GPUBuffer[] | undefined;
  for (const list of m.freeBuffers.values()) {
    const b = list[list.length - 1];
    if (b && b.usage === usage && b.size > size && b.size <= size * MAX_FIT && (!best || b.size < best[best.length - 1].size)) best = list;
  }
  const b = best?.pop();
  if (!b) return undefined;
  m.numFreeBuffers--;
  const key = `${b.size}_${usage}`;
  if (!m.usedBuffers.has(key)) m.usedBuffers.set(key, []);
  m.usedBuffers.get(key)!.push(b);
  m.numUsedBuffers++;
  m.numBytesUsed += b.size;
  return b;
}

const states = new WeakMap<BufferManagerLike, PoolState>();

/**
 * Destroys free buffers, the largest first, until creating `size` more bytes stays within the
 * budget or none is left (live tensors alone may exceed it: then the creation goes ahead).
 */
function evictForBudget(m: BufferManagerLike, state: PoolState, size: number): void {
  const free: { list: GPUBuffer[]; b: GPUBuffer }[] = [];
  for (const list of m.freeBuffers.values()) for (const b of list) free.push({ list, b });
  free.sort((x, y) => y.b.size - x.b.size);
  for (const { list, b } of free) {
    if (m.numBytesAllocated + size <= state.maxAllocatedBytes) break;
    list.splice(list.indexOf(b), 1);
    m.numFreeBuffers--;
    m.numBytesAllocated -= b.size;
    state.stats.buffersEvicted++;
    state.stats.bytesEvicted += b.size;
    b.destroy();
  }
}

/** Wraps the manager's acquire and release once: records acquisitions and the peak, applies the cap. */
function poolState(m: BufferManagerLike): PoolState {
  const known = states.get(m);
  if (known) return known;
  const state: PoolState = {
    acquired: new WeakSet(),
    maxFreeBytes: Infinity,
    maxAllocatedBytes: Infinity,
    peakAllocated: m.numBytesAllocated,
    peakInUse: m.numBytesUsed,
    bestFitMinBytes: Infinity,
    stats: emptyPoolStats(),
  };
  states.set(m, state);
  const acquire = m.acquireBuffer.bind(m);
  const release = m.releaseBuffer.bind(m);
  m.acquireBuffer = (size, usage, mappedAtCreation = false, reuse = true) => {
    const fits = reuse && !mappedAtCreation && size >= state.bestFitMinBytes;
    let larger = fits ? takeLargerFree(m, size, usage) : undefined;
    if (fits && !larger && !(m.freeBuffers.get(`${size}_${usage}`)?.length)) {
      // About to create a buffer: first return those of tensors disposed since the last submit
      // (tfjs holds them until then, up to 15 dispatches' worth), then look again.
      const backend = tf.backend() as unknown as PendingBackend;
      if (backend.tensorDataPendingDisposal?.length) {
        submitRecorded(backend);
        state.stats.flushes++;
        larger = takeLargerFree(m, size, usage);
      }
    }
    const creates = !larger && !(reuse && m.freeBuffers.get(`${size}_${usage}`)?.length);
    if (creates && m.numBytesAllocated + size > state.maxAllocatedBytes) evictForBudget(m, state, size);
    const allocatedBefore = m.numBytesAllocated;
    const b = larger ?? acquire(size, usage, mappedAtCreation, reuse);
    if (larger) state.stats.largerServed++;
    else if (m.numBytesAllocated > allocatedBefore) {
      state.stats.buffersCreated++;
      state.stats.bytesCreated += size;
    }
    state.acquired.add(b);
    state.peakAllocated = Math.max(state.peakAllocated, m.numBytesAllocated);
    state.peakInUse = Math.max(state.peakInUse, m.numBytesUsed);
    return b;
  };
  m.releaseBuffer = (buffer, reuse = true) => {
    // free bytes once this buffer is free: pooled only within the cap, destroyed past it
    const freeAfter = m.numBytesAllocated - m.numBytesUsed + buffer.size;
    release(buffer, reuse && freeAfter <= state.maxFreeBytes);
  };
  return state;
}

/**
 * Caps the free part of tfjs-webgpu's pool from now on: a released buffer that would take the free
 * bytes past `maxFreeBytes` is destroyed instead of pooled (undefined: no cap). The pool otherwise
 * holds every size a step used: a recomputed 178x302x225 training step allocated 51 GB on an H100
 * while its tensors, counted once per buffer, need about 14 GB. A cap trades that memory for
 * buffer creation (and Dawn's zero-initialisation of each new buffer) during the step.
 */
export function capGpuBufferPool(maxFreeBytes: number | undefined): void {
  const m = bufferManager();
  if (!m) return;
  poolState(m).maxFreeBytes = maxFreeBytes ?? Infinity;
  if (m.numBytesAllocated - m.numBytesUsed > (maxFreeBytes ?? Infinity)) trimGpuBufferPool();
}

/**
 * The most bytes tfjs-webgpu had allocated at once since the last reset (`allocated`: live and pooled
 * buffers; `inUse`: the buffers of live tensors, each counted once, at their buffers' sizes); `reset`
 * starts again from now. Zeros off webgpu.
 */
export function gpuMemoryPeaks(reset = false): { allocated: number; inUse: number } {
  const m = bufferManager();
  if (!m) return { allocated: 0, inUse: 0 };
  const st = poolState(m);
  const peaks = { allocated: Math.max(st.peakAllocated, m.numBytesAllocated), inUse: Math.max(st.peakInUse, m.numBytesUsed) };
  if (reset) [st.peakAllocated, st.peakInUse] = [m.numBytesAllocated, m.numBytesUsed];
  return peaks;
}

/** {@link gpuMemoryPeaks}' `allocated`. */
export function gpuAllocationPeak(reset = false): number {
  return gpuMemoryPeaks(reset).allocated;
}

/**
 * Call between training steps. Destroys the pooled buffers that nothing acquired since the last
 * call (sizes of a volume no longer in use), keeping those the last step reused: trimming every
 * free buffer after each whole-volume step made the next step allocate ~50 GB again (7.3 s a step
 * against 5.3 s with the pool kept, H100, 2026-11-27). If the free part still exceeds
 * `maxFreeBytes`, the whole pool goes. Returns the bytes released.
 */
export function boundGpuBufferPool(maxFreeBytes = Infinity): number {
  const m = bufferManager();
  if (!m) return 0;
  const first = !states.has(m);
  const st = poolState(m);
  const used = st.acquired;
  let released = first ? 0 : destroyPooled(m, (b) => used.has(b));
  st.acquired = new WeakSet();
  if (m.numBytesAllocated - m.numBytesUsed > maxFreeBytes) released += trimGpuBufferPool();
  return released;
}

interface ReadingBackend {
  tensorMap: { get(dataId: object): { shape: number[]; dtype: string; values?: unknown } | undefined };
  read(dataId: object): Promise<ArrayLike<unknown>>;
  readSync(dataId: object): ArrayLike<unknown>;
}
const trimmedReads = new WeakSet<object>();

/** Makes the backend's reads return a tensor's own elements only, not the whole (larger) buffer. */
function trimReadsToTensorSize(backend: ReadingBackend): void {
  if (trimmedReads.has(backend)) return;
  trimmedReads.add(backend);
  const fit = <T extends ArrayLike<unknown>>(dataId: object, values: T): T => {
    const data = backend.tensorMap.get(dataId);
    if (!data || data.dtype === 'string' || data.dtype === 'complex64') return values;
    const n = tf.util.sizeFromShape(data.shape);
    if (values.length <= n) return values;
    // tfjs caches what it read: cache the trimmed copy, so later reads and uploads see the right length
    const own = (values as unknown as Float32Array).slice(0, n) as unknown as T;
    data.values = own;
    return own;
  };
  const read = backend.read.bind(backend);
  const readSync = backend.readSync.bind(backend);
  backend.read = async (dataId) => fit(dataId, await read(dataId));
  backend.readSync = (dataId) => fit(dataId, readSync(dataId));
}

/**
 * From now on (false: no longer), a request of `minBytes` (1 MiB) or more with no free buffer of its
 * exact size takes the smallest free buffer up to twice as large before a new one is created.
 * tfjs-webgpu pools freed buffers by exact size, so a training step's pool holds a buffer for every
 * size it used: a recomputed 178x302x225 step allocated 34.3 GB on an H100 (2026-11-28) for about 13
 * GB of live tensors at its peak; its tensors differ mostly by channel count (10, 16, 17, 32-104), so
 * a freed buffer seldom has the next request's exact size. Recorded without running the kernels
 * (dry_run.ts, apps/bench memory.ts) the step allocated at most 18.3 GB this way instead of 27.3 GB
 * in session 18 (16.8 against 26.1 in session 24), creating no buffer once warm. And before a buffer is created, the buffers of tensors disposed since
 * the last submit (which tfjs returns to the pool only then) are returned by a submit, so a chain of
 * ops reuses its intermediates' buffers: 0.55 GB less at that step's peak (session 24).
 * tfjs reads a tensor back as its whole buffer, so reads are trimmed to the tensor's own elements
 * (the only place tfjs-webgpu 4.22 takes a buffer's size for a tensor's).
 */
export function useBestFitGpuBuffers(on: boolean, minBytes = BEST_FIT_MIN_BYTES): void {
  const m = bufferManager();
  if (!m) return;
  poolState(m).bestFitMinBytes = on ? minBytes : Infinity;
  if (on) trimReadsToTensorSize(tf.backend() as unknown as ReadingBackend);
}

/**
 * From now on, keeps what the webgpu backend allocates (live tensors and the pool) within
 * `maxBytes` where the live tensors allow it (undefined: no budget): before a buffer is created past
 * it, free buffers are destroyed, the largest first (the fewest to create again; the least recently
 * freed first destroyed 249 buffers a step where the largest first destroyed 13). Best fit alone
 * keeps buffers of sizes the current phase of a step cannot use: a 178x302x225 step without
 * recomputation allocated 18.3 GB for 16.2 GB of live tensors; 17 GB held with no buffer created
 * again, 16.5 GB with 80 (4.2 GB) a step (bench:memory --budget-gb; BENCHMARKS.md). Each destroyed
 * buffer is created again where its size is next needed (Dawn's creation and zero-initialisation,
 * counted by {@link gpuPoolStats}), and its memory returns to the device only once the GPU has
 * finished the submitted work that reads it, so the device may briefly hold more than tfjs counts.
 */
export function limitGpuMemory(maxBytes: number | undefined): void {
  const m = bufferManager();
  if (!m) return;
  poolState(m).maxAllocatedBytes = maxBytes ?? Infinity;
}

/** The pool's counters (zeros off webgpu); a copy. */
export function gpuPoolStats(): GpuPoolStats {
  const m = bufferManager();
  return m ? { ...poolState(m).stats } : emptyPoolStats();
}
