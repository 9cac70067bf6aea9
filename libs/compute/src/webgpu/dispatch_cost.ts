/**
 * What one dispatch costs the CPU on the webgpu backend, split into the WebGPU calls tfjs makes
 * for it. On the H100 a 64x128x128 forward took 73-84 ms for about 25 ms of GPU kernels, and a
 * training step 0.87 s for 0.23 s: the rest is CPU time per dispatch, of unknown make-up. These
 * figures say which call to avoid (on lavapipe, createBindGroup is about half of a tiny op).
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackendLike } from './program';

/** Microseconds per call, each the median of `rounds` timed loops. */
export interface DispatchCost {
  /** A tiny tfjs op (Add of two 64x64 GPU tensors): the JavaScript side, until it returns. */
  tfjsOpEnqueue_us: number;
  /** The same op with the GPU's work, from the first enqueue until the last result is read. */
  tfjsOpWall_us: number;
  /** As tfjsOpEnqueue_us, with tfjs submitting every 100 dispatches instead of its default. */
  tfjsOpEnqueueBatch100_us: number;
  /** tfjs's default WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE (dispatches per queue submit). */
  submitBatch: number;
  getBindGroupLayout_us: number;
  /** Four buffer entries, as for a binary op (output, two inputs, uniforms); Dawn's own call. */
  createBindGroup_us: number;
  /** The same through the device as tfjs calls it: a cache hit where bind_groups.ts is installed. */
  deviceCreateBindGroup_us: number;
  /** 64 bytes, as tfjs's per-dispatch uniforms. */
  writeBuffer_us: number;
  /** setPipeline + setBindGroup + dispatchWorkgroups(1) into an open compute pass. */
  encodeDispatch_us: number;
  /** createCommandEncoder, an empty compute pass, finish and queue.submit. */
  submit_us: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median over `rounds` of the microseconds per call of `n` calls of `f`. */
function perCall(n: number, rounds: number, f: (i: number) => void): number {
  const us: number[] = [];
  for (let r = 0; r <= rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f(i);
    if (r > 0) us.push(((performance.now() - t0) / n) * 1000);
  }
  return median(us);
}

async function tfjsOpCost(n: number, rounds: number): Promise<{ enqueue: number; wall: number }> {
  const a = tf.randomNormal([64, 64], 0, 1, 'float32', 1);
  const b = tf.randomNormal([64, 64], 0, 1, 'float32', 2);
  const enqueue: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r <= rounds; r++) {
    let x = a;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const y = tf.add(x, b);
      if (x !== a) x.dispose();
      x = y;
    }
    const t1 = performance.now();
    await x.data();
    const t2 = performance.now();
    x.dispose();
    if (r > 0) {
      enqueue.push(((t1 - t0) / n) * 1000);
      wall.push(((t2 - t0) / n) * 1000);
    }
  }
  tf.dispose([a, b]);
  return { enqueue: median(enqueue), wall: median(wall) };
}

