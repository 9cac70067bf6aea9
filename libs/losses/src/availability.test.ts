import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { caseMask, caseMasks, classWeights } from './availability';
import { hardDice, hardDiceFromLabels } from './metric';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('masks (eq. 4-5)', () => {
  it('background counts only if every organ is annotated', () => {
    expect(caseMask([true, true, true])).toEqual([1, 1, 1, 1]);
    expect(caseMask([true, false, true])).toEqual([0, 1, 0, 1]);
    expect(caseMasks([[false, false], [true, true]])).toEqual([[0, 0, 0], [1, 1, 1]]);
  });
});

describe('class weights (eq. 6)', () => {
  const avail = [
    [true, true, true],
    [true, false, true],
    [true, false, false],
    [true, true, true],
  ];

  it('w(c) = 1 / number of cases annotating c, background by the mask rule', () => {
    // counts: background 2 (cases 0, 3), organ1 4, organ2 2, organ3 3
    expect(classWeights(avail)).toEqual([1 / 2, 1 / 4, 1 / 2, 1 / 3]);
  });

  it('normalisations: most-annotated class weighs 1, or mean 1', () => {
    expect(classWeights(avail, 'min-one')).toEqual([2, 1, 2, 4 / 3]);
    const mean = classWeights(avail, 'mean-one');
    expect(mean.reduce((a, b) => a + b, 0) / 4).toBeCloseTo(1, 12);
  });

  it('a class nobody annotates weighs 0; ragged input is refused', () => {
    expect(classWeights([[true, false], [true, false]])).toEqual([0, 1 / 2, 0]);
    expect(() => classWeights([[true], [true, false]])).toThrow(/case 1 has 2 organs/);
    expect(() => classWeights([])).toThrow(RangeError);
  });
});

describe('hard Dice', () => {
  it('from labels, with the empty-class convention', () => {
    // class 0: tp 2, fp 1, fn 0 -> 4/5; class 1: tp 1, fp 0, fn 1 -> 2/3; class 2 absent -> NaN; class 3 predicted only -> 0
    const r = hardDiceFromLabels([0, 0, 0, 1, 3], [0, 0, 1, 1, 0], 4);
    expect(r.tp).toEqual([2, 1, 0, 0]);
    expect(r.fp).toEqual([1, 0, 0, 1]);
    expect(r.fn).toEqual([1, 1, 0, 0]);
    expect(r.dice[0]).toBeCloseTo(4 / 6, 12);
    expect(r.dice[1]).toBeCloseTo(2 / 3, 12);
    expect(r.dice[2]).toBeNaN();
    expect(r.dice[3]).toBe(0);
    expect(() => hardDiceFromLabels([0], [5], 4)).toThrow(RangeError);
  });

  it('from probability tensors against one-hot or integer targets', async () => {
    const probs = tf.tensor([0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7], [1, 2, 2, 1, 2]);
    const labels = tf.tensor([0, 1, 1, 1], [1, 2, 2, 1], 'int32');
    const oneHot = tf.oneHot(labels.reshape([-1]), 2).reshape([1, 2, 2, 1, 2]);
    const a = await hardDice(probs, oneHot);
    const b = await hardDice(probs, labels);
    // pred [0, 1, 0, 1] vs truth [0, 1, 1, 1]: class 0 2/3, class 1 4/5
    expect(a.dice[0]).toBeCloseTo(2 / 3, 6);
    expect(a.dice[1]).toBeCloseTo(4 / 5, 6);
    expect(b).toEqual(a);
  });
});
