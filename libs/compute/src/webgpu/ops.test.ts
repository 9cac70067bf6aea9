/**
 * The replaced elementwise, reduction and transpose kernels against the cpu backend, at the ranks
 * and sizes where the stock webgpu kernels fail (see stock_bugs.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { LEAKY_RELU_GRAD, SOFTMAX_GRAD } from '../fused-gradients';
import { matmulRowBlock } from './matmul_rows';
import { splitKApplies, SPLITK_CHUNK } from './matmul_splitk';
import { adapterPromise, compareWithCpu, programsOf, SKIP_NOTE } from './test_util';

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu ops tests ${SKIP_NOTE}`);

describe.skipIf(!adapter)(`webgpu replacement ops vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    const choice = await selectBackend({ prefer: 'webgpu', log: () => undefined });
    expect(choice.kernels).toEqual(expect.arrayContaining(['Add', 'Sum', 'Mean', 'Transpose']));
    // run everything on the GPU, not on tfjs-webgpu's CPU shortcut for small tensors
    tf.env().set('WEBGPU_CPU_FORWARD', false);
  });

  it('rank-5 broadcasting binary ops (bias add, SE scaling, residual)', async () => {
    const r = await compareWithCpu(
      [{ shape: [1, 4, 8, 8, 32], seed: 1 }, { shape: [32], seed: 2 }, { shape: [1, 1, 1, 1, 32], seed: 3 }, { shape: [1, 4, 8, 8, 1], seed: 4 }],
      (x, bias, scale, mask) => [tf.add(x, bias), tf.mul(x, scale), tf.sub(x, mask), tf.div(x, tf.add(tf.abs(scale), 1)),
        tf.maximum(x, bias), tf.squaredDifference(x, x.reverse(1)), tf.cast(tf.greater(x, bias), 'float32')],
    );
    expect(r.shapes).toEqual(r.cpuShapes);
    for (const e of r.errors) expect(e).toBeLessThan(1e-6);
  });

  it.each([[8, true], [6, false]])('Add/Sub/Multiply/RealDiv of [rows, C] and a per-channel [C], either order: bit-identical to cpu (C = %i: vec4 %s)', async (c, vec4) => {
    const ops = [tf.add, tf.sub, tf.mul, tf.div];
    const { result: r, keys } = await programsOf(() => compareWithCpu([{ shape: [2, 37, c], seed: 41 }, { shape: [c], seed: 42 }, { shape: [1, 1, c], seed: 43 }],
      (x, v, w) => ops.flatMap((op) => [op(x, v), op(w, x)])));
    expect(r.shapes).toEqual(r.shapes.map(() => [2, 37, c]));
    expect(r.errors).toEqual(r.errors.map(() => 0));
    expect(keys.filter((k) => k.startsWith('anatomynet_flat_channel_')).length).toBe(vec4 ? 8 : 0);
  });

  it('Add/Sub/Multiply/RealDiv with a JavaScript scalar keep it a uniform: bit-identical to cpu, nothing uploaded', async () => {
    await tf.setBackend('webgpu');
    const backend = tf.backend() as unknown as { tensorMap: Map<object, { resource?: unknown }> };
    const onGpu = (t: tf.Tensor) => backend.tensorMap.get(t.dataId)?.resource != null;
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 7) - 3));
    const cases: [string, (x: tf.Tensor, s: tf.Tensor) => tf.Tensor][] = [
      ['x + s', tf.add], ['s + x', (x, s) => tf.add(s, x)], ['x - s', tf.sub], ['s - x', (x, s) => tf.sub(s, x)],
      ['x * s', tf.mul], ['s * x', (x, s) => tf.mul(s, x)], ['x / s', tf.div], ['s / x', (x, s) => tf.div(s, x)],
    ];
    const run = async (f: (x: tf.Tensor, s: tf.Tensor) => tf.Tensor, scalar: number, shape: number[], size: number) => {
      // x + 0 puts x on the GPU (the stock path: its operand is not yet there)
      const x = tf.tidy(() => tf.add(tf.tensor(values.subarray(0, size), [1, 1, 1, size]), 0));
      const s = tf.tensor([scalar], shape);
      const y = f(x, s);
      const out = { values: Array.from(await y.data()), shape: y.shape, scalarUploaded: tf.getBackend() === 'webgpu' && onGpu(s) };
      tf.dispose([x, s, y]);
      return out;
    };
    // 1,000 values run four a thread (vec4), 999 one
    for (const size of [1000, 999]) {
      for (const [name, f] of cases) {
        for (const [scalar, shape] of [[0.3, []], [-7.25e-3, [1, 1, 1, 1]], [0, []]] as [number, number[]][]) {
          await tf.setBackend('cpu');
          const want = await run(f, scalar, shape, size);
          await tf.setBackend('webgpu');
          const got = await run(f, scalar, shape, size);
          expect(got.shape, name).toEqual(want.shape);
          expect(got.values, `${name} with ${scalar}, ${size} values`).toEqual(want.values);
          expect(got.scalarUploaded, name).toBe(false);
        }
      }
    }
  });

  it('reductions over voxels, channels, mixed axes and keepDims', async () => {
    const r = await compareWithCpu([{ shape: [2, 5, 6, 7, 11], seed: 5 }], (x) => [
      tf.sum(x, [0, 1, 2, 3]), tf.mean(x, [1, 2, 3], true), tf.max(x, 4), tf.min(x, [0, 2, 4]), tf.sum(x), tf.mean(x, [1, 3]),
    ]);
    expect(r.shapes).toEqual(r.cpuShapes);
    expect(r.shapes).toEqual([[11], [2, 1, 1, 1, 11], [2, 5, 6, 7], [5, 7], [], [2, 6, 11]]);
    for (const e of r.errors) expect(e).toBeLessThan(1e-5);
  });

  it('reductions over thousands of rows of few columns (the lanes pass), each op, several chunks and outer groups', async () => {
    const r = await compareWithCpu([{ shape: [3, 5000, 7], seed: 9 }, { shape: [4500, 130], seed: 10 }], (x, wide) => [
      tf.sum(x, 1), tf.mean(x, 1), tf.max(x, 1), tf.min(x, 1), tf.sum(tf.cast(tf.mul(x, 100), 'int32'), 1), tf.max(tf.cast(tf.mul(x, 100), 'int32'), 1),
      tf.sum(x.reshape([-1])), tf.sum(wide, 0),
    ]);
    expect(r.shapes).toEqual([[3, 7], [3, 7], [3, 7], [3, 7], [3, 7], [3, 7], [], [130]]);
    for (const e of r.errors) expect(e).toBeLessThan(1e-5);
  });

  it('the lanes pass on vec4s (float32 columns a multiple of 4: 8, 128, 4), each op, several chunks and outer groups', async () => {
    const r = await compareWithCpu([{ shape: [2, 5000, 8], seed: 11 }, { shape: [4500, 128], seed: 12 }, { shape: [6000, 4], seed: 13 }], (x, wide, narrow) => [
      tf.sum(x, 1), tf.mean(x, 1), tf.max(x, 1), tf.min(x, 1), tf.sum(wide, 0), tf.max(narrow, 0), tf.mean(narrow, 0),
    ]);
    expect(r.shapes).toEqual([[2, 8], [2, 8], [2, 8], [2, 8], [128], [4], [4]]);
    for (const e of r.errors) expect(e).toBeLessThan(1e-5);
  });

  it('sums and means over more than 4M rows (past the stock dispatch limit)', async () => {
    const rows = 4_300_000;
    await tf.setBackend('webgpu');
    const [s, m] = tf.tidy(() => {
      const x = tf.reshape(tf.tile(tf.tensor1d([1, 2, 3]), [rows]), [rows, 3]);
      return [tf.sum(x, 0), tf.mean(x, 0)];
    });
    expect(Array.from(await s.data())).toEqual([rows, 2 * rows, 3 * rows]);
    const mv = await m.data();
    [1, 2, 3].forEach((v, i) => expect(mv[i]).toBeCloseTo(v, 5));
    tf.dispose([s, m]);
  });

  it('gradient of a rank-5 bias add agrees with cpu', async () => {
    const r = await compareWithCpu([{ shape: [1, 6, 10, 12, 3], seed: 6 }, { shape: [3], seed: 7 }], (x, b) =>
      tf.grad((bb: tf.Tensor) => tf.sum(tf.mul(tf.add(x, bb), x)))(b));
    expect(r.shapes).toEqual([[3]]);
    expect(r.errors[0]).toBeLessThan(1e-5);
  });

  it('gradient of a rank-5 bias add over 4.2M voxels (the sum the stock kernel cannot do)', async () => {
    await tf.setBackend('webgpu');
    const [D, H, W] = [64, 256, 257];
    // d/db sum((x + b) * w) = sum over voxels of w = D*H*W * (c + 1) for channel c
    const g = tf.tidy(() => {
      const w = tf.tile(tf.tensor([1, 2], [1, 1, 1, 1, 2]), [1, D, H, W, 1]);
      return tf.grad((b: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.zeros([1, D, H, W, 2]), b), w)))(tf.zeros([2]));
    });
    expect(Array.from(await g.data())).toEqual([D * H * W, 2 * D * H * W]);
    g.dispose();
  });

  it('transposes a [rows, C] matrix with rows past the tiled dispatch limit', async () => {
    const r = await compareWithCpu([{ shape: [1_100_000, 3], seed: 8 }], (x) => tf.transpose(x));
    expect(r.shapes).toEqual([[3, 1_100_000]]);
    expect(r.errors[0]).toBe(0);
  });

  it('pads and crops rank-5 volumes (and the crop gradient, a pad)', async () => {
    const r = await compareWithCpu([{ shape: [2, 5, 7, 6, 3], seed: 9 }], (x) => [
      tf.pad(x, [[0, 0], [0, 1], [2, 1], [0, 3], [0, 0]]),
      tf.pad(x, [[1, 0], [0, 0], [0, 0], [1, 1], [0, 2]], -1.5),
      tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.slice(v, [0, 1, 0, 2, 0], [2, 3, 7, 4, 3]), 2)))(x),
    ]);
    expect(r.shapes).toEqual([[2, 6, 10, 9, 3], [3, 5, 7, 8, 5], [2, 5, 7, 6, 3]]);
    for (const e of r.errors) expect(e).toBe(0);
  });

  it('matmuls split into row blocks agree with cpu (block lowered to 1000 rows)', async () => {
    const rows = 2_345;
    matmulRowBlock.rows = 1000;
    try {
      const r = await compareWithCpu(
        [{ shape: [rows, 3], seed: 10 }, { shape: [3, 5], seed: 11 }, { shape: [1, rows, 1], seed: 12 }, { shape: [3, rows], seed: 13 }],
        (a, b, c, d) => [
          tf.matMul(a, b),
          // the gradient of a ones-vector sum over voxels: an outer product with one row per voxel
          tf.matMul(c, tf.ones([1, 1, 4])),
          tf.matMul(d, b, true, false),
        ]);
      expect(r.shapes).toEqual([[rows, 5], [1, rows, 4], [rows, 5]]);
      for (const e of r.errors) expect(e).toBeLessThan(1e-6);
    } finally {
      matmulRowBlock.rows = 1_000_000;
    }
  });

  it('sums over long K (split-K: ragged chunks, batches, broadcast operands, rank 2) agree with cpu', async () => {
    matmulRowBlock.minSplitK = 1000;
    try {
      const K = 2 * SPLITK_CHUNK + 777;
      const r = await compareWithCpu(
        [{ shape: [3, 1, K], seed: 20 }, { shape: [3, K, 40], seed: 21 }, { shape: [1, 2, K], seed: 22 }, { shape: [2, K], seed: 23 }, { shape: [K, 7], seed: 24 }],
        (a, b, a1, a2, b2) => [
          tf.matMul(a, b),
          // one A for every batch of B, and a ones row (the network's sums over voxels)
          tf.matMul(a1, b.slice([0, 0, 0], [3, K, 20])),
          tf.matMul(tf.ones([1, 1, K]), b),
          tf.matMul(a2, b2),
        ]);
      expect(r.shapes).toEqual([[3, 1, 40], [3, 2, 20], [3, 1, 40], [2, 7]]);
      // fp32 sums of ~5000 products in a different order
      for (const e of r.errors) expect(e).toBeLessThan(1e-5);
      expect(splitKApplies(3, 1, 40, K, false, 1000)).toBe(true);
      expect(splitKApplies(3, 1, 40, K, true, 1000)).toBe(false);
      expect(splitKApplies(1, 4, 40, K, false, 1000)).toBe(false);
    } finally {
      matmulRowBlock.minSplitK = 16384;
    }
  });

  it('softmax over a short last axis (one thread per row) agrees with cpu, gradient and large logits included', async () => {
    // the gradient: ours on webgpu (a thread per row, any row length), tfjs's composed ops on cpu
    const gradOf = (v: tf.Tensor, w: tf.Tensor) => (tf.getBackend() === 'cpu'
      ? tf.tidy(() => {
        const y = tf.softmax(v);
        return tf.mul(y, tf.sub(w, tf.sum(tf.mul(w, y), -1, true)));
      })
      : tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.softmax(u), w)))(v));
    const { result: r, keys } = await programsOf(() => compareWithCpu(
      [{ shape: [2, 3, 4, 5, 10], seed: 30 }, { shape: [7, 1], seed: 31 }, { shape: [6, 33], seed: 32 }, { shape: [2, 3, 4, 5, 10], seed: 33 }, { shape: [6, 33], seed: 34 }],
      (x, one, wide, w, w33) => [
        tf.softmax(x),
        tf.softmax(one),
        tf.softmax(wide),
        // logits near 1000: exp overflows unless the row maximum is subtracted first
        tf.softmax(tf.add(tf.mul(x, 30), 1000)),
        gradOf(x, w),
        gradOf(wide, w33),
      ]));
    expect(r.shapes).toEqual([[2, 3, 4, 5, 10], [7, 1], [6, 33], [2, 3, 4, 5, 10], [2, 3, 4, 5, 10], [6, 33]]);
    for (const e of r.errors) expect(e).toBeLessThan(1e-6);
    expect(keys.filter((k) => k.startsWith('anatomynet_softmax_grad_rows_'))).toEqual(['anatomynet_softmax_grad_rows_10', 'anatomynet_softmax_grad_rows_33']);
    await tf.setBackend('webgpu');
    const a = tf.ones([2, 5]), b = tf.ones([2, 4]);
    expect(() => tf.engine().runKernel(SOFTMAX_GRAD, { dy: a, y: b }, { dim: -1 })).toThrow(/one shape/);
    tf.dispose([a, b]);
  });

  it('an outer product with 2.2M rows runs (the stock kernel throws)', async () => {
    await tf.setBackend('webgpu');
    const rows = 2_200_000;
    const y = tf.tidy(() => tf.matMul(tf.ones([1, rows, 1]), tf.fill([1, 1, 3], 2)));
    const v = await y.data();
    expect(y.shape).toEqual([1, rows, 3]);
    expect(v.every((x) => x === 2)).toBe(true);
    y.dispose();
  });
  it('the LeakyRelu gradient runs as one fused kernel (no Greater/Multiply/Select) and equals cpu', async () => {
    const grad = (x: tf.Tensor, w: tf.Tensor) => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(a, 0.01), w)))(x);
    // 945 values run one a thread, 840 four (vec4)
    for (const shape of [[1, 3, 5, 7, 9], [1, 3, 5, 7, 8]]) {
      const r = await compareWithCpu([{ shape, seed: 21 }, { shape, seed: 22 }], grad);
      expect(r.shapes).toEqual([shape]);
      expect(r.errors[0]).toBe(0);
    }
    await tf.setBackend('webgpu');
    const x = tf.randomNormal([2, 3, 4, 5]), w = tf.randomNormal([2, 3, 4, 5]);
    const info = await tf.profile(() => grad(x, w));
    const names = info.kernels.map((k) => k.name);
    expect(names).toContain(LEAKY_RELU_GRAD);
    expect(names).not.toContain('Select');
    tf.dispose([x, w]);
  });

  // tfjs-webgpu casts int32 to float32 by relabelling: the buffer stays i32 (tf.oneHot(...).toFloat()
  // targets). Kernels that read buffers themselves take tfjs's path or copy into a float buffer.
  it('int32 data cast to float32 runs through every replaced kernel that reads its buffer, as on cpu', async () => {
    const before = matmulRowBlock.minSplitK;
    matmulRowBlock.minSplitK = 64;
    try {
      const r = await compareWithCpu([{ shape: [1, 4, 6, 5, 8], seed: 40 }, { shape: [3, 3, 3, 8, 4], seed: 41 }, { shape: [8], seed: 42 }], (x, w, v) => {
        const f = tf.cast(tf.round(tf.mul(x, 5)).toInt(), 'float32') as tf.Tensor5D;
        const rows = f.reshape([120, 8]);
        return [
          tf.mul(f, 2), tf.mul(rows, v), tf.concat([f, f], 4), tf.slice(f, [0, 0, 0, 0, 4], [1, 4, 6, 5, 4]), tf.split(f, [4, 4], 4)[1],
          tf.pad(f, [[0, 0], [0, 1], [0, 0], [1, 0], [0, 0]]),
          tf.matMul(tf.fill([1, 1, 120], 1), rows.reshape([1, 120, 8])),
          tf.conv3d(f, w as tf.Tensor5D, 1, 'same'),
          tf.grad((a: tf.Tensor) => tf.sum(tf.conv3d(a as tf.Tensor5D, w as tf.Tensor5D, 1, 'same')))(f),
          tf.grad((b: tf.Tensor) => tf.sum(tf.mul(tf.conv3d(f, b as tf.Tensor5D, 1, 'same'), 0.5)))(w),
        ];
      });
      r.errors.forEach((e, i) => expect(e, `output ${i}`).toBeLessThan(1e-5));
    } finally {
      matmulRowBlock.minSplitK = before;
    }
  });
});