/** Measures {@link DispatchCost} on the active webgpu backend (about a second on lavapipe). */
export async function measureDispatchCost(n = 500, rounds = 5): Promise<DispatchCost> {
  if (tf.getBackend() !== 'webgpu') throw new Error(`measureDispatchCost needs the webgpu backend, not ${tf.getBackend()}`);
  const backend = tf.backend() as unknown as WebGPUBackendLike;
  const device = backend.device;
  const flag = 'WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE';
  const submitBatch = tf.env().getNumber(flag);
  const op = await tfjsOpCost(n, rounds);
  tf.env().set(flag, 100);
  let batched: { enqueue: number };
  try {
    batched = await tfjsOpCost(n, rounds);
  } finally {
    tf.env().set(flag, submitBatch);
  }

  const module = device.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read_write> y : array<f32>;
      @group(0) @binding(1) var<storage, read> a : array<f32>;
      @group(0) @binding(2) var<storage, read> b : array<f32>;
      struct U { n : i32 };
      @group(0) @binding(3) var<uniform> u : U;
      @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id : vec3<u32>) {
        let i = i32(id.x);
        if (i < u.n) { y[i] = a[i] + b[i]; }
      }`,
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  // Dawn's own methods: bind_groups.ts wraps the device's and memoises the pipeline's layouts
  const dawnDevice = Object.getPrototypeOf(device) as GPUDevice;
  const dawnPipeline = Object.getPrototypeOf(pipeline) as GPUComputePipeline;
  const storage = [0, 1, 2].map(() => device.createBuffer({ size: 64 * 64 * 4, usage: GPUBufferUsage.STORAGE }));
  const uniforms = device.createBuffer({ size: 64, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const bytes = new Int32Array(16).fill(64 * 64);
  device.queue.writeBuffer(uniforms, 0, bytes);
  const layout = pipeline.getBindGroupLayout(0);
  const ownLayout = dawnPipeline.getBindGroupLayout.call(pipeline, 0);
  const entries = [
    ...storage.map((buffer, binding) => ({ binding, resource: { buffer } })),
    { binding: 3, resource: { buffer: uniforms, offset: 0, size: 64 } },
  ];
  let group = device.createBindGroup({ layout, entries });
  const getBindGroupLayout_us = perCall(n, rounds, () => void dawnPipeline.getBindGroupLayout.call(pipeline, 0));
  const createBindGroup_us = perCall(n, rounds, () => void (group = dawnDevice.createBindGroup.call(device, { layout: ownLayout, entries })));
  const deviceCreateBindGroup_us = perCall(n, rounds, () => void device.createBindGroup({ layout, entries }));
  const writeBuffer_us = perCall(n, rounds, () => device.queue.writeBuffer(uniforms, 0, bytes));
  // encode into one pass, submitted every 15 dispatches as tfjs does; only the encoding is timed
  let encoder = device.createCommandEncoder();
  let pass = encoder.beginComputePass();
  let inPass = 0;
  const encodeTimes: number[] = [];
  for (let r = 0; r <= rounds; r++) {
    let ms = 0;
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(1);
      ms += performance.now() - t0;
      if (++inPass === submitBatch) {
        pass.end();
        device.queue.submit([encoder.finish()]);
        encoder = device.createCommandEncoder();
        pass = encoder.beginComputePass();
        inPass = 0;
      }
    }
    if (r > 0) encodeTimes.push((ms / n) * 1000);
  }
  pass.end();
  device.queue.submit([encoder.finish()]);
  const submit_us = perCall(n, rounds, () => {
    const e = device.createCommandEncoder();
    e.beginComputePass().end();
    device.queue.submit([e.finish()]);
  });
  await device.queue.onSubmittedWorkDone();
  for (const b of [...storage, uniforms]) b.destroy();
  return {
    tfjsOpEnqueue_us: op.enqueue,
    tfjsOpWall_us: op.wall,
    tfjsOpEnqueueBatch100_us: batched.enqueue,
    submitBatch,
    getBindGroupLayout_us,
    createBindGroup_us,
    deviceCreateBindGroup_us,
    writeBuffer_us,
    encodeDispatch_us: median(encodeTimes),
    submit_us,
  };
}

/**
 * Runs `f` on the active webgpu backend and counts the dispatches it records (every dispatch, tfjs's
 * programs and this project's own pipelines alike, goes through the backend's recordAndSubmit).
 */
export async function countDispatches<T>(f: () => T | Promise<T>): Promise<{ result: T; dispatches: number }> {
  if (tf.getBackend() !== 'webgpu') throw new Error(`countDispatches needs the webgpu backend, not ${tf.getBackend()}`);
  const backend = tf.backend() as unknown as { recordAndSubmit: (...args: unknown[]) => void };
  const own = Object.prototype.hasOwnProperty.call(backend, 'recordAndSubmit');
  const record = backend.recordAndSubmit;
  let dispatches = 0;
  backend.recordAndSubmit = function (this: unknown, ...args: unknown[]) {
    dispatches++;
    return record.apply(this, args);
  };
  try {
    const result = await f();
    return { result, dispatches };
  } finally {
    if (own) backend.recordAndSubmit = record;
    else delete (backend as Partial<typeof backend>).recordAndSubmit;
  }
}
