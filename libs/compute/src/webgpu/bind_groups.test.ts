import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { bindGroupCacheStats, bindGroupKey, cacheBindGroups } from './bind_groups';
import { adapterPromise, SKIP_NOTE, startWebgpu } from './test_util';

const adapter = await adapterPromise;

interface Pool {
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
}

describe.skipIf(!adapter)(`webgpu bind group cache${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  let backend: { device: GPUDevice; bufferManager: Pool & { freeBuffers: Map<string, GPUBuffer[]> } };
  beforeAll(async () => {
    await startWebgpu();
    backend = tf.backend() as unknown as typeof backend;
    // selectBackend installed it; installing again changes nothing
    expect(bindGroupCacheStats(backend.device)).toBeDefined();
    cacheBindGroups(backend);
  });

  const shader = `@group(0) @binding(0) var<storage, read_write> y : array<f32>;
    @group(0) @binding(1) var<storage, read> x : array<f32>;
    @compute @workgroup_size(1) fn main() { y[0] = x[0] + 1.0; }`;

  it('equal descriptors give the same group; other buffers, ranges or pipelines a new one', () => {
    const { device } = backend;
    const module = device.createShaderModule({ code: shader });
    const p1 = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const p2 = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    expect(p1.getBindGroupLayout(0)).toBe(p1.getBindGroupLayout(0));
    const buf = () => device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE });
    const [a, b, c] = [buf(), buf(), buf()];
    const group = (p: GPUComputePipeline, y: GPUBuffer, x: GPUBuffer, size?: number) => device.createBindGroup({
      layout: p.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: y } }, { binding: 1, resource: size ? { buffer: x, offset: 0, size } : { buffer: x } }],
    });
    const before = bindGroupCacheStats(device)!;
    const g = group(p1, a, b);
    expect(group(p1, a, b)).toBe(g);
    expect(group(p1, a, c)).not.toBe(g);
    expect(group(p1, b, a)).not.toBe(g);
    expect(group(p1, a, b, 128)).not.toBe(g);
    expect(group(p2, a, b)).not.toBe(g);
    const after = bindGroupCacheStats(device)!;
    expect(after.hits - before.hits).toBe(1);
    expect(after.misses - before.misses).toBe(5);
    // a layout made outside a memoised pipeline is not cached
    const layout = device.createBindGroupLayout({ entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } }] });
    expect(bindGroupKey({ layout, entries: [{ binding: 0, resource: { buffer: a } }] })).toBeUndefined();
    for (const x of [a, b, c]) x.destroy();
  });

  it('the pool hands out the free buffer of the lowest number of its size', () => {
    const pool = backend.bufferManager;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const size = 4 * 777;
    const made = [0, 1, 2].map(() => pool.acquireBuffer(size, usage));
    // freed in an order whose last is not the first made: tfjs alone would hand out made[1] next
    for (const i of [2, 0, 1]) pool.releaseBuffer(made[i]);
    expect(pool.acquireBuffer(size, usage)).toBe(made[0]);
    expect(pool.acquireBuffer(size, usage)).toBe(made[1]);
    expect(pool.acquireBuffer(size, usage)).toBe(made[2]);
    for (const b of made) pool.releaseBuffer(b);
  });

  it('a repeated computation makes no new bind groups from its fourth run on, and agrees with cpu', async () => {
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    // made from seeds on each backend, so the cpu run starts from the same values
    const inputs = () => [tf.randomNormal([1, 6, 7, 5, 3], 0, 1, 'float32', 3), tf.variable(tf.randomNormal([3, 3, 3, 3, 4], 0, 0.3, 'float32', 4))] as const;
    const run = async (x: tf.Tensor, w: tf.Variable) => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.leakyRelu(tf.conv3d(x as tf.Tensor5D, w as tf.Tensor5D, 1, 'same'), 0.1))) as tf.Scalar, [w]);
      tf.tidy(() => w.assign(tf.sub(w, tf.mul(grads[w.name], 1e-3))));
      const out = [(await value.data())[0], ...(await grads[w.name].data())];
      tf.dispose([value, grads[w.name]]);
      return out;
    };
    const [x, w] = inputs();
    const misses: number[] = [];
    const values: number[][] = [];
    for (let i = 0; i < 6; i++) {
      values.push(await run(x, w));
      misses.push(bindGroupCacheStats(backend.device)!.misses);
    }
    // the pool settles in a run or two (the variable's old and new buffers trade places)
    expect(misses[5]).toBe(misses[2]);
    expect(misses[2]).toBeGreaterThan(0);
    tf.dispose([x, w]);
    await tf.setBackend('cpu');
    const [xc, wc] = inputs();
    const cpu = await run(xc, wc);
    tf.dispose([xc, wc]);
    await tf.setBackend('webgpu');
    const scale = Math.max(...cpu.map(Math.abs));
    values[0].forEach((v, i) => expect(Math.abs(v - cpu[i])).toBeLessThan(1e-5 * scale));
  });
});
