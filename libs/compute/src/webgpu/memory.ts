/**
 * tfjs-backend-webgpu keeps every freed buffer in a pool keyed by exact size and never returns it,
 * so volumes of changing sizes leave tens of GB allocated and later allocations fail (seen on an
 * H100: 95 GB "allocated" after four 178x302x225 steps). These helpers release the pool.
 */
import * as tf from '@tensorflow/tfjs';

interface BufferManagerLike {
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
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
  peakAllocated: number;
}
const states = new WeakMap<BufferManagerLike, PoolState>();

/** Wraps the manager's acquire and release once: records acquisitions and the peak, applies the cap. */
function poolState(m: BufferManagerLike): PoolState {
  const known = states.get(m);
  if (known) return known;
  const state: PoolState = { acquired: new WeakSet(), maxFreeBytes: Infinity, peakAllocated: m.numBytesAllocated };
  states.set(m, state);
  const acquire = m.acquireBuffer.bind(m);
  const release = m.releaseBuffer.bind(m);
  m.acquireBuffer = (...args) => {
    const b = acquire(...args);
    state.acquired.add(b);
    state.peakAllocated = Math.max(state.peakAllocated, m.numBytesAllocated);
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

/** The most bytes tfjs-webgpu had allocated (live and pooled) since the last reset; `reset` starts again from now. */
export function gpuAllocationPeak(reset = false): number {
  const m = bufferManager();
  if (!m) return 0;
  const st = poolState(m);
  const peak = Math.max(st.peakAllocated, m.numBytesAllocated);
  if (reset) st.peakAllocated = m.numBytesAllocated;
  return peak;
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
