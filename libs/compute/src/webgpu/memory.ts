/**
 * tfjs-backend-webgpu keeps every freed buffer in a pool keyed by exact size and never returns it,
 * so a whole-volume training step leaves tens of GB allocated and later allocations fail (seen on
 * an H100: 95 GB "allocated" after four 178x302x225 steps). These helpers release the pool.
 */
import * as tf from '@tensorflow/tfjs';

interface BufferManagerLike {
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numBytesAllocated: number;
  numBytesUsed: number;
}

function bufferManager(): BufferManagerLike | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  return (tf.backend() as unknown as { bufferManager?: BufferManagerLike }).bufferManager;
}

/** Destroys the pooled (free) buffers of the webgpu backend; returns the bytes released. */
export function trimGpuBufferPool(): number {
  const m = bufferManager();
  if (!m) return 0;
  let released = 0;
  for (const list of m.freeBuffers.values()) {
    for (const b of list) {
      released += b.size;
      b.destroy();
    }
    list.length = 0;
  }
  m.numFreeBuffers = 0;
  m.numBytesAllocated -= released;
  return released;
}

/** Trims the pool when its free part exceeds `maxFreeBytes` (default 8 GiB). */
export function boundGpuBufferPool(maxFreeBytes = 8 * 2 ** 30): number {
  const m = bufferManager();
  if (!m || m.numBytesAllocated - m.numBytesUsed <= maxFreeBytes) return 0;
  return trimGpuBufferPool();
}
