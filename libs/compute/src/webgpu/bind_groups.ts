/**
 * Bind groups made once and reused, for tfjs-backend-webgpu.
 *
 * tfjs creates a new bind group for every dispatch, and in Dawn that is the costliest WebGPU call
 * of a dispatch (on lavapipe about 40-70 us of the 250-300 us of a tiny tfjs op; dispatch_cost.ts
 * measures it on the device). A training step or an inference repeats the same ops on the same
 * shapes, so the bind groups could repeat too, but tfjs's buffer pool hands out the last buffer
 * freed of a size, and the order of frees drifts from step to step: only about 20% of a reference
 * training step's bind groups recur. Two changes make them recur all (757 of 757 at 4x8x8, from
 * the third step on):
 * - the pool hands out its free buffer of the lowest creation number instead of the last freed;
 * - equal descriptors (the same layout object and the same buffer ranges) return the group made
 *   before. Dawn returns a new layout object per getBindGroupLayout call, so each pipeline's
 *   layouts are memoised, which makes them comparable.
 * tfjs has no hook for either, so the device's createBindGroup / createComputePipeline(Async) and
 * the pool's acquireBuffer are wrapped.
 *
 * Safe because a bind group is immutable and names buffers, not their contents (tfjs writes each
 * dispatch's uniforms into the buffer it binds before the dispatch). Buffers are keyed by object
 * identity, so a destroyed buffer's groups are never asked for again (a new buffer is a new key);
 * the cache is emptied whenever it reaches its size limit.
 */

/** Counts since the cache was installed on the device. */
export interface BindGroupCacheStats {
  hits: number;
  misses: number;
  /** Not cacheable: a layout from a pipeline made before the cache, or a non-buffer resource. */
  bypassed: number;
  /** Times the cache reached its limit and started again empty. */
  flushes: number;
  size: number;
}

interface CacheState {
  groups: Map<string, GPUBindGroup>;
  /** The counts; the size is the map's. */
  stats: Omit<BindGroupCacheStats, 'size'>;
}

/** The part of tfjs-webgpu's BufferManager the lowest-number policy touches. */
interface BufferPool {
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
  freeBuffers: Map<string, GPUBuffer[]>;
}

const states = new WeakMap<GPUDevice, CacheState>();
const numbers = new WeakMap<object, number>();
let nextNumber = 1;

/** A number per object, in order of first sight (buffers: about their creation order). */
function numberOf(o: object): number {
  let n = numbers.get(o);
  if (n === undefined) numbers.set(o, (n = nextNumber++));
  return n;
}

/** Layouts handed out by memoised pipelines: one object per pipeline and group index. */
const knownLayouts = new WeakSet<GPUBindGroupLayout>();

function memoiseLayouts<P extends GPUComputePipeline>(pipeline: P): P {
  const byIndex = new Map<number, GPUBindGroupLayout>();
  const original = pipeline.getBindGroupLayout.bind(pipeline);
  Object.defineProperty(pipeline, 'getBindGroupLayout', {
    value: (index: number) => {
      let layout = byIndex.get(index);
      if (!layout) {
        layout = original(index);
        knownLayouts.add(layout);
        byIndex.set(index, layout);
      }
      return layout;
    },
  });
  return pipeline;
}

/** The key of a descriptor whose resources are all buffers; undefined otherwise. */
export function bindGroupKey(descriptor: GPUBindGroupDescriptor): string | undefined {
  if (!knownLayouts.has(descriptor.layout)) return undefined;
  let key = String(numberOf(descriptor.layout));
  for (const entry of descriptor.entries) {
    const r = entry.resource as GPUBufferBinding;
    if (!r || typeof r !== 'object' || !('buffer' in r) || !r.buffer) return undefined;
    key += `|${entry.binding}:${numberOf(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
  }
  return key;
}

const LOWEST_FIRST = Symbol('lowestNumberFirst');

/** Makes `pool` hand out the free buffer of the lowest number of each size (once per pool). */
function lowestNumberFirst(pool: BufferPool): void {
  const marked = pool as BufferPool & { [LOWEST_FIRST]?: true };
  if (marked[LOWEST_FIRST]) return;
  marked[LOWEST_FIRST] = true;
  const acquire = pool.acquireBuffer.bind(pool);
  pool.acquireBuffer = (size, usage, mappedAtCreation = false, reuse = true) => {
    const free = reuse ? pool.freeBuffers.get(`${size}_${usage}`) : undefined;
    if (free && free.length > 1) {
      // tfjs pops the last; put the lowest-numbered there
      let best = free.length - 1;
      for (let i = 0; i < free.length - 1; i++) if (numberOf(free[i]) < numberOf(free[best])) best = i;
      if (best !== free.length - 1) [free[best], free[free.length - 1]] = [free[free.length - 1], free[best]];
    }
    const buffer = acquire(size, usage, mappedAtCreation, reuse);
    numberOf(buffer);
    return buffer;
  };
}

/**
 * Installs the cache on the webgpu backend's device and the lowest-number policy on its buffer
 * pool (once; later calls change nothing). Pipelines made before this call are not cached.
 * `limit`: the most groups kept.
 */
export function cacheBindGroups(backend: { device: GPUDevice; bufferManager: BufferPool }, limit = 16384): void {
  const { device } = backend;
  lowestNumberFirst(backend.bufferManager);
  if (states.has(device)) return;
  const state: CacheState = { groups: new Map(), stats: { hits: 0, misses: 0, bypassed: 0, flushes: 0 } };
  states.set(device, state);
  const create = device.createBindGroup.bind(device);
  const createCompute = device.createComputePipeline.bind(device);
  const createComputeAsync = device.createComputePipelineAsync.bind(device);
  Object.defineProperties(device, {
    createComputePipeline: { value: (d: GPUComputePipelineDescriptor) => memoiseLayouts(createCompute(d)) },
    createComputePipelineAsync: { value: async (d: GPUComputePipelineDescriptor) => memoiseLayouts(await createComputeAsync(d)) },
    createBindGroup: {
      value: (descriptor: GPUBindGroupDescriptor) => {
        const { stats, groups } = state;
        const key = bindGroupKey(descriptor);
        if (key === undefined) {
          stats.bypassed++;
          return create(descriptor);
        }
        const cached = groups.get(key);
        if (cached) {
          stats.hits++;
          return cached;
        }
        stats.misses++;
        if (groups.size >= limit) {
          groups.clear();
          stats.flushes++;
        }
        const group = create(descriptor);
        groups.set(key, group);
        return group;
      },
    },
  });
}

/** The cache's counts on `device`; undefined when {@link cacheBindGroups} was not called for it. */
export function bindGroupCacheStats(device: GPUDevice): BindGroupCacheStats | undefined {
  const state = states.get(device);
  return state && { ...state.stats, size: state.groups.size };
}
