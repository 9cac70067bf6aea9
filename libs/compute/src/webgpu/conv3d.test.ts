/**
 * This project's WGSL Conv3D, Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 against the cpu
 * backend on seeded random data: odd sizes, strides 1, 2 and mixed, 'same' and 'valid' padding,
 * channel counts not divisible by 4, batches of 2, several column tiles and split-K slices.
 * Shapes stay small: lavapipe runs conv3d at well under 1 GFLOP/s.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { filterSlices } from './conv3d_backprop_filter';
import { gemmMode } from './conv3d_gemm';
import { registerWebgpuKernels, useStockWebgpuKernels, WEBGPU_OWN_KERNELS, WEBGPU_REPLACEMENTS } from './register';
import { adapterPromise, compareWithCpu, SKIP_NOTE } from './test_util';

type V5 = [number, number, number, number, number];
type V3 = [number, number, number];
interface Case {
  x: V5;
  f: V5;
  strides: number | V3;
  pad: 'same' | 'valid';
  dilations?: number;
}

const CASES: Case[] = [
  { x: [1, 5, 7, 6, 3], f: [3, 3, 3, 3, 5], strides: 1, pad: 'same' },
  { x: [1, 9, 8, 7, 6], f: [3, 3, 3, 6, 33], strides: 2, pad: 'same' },
  { x: [2, 7, 6, 9, 5], f: [3, 2, 3, 5, 7], strides: 2, pad: 'valid' },
  { x: [1, 6, 9, 5, 17], f: [2, 2, 2, 17, 10], strides: 2, pad: 'same' },
  { x: [1, 7, 5, 8, 1], f: [3, 3, 3, 1, 70], strides: [1, 2, 2], pad: 'same' },
  { x: [1, 11, 10, 9, 13], f: [1, 1, 1, 13, 18], strides: 1, pad: 'valid' },
  { x: [1, 5, 6, 7, 2], f: [3, 3, 3, 2, 3], strides: 1, pad: 'valid' },
  // tap-major K steps: forward (Cin 40, 16) and dx (Cout 32, 16), strides 2 and 1
  { x: [1, 5, 6, 7, 40], f: [3, 3, 3, 40, 32], strides: 2, pad: 'same' },
  { x: [2, 6, 5, 7, 16], f: [3, 3, 3, 16, 16], strides: 1, pad: 'valid' },
  // scalar tap-major forward (Cin 7), vec4 dx (Cout 12); vec4 forward over two column tiles (Cout 70)
  { x: [1, 6, 5, 7, 7], f: [3, 3, 3, 7, 12], strides: 1, pad: 'same' },
  { x: [1, 7, 6, 5, 8], f: [3, 3, 3, 8, 70], strides: 2, pad: 'same' },
];
/** Enough output voxels (10,240) for dW to be split into several slices. */
const SPLIT_K: Case = { x: [1, 10, 32, 32, 3], f: [3, 3, 3, 3, 6], strides: 1, pad: 'same' };
const TOL = 2e-5;

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu conv3d tests ${SKIP_NOTE}`);

const label = (c: Case) => `x=${c.x} f=${c.f} s=${c.strides} ${c.pad}${c.dilations ? ` dil=${c.dilations}` : ''}`;

async function checkAll(c: Case, seed: number): Promise<void> {
  await tf.setBackend('cpu');
  const yShape = tf.tidy(() => tf.conv3d(tf.zeros(c.x) as tf.Tensor5D, tf.zeros(c.f) as tf.Tensor5D, c.strides, c.pad).shape);
  const r = await compareWithCpu(
    [{ shape: c.x, seed }, { shape: c.f, seed: seed + 1 }, { shape: yShape, seed: seed + 2 }],
    (x, f, dy) => [
      tf.conv3d(x as tf.Tensor5D, f as tf.Tensor5D, c.strides, c.pad),
      tf.conv3dTranspose(dy as tf.Tensor5D, f as tf.Tensor5D, c.x, c.strides, c.pad),
      // dW through the gradient, the way training reaches Conv3DBackpropFilterV2
      tf.grad((ff: tf.Tensor) => tf.sum(tf.mul(tf.conv3d(x as tf.Tensor5D, ff as tf.Tensor5D, c.strides, c.pad), dy)))(f),
    ],
  );
  expect(r.shapes).toEqual(r.cpuShapes);
  expect(r.shapes).toEqual([yShape, c.x, c.f]);
  const [fwd, dx, dw] = r.errors;
  expect({ fwd, dx, dw }).toEqual({ fwd: expect.toSatisfy((e: number) => e < TOL), dx: expect.toSatisfy((e: number) => e < TOL), dw: expect.toSatisfy((e: number) => e < TOL) });
}

describe.skipIf(!adapter)(`webgpu Conv3D kernels vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    const choice = await selectBackend({ prefer: 'webgpu', log: () => undefined });
    expect(choice.kernels).toEqual(expect.arrayContaining(['Conv3D', 'Conv3DBackpropInputV2', 'Conv3DBackpropFilterV2']));
  });

  it('the cases cover every K order (flat, tap-major, tap-major vec4) for forward and dx', () => {
    const fwd = new Set(CASES.map((c) => gemmMode(c.x[4])));
    const dx = new Set(CASES.map((c) => gemmMode(c.f[4])));
    expect(fwd).toEqual(new Set(['flat', 'tap', 'tap4']));
    expect(dx).toEqual(new Set(['flat', 'tap', 'tap4']));
  });

  CASES.forEach((c, i) => {
    it(`forward, dx and dW agree: ${label(c)}`, async () => {
      await checkAll(c, 100 + 10 * i);
    });
  });

  it('forward with dilation 2 agrees', async () => {
    const r = await compareWithCpu([{ shape: [1, 9, 8, 10, 3], seed: 7 }, { shape: [3, 3, 3, 3, 5], seed: 8 }],
      (x, f) => tf.conv3d(x as tf.Tensor5D, f as tf.Tensor5D, 1, 'same', 'NDHWC', 2));
    expect(r.errors[0]).toBeLessThan(TOL);
  });

  it(`dW with split-K slices agrees: ${label(SPLIT_K)}`, async () => {
    expect(filterSlices(27 * 3, 6, 10 * 32 * 32)).toBeGreaterThan(1);
    await checkAll(SPLIT_K, 900);
  });

  it('the stock conv kernels can be swapped back in and out (benchmarks compare both)', async () => {
    const replaced = WEBGPU_REPLACEMENTS.flatMap((r) => r.kernels).filter((n) => tf.getKernel(n, 'webgpu'));
    expect(new Set(registerWebgpuKernels())).toEqual(new Set([...replaced, ...WEBGPU_OWN_KERNELS]));
    const ours = tf.getKernel('Conv3D', 'webgpu');
    expect(useStockWebgpuKernels(['Conv3D', 'Conv3DBackpropInputV2', 'Conv3DBackpropFilterV2'])).toHaveLength(3);
    expect(tf.getKernel('Conv3D', 'webgpu')).not.toBe(ours);
    await checkAll(CASES[0], 500);
    registerWebgpuKernels();
    expect(tf.getKernel('Conv3D', 'webgpu')).toBe(ours);
  });
});
