/**
 * Concat, Slice and SplitV (concat_slice.ts) against the cpu backend: the vec4 column copies where
 * widths and offsets are multiples of 4, the stock kernels elsewhere, and which of the two ran.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { concatColumns, sliceColumns } from './concat_slice';
import { adapterPromise, compareWithCpu, programsOf, SKIP_NOTE } from './test_util';

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu concat and slice tests ${SKIP_NOTE}`);

describe('column ranges of concats and slices', () => {
  it('a concat along an axis is the columns of the rows before it', () => {
    expect(concatColumns([[2, 3, 4, 5], [2, 3, 1, 5]], 2)).toEqual({ rows: 6, widths: [20, 5] });
    expect(concatColumns([[2, 3], [2, 5], [2, 1]], 1)).toEqual({ rows: 2, widths: [3, 5, 1] });
    expect(concatColumns([[7, 3], [2, 3]], 0)).toEqual({ rows: 1, widths: [21, 6] });
    // another dimension differs, ranks differ, an axis past the rank
    expect(concatColumns([[2, 3, 4], [2, 4, 5]], 2)).toBeUndefined();
    expect(concatColumns([[2, 3], [2, 3, 1]], 1)).toBeUndefined();
    expect(concatColumns([[2, 3], [2, 3]], 2)).toBeUndefined();
  });

  it('a slice that cuts one axis is a column range; one cutting several or none is not', () => {
    expect(sliceColumns([2, 3, 4, 8], [0, 0, 0, 4], [2, 3, 4, 4])).toEqual({ rows: 24, width: 8, first: 4, columns: 4 });
    expect(sliceColumns([2, 3, 4, 8], [0, 1, 0, 0], [2, 2, 4, 8])).toEqual({ rows: 2, width: 96, first: 32, columns: 64 });
    expect(sliceColumns([2, 3, 4, 8], [0, 1, 0, 4], [2, 2, 4, 4])).toBeUndefined();
    expect(sliceColumns([2, 3], [0, 0], [2, 3])).toBeUndefined();
  });
});

describe.skipIf(!adapter)(`webgpu Concat, Slice and SplitV vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    const choice = await selectBackend({ prefer: 'webgpu', log: () => undefined });
    expect(choice.kernels).toEqual(expect.arrayContaining(['Concat', 'Slice', 'SplitV']));
    tf.env().set('WEBGPU_CPU_FORWARD', false);
  });
  const ours = (keys: string[], prefix: string) => keys.some((k) => k.startsWith(`anatomynet_flat_${prefix}`));

  it.each([
    // the decoder's channel concat; three parts along a middle axis; widths not divisible by 4 (stock)
    { name: 'channels 8 + 12', shapes: [[1, 3, 4, 5, 8], [1, 3, 4, 5, 12]], axis: 4, own: true },
    { name: 'three parts along axis 1', shapes: [[2, 3, 4, 4], [2, 5, 4, 4], [2, 1, 4, 4]], axis: 1, own: true },
    { name: 'channels 6 + 7 (stock)', shapes: [[1, 3, 4, 5, 6], [1, 3, 4, 5, 7]], axis: -1, own: false },
  ])('concat: $name', async ({ shapes, axis, own }) => {
    const { result: r, keys } = await programsOf(() => compareWithCpu(shapes.map((shape, i) => ({ shape, seed: 10 + i })), (...xs) => tf.concat(xs, axis)));
    expect(r.shapes).toEqual(r.cpuShapes);
    expect(r.errors).toEqual([0]);
    expect(ours(keys, `concat_${shapes.length}_vec4`)).toBe(own);
  });

  it.each([
    { name: 'channels 4-12 of 16', shape: [1, 3, 4, 5, 16], begin: [0, 0, 0, 0, 4], size: [-1, -1, -1, -1, 8], own: true },
    { name: 'planes 1-2 of 3', shape: [2, 3, 5, 4], begin: [0, 1, 0, 0], size: [2, 2, 5, 4], own: true },
    { name: 'channels 2-10 (stock: not at a multiple of 4)', shape: [1, 3, 4, 5, 16], begin: [0, 0, 0, 0, 2], size: [-1, -1, -1, -1, 8], own: false },
    { name: 'two axes cut (stock)', shape: [1, 3, 4, 5, 16], begin: [0, 1, 0, 0, 4], size: [-1, 2, -1, -1, 8], own: false },
  ])('slice: $name', async ({ shape, begin, size, own }) => {
    const { result: r, keys } = await programsOf(() => compareWithCpu([{ shape, seed: 20 }], (x) => tf.slice(x, begin, size)));
    expect(r.shapes).toEqual(r.cpuShapes);
    expect(r.errors).toEqual([0]);
    expect(ours(keys, 'slice_columns')).toBe(own);
  });

  it('split into three along the channels, and the gradient of a concat (a split)', async () => {
    const { result: r, keys } = await programsOf(() => compareWithCpu([{ shape: [1, 2, 3, 5, 24], seed: 30 }], (x) => tf.split(x, [8, 4, 12], 4)));
    expect(r.shapes).toEqual([[1, 2, 3, 5, 8], [1, 2, 3, 5, 4], [1, 2, 3, 5, 12]]);
    expect(r.errors).toEqual([0, 0, 0]);
    expect(keys.filter((k) => k.startsWith('anatomynet_flat_slice_columns'))).toHaveLength(3);
    const grad = await compareWithCpu([{ shape: [1, 2, 3, 5, 8], seed: 31 }, { shape: [1, 2, 3, 5, 12], seed: 32 }, { shape: [1, 2, 3, 5, 20], seed: 33 }],
      (a, b, w) => tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.concat([p, q], 4), w)))([a, b]));
    expect(grad.shapes).toEqual([[1, 2, 3, 5, 8], [1, 2, 3, 5, 12]]);
    expect(grad.errors).toEqual([0, 0]);
  });
});
