import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { classWeights } from './availability';
import { marginalMask, marginalMergeMatrix, mergeMissingIntoBackground } from './marginal';
import { buildLoss } from './registry';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('marginal loss for missing annotations', () => {
  const annotated = [true, false, true]; // organs 1 and 3 annotated, organ 2 missing; C = 4

  it('folds the missing organs into background and keeps the rest', () => {
    expect(marginalMergeMatrix(annotated)).toEqual([
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [1, 0, 0, 0],
      [0, 0, 0, 1],
    ]);
    const p = tf.tensor2d([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]]);
    const merged = mergeMissingIntoBackground(p, annotated).arraySync() as number[][];
    [[0.4, 0.2, 0, 0.4], [0.8, 0.1, 0, 0.1]].forEach((row, i) => row.forEach((v, j) => expect(merged[i][j]).toBeCloseTo(v, 6)));
    // Rows still sum to 1, and a fully annotated case is unchanged.
    merged.forEach((r) => expect(r.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6));
    expect(mergeMissingIntoBackground(p, [true, true, true]).arraySync()).toEqual(p.arraySync());
    expect(() => mergeMissingIntoBackground(p, [true, true])).toThrow(RangeError);
  });

  it('background is always in the mask; class weights count it in every case', () => {
    expect(marginalMask(annotated)).toEqual([1, 1, 0, 1]);
    expect(classWeights([annotated, [true, true, true]], 'none', marginalMask)).toEqual([0.5, 0.5, 1, 0.5]);
  });

  it('penalises an annotated organ predicted on a background voxel, not a missing one', async () => {
    const focal = buildLoss({ name: 'focal', gamma: 0 });
    const target = tf.tensor2d([[1, 0, 0, 0]]); // a voxel labelled background
    const loss = (p: number[]) => focal(mergeMissingIntoBackground(tf.tensor2d([p]), annotated), target, { mask: marginalMask(annotated) }).dataSync()[0];
    const missingOrgan = loss([0.1, 0, 0.9, 0]); // the missing organ 2 there is allowed
    const annotatedOrgan = loss([0.1, 0.9, 0, 0]); // organ 1 is annotated: it is not there
    expect(missingOrgan).toBeCloseTo(0, 5);
    expect(annotatedOrgan).toBeCloseTo(-Math.log(0.1), 4);
    // The paper's mask drops background here, so neither is penalised.
    const paper = (p: number[]) => focal(tf.tensor2d([p]), target, { mask: [0, 1, 0, 1] }).dataSync()[0];
    expect(Math.abs(paper([0.1, 0.9, 0, 0]))).toBe(0);
    // Gradients reach the merged classes.
    const g = tf.grad((q: tf.Tensor) => focal(mergeMissingIntoBackground(q, annotated), target, { mask: marginalMask(annotated) }))(tf.tensor2d([[0.5, 0.2, 0.2, 0.1]]));
    const gv = g.dataSync();
    expect(gv[0]).toBeCloseTo(gv[2], 6);
    expect(gv[0]).toBeLessThan(0);
    expect(Math.abs(gv[1])).toBe(0);
  });
});
