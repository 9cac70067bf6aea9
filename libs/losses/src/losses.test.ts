import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { LossInputError, type LossContext } from './inputs';
import { diceLoss, generalisedDiceLoss, tverskyLoss } from './overlap';
import { buildLoss, LOSS_NAMES, LossConfigError, resolveLossConfig } from './registry';
import { crossEntropyLoss, expLogLoss, focalLoss } from './voxel';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const val = (t: tf.Scalar): number => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

/*
 * Two voxels, two classes. Voxel 0 is class 0 predicted (0.8, 0.2); voxel 1 is class 1 predicted (0.4, 0.6).
 * Class 0: TP = 0.8, FN = 0.2, FP = 0.4.  Class 1: TP = 0.6, FN = 0.4, FP = 0.2.
 */
const P = [
  [0.8, 0.2],
  [0.4, 0.6],
];
const G = [
  [1, 0],
  [0, 1],
];
const probs = () => tf.tensor2d(P);
const target = () => tf.tensor2d(G);
const ln = Math.log;

describe('hand-computed values on two voxels', () => {
  it('Dice (eq. 3, alpha = beta = 0.5): 2 - 0.8/1.1 - 0.6/0.9', () => {
    expect(val(diceLoss(probs(), target(), { smooth: 0 }))).toBeCloseTo(2 - 0.8 / 1.1 - 0.6 / 0.9, 6);
  });

  it('Tversky alpha 0.3, beta 0.7: 2 - 0.8/(0.8+0.06+0.28) - 0.6/(0.6+0.12+0.14)', () => {
    const v = val(tverskyLoss(probs(), target(), { alpha: 0.3, beta: 0.7, smooth: 0 }));
    expect(v).toBeCloseTo(2 - 0.8 / 1.14 - 0.6 / 0.86, 6);
  });

  it('smoothing scores an absent, unpredicted class as perfect', () => {
    const p = tf.tensor2d([[1, 0], [1, 0]]);
    const g = tf.tensor2d([[1, 0], [1, 0]]);
    expect(val(diceLoss(p, g))).toBeCloseTo(0, 6);
  });

  it('focal gamma 2: -(1/2)(0.2^2 ln 0.8 + 0.4^2 ln 0.6)', () => {
    expect(val(focalLoss(probs(), target()))).toBeCloseTo(-(0.04 * ln(0.8) + 0.16 * ln(0.6)) / 2, 6);
  });

  it('cross-entropy: -(ln 0.8 + ln 0.6) / 2', () => {
    expect(val(crossEntropyLoss(probs(), target()))).toBeCloseTo(-(ln(0.8) + ln(0.6)) / 2, 6);
  });

  it('generalised Dice (unit volume weights here): 1 - 2 (0.8 + 0.6) / (2.2 + 1.8)', () => {
    expect(val(generalisedDiceLoss(probs(), target(), { smooth: 0 }))).toBeCloseTo(1 - 2.8 / 4, 6);
  });

  it('generalised Dice weighs classes by 1/volume^2', () => {
    // Class 0 has 2 voxels (weight 1/4), class 1 has 1 (weight 1).
    const p = tf.tensor2d([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]]);
    const g = tf.tensor2d([[1, 0], [1, 0], [0, 1]]);
    const num = 2 * (0.25 * 1.6 + 1 * 0.8);
    const den = 0.25 * (1.8 + 2) + 1 * (1.2 + 1);
    expect(val(generalisedDiceLoss(p, g, { smooth: 0 }))).toBeCloseTo(1 - num / den, 6);
  });

  it('exponential logarithmic (Wong): 0.8 mean (-ln D)^0.3 + 0.2 mean f_c (-ln p)^0.3, f_c = (V / V_c)^0.5', () => {
    const d0 = 1.6 / 2.2;
    const d1 = 1.2 / 1.8;
    // one voxel per class: f = sqrt(2) for both
    const expected = (0.8 * ((-ln(d0)) ** 0.3 + (-ln(d1)) ** 0.3)) / 2 + (0.2 * Math.SQRT2 * ((-ln(0.8)) ** 0.3 + (-ln(0.6)) ** 0.3)) / 2;
    expect(val(expLogLoss(probs(), target(), { smooth: 0 }))).toBeCloseTo(expected, 5);
    // class 0 has 2 of 3 voxels (f = sqrt(3/2)), class 1 one (f = sqrt(3)); cross term only
    const p = tf.tensor2d([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]]);
    const g = tf.tensor2d([[1, 0], [1, 0], [0, 1]]);
    const cross = (Math.sqrt(1.5) * ((-ln(0.9)) ** 0.3 + (-ln(0.7)) ** 0.3) + Math.sqrt(3) * (-ln(0.8)) ** 0.3) / 3;
    expect(val(expLogLoss(p, g, { wDice: 0, wCross: 1 }))).toBeCloseTo(cross, 5);
  });

  it('weights and masks (eq. 6-7)', () => {
    const dice0 = 0.8 / 1.1;
    const dice1 = 0.6 / 0.9;
    expect(val(diceLoss(probs(), target(), { smooth: 0 }, { weights: [2, 1] }))).toBeCloseTo(3 - 2 * dice0 - dice1, 6);
    expect(val(diceLoss(probs(), target(), { smooth: 0 }, { mask: [0, 1] }))).toBeCloseTo(1 - dice1, 6);
    expect(val(focalLoss(probs(), target(), {}, { mask: [0, 1], weights: [2, 3] }))).toBeCloseTo((-3 * 0.16 * ln(0.6)) / 2, 6);
  });

  it('a batch of cases [N, D, H, W, C] is the mean of its cases, each with its own mask', () => {
    const a = tf.tensor(P.flat(), [1, 1, 1, 2, 2]);
    const b = tf.tensor([0.3, 0.7, 0.1, 0.9], [1, 1, 1, 2, 2]);
    const g = tf.tensor(G.flat(), [1, 1, 1, 2, 2]);
    const both = tf.concat([a, b]);
    const gg = tf.concat([g, g]);
    for (const name of LOSS_NAMES) {
      const f = buildLoss({ name });
      const ctx: LossContext = { mask: [[1, 1], [0, 1]] };
      const expected = (val(f(a, g, { mask: [1, 1] })) + val(f(b, g, { mask: [0, 1] }))) / 2;
      expect(val(f(both, gg, ctx)), name).toBeCloseTo(expected, 5);
    }
  });

  it('refuses mismatched shapes and masks', () => {
    expect(() => diceLoss(probs(), tf.ones([2, 3]))).toThrow(LossInputError);
    expect(() => diceLoss(probs(), target(), {}, { mask: [1, 1, 1] })).toThrow(/mask shape \[3\] must be \[2\] or \[1,2\]/);
    expect(() => focalLoss(probs(), target(), {}, { weights: [1] })).toThrow(/weights shape/);
  });
});

/** A random problem: probabilities in (0.05, 0.95) (not normalised: the losses do not need it). */
function problem(v: number, c: number, seed: number) {
  const p = tf.randomUniform([v, c], 0.05, 0.95, 'float32', seed) as tf.Tensor2D;
  const labels = tf.randomUniform([v], 0, c, 'int32', seed + 1) as tf.Tensor1D;
  const g = tf.oneHot(labels, c).toFloat() as tf.Tensor2D;
  return { p, g };
}

describe('gradients', () => {
  it.each(LOSS_NAMES)('%s: analytic gradient matches central finite differences (masked, weighted)', (name) => {
    const f = buildLoss({ name });
    const { p, g } = problem(6, 3, 21);
    const ctx: LossContext = { mask: [1, 0, 1], weights: [0.5, 2, 1.5] };
    const analytic = tf.grad((x: tf.Tensor) => f(x, g, ctx))(p).arraySync() as number[][];
    const base = p.arraySync();
    const h = 5e-3;
    const at = (i: number, c: number, d: number): number => {
      const q = base.map((row) => row.slice());
      q[i][c] += d;
      return val(f(tf.tensor2d(q), g, ctx));
    };
    for (let i = 0; i < 6; i++) {
      for (let c = 0; c < 3; c++) {
        const numeric = (at(i, c, h) - at(i, c, -h)) / (2 * h);
        expect(Math.abs(numeric - analytic[i][c]), `${name} d/dp[${i}][${c}]`).toBeLessThan(5e-5 + 1e-2 * Math.abs(analytic[i][c]));
      }
    }
  });
});

describe('a missing organ contributes nothing', () => {
  it.each(LOSS_NAMES)('%s: masked class has zero gradient and the loss equals the loss without that class', (name) => {
    const f = buildLoss({ name });
    const { p, g } = problem(8, 3, 31);
    const mask = [1, 0, 1];
    const grad = tf.grad((x: tf.Tensor) => f(x, g, { mask }))(p);
    const masked = tf.gather(grad, [1], 1).abs().max().dataSync()[0];
    expect(masked).toBe(0);
    expect(tf.gather(grad, [0, 2], 1).abs().max().dataSync()[0]).toBeGreaterThan(0);
    // Dropping the column entirely gives the same loss...
    const kept = val(f(tf.gather(p, [0, 2], 1), tf.gather(g, [0, 2], 1)));
    expect(val(f(p, g, { mask }))).toBeCloseTo(kept, 5);
    // ... and whatever is predicted or annotated for the missing class changes nothing.
    const p2 = tf.concat([tf.gather(p, [0], 1), tf.fill([8, 1], 0.9), tf.gather(p, [2], 1)], 1);
    const g2 = tf.concat([tf.gather(g, [0], 1), tf.ones([8, 1]), tf.gather(g, [2], 1)], 1);
    expect(val(f(p2, g2, { mask }))).toBeCloseTo(kept, 5);
  });
});

describe('registry', () => {
  it('the hybrid losses equal the weighted sum of their parts', () => {
    const { p, g } = problem(10, 4, 41);
    const ctx: LossContext = { mask: [1, 1, 0, 1], weights: [1, 2, 3, 4] };
    const dice = val(tverskyLoss(p, g, {}, ctx));
    expect(val(buildLoss({ name: 'dice+focal' })(p, g, ctx))).toBeCloseTo(dice + 0.5 * val(focalLoss(p, g, { gamma: 2 }, ctx)), 6);
    expect(val(buildLoss({ name: 'dice+ce', lambda: 0.3 })(p, g, ctx))).toBeCloseTo(dice + 0.3 * val(crossEntropyLoss(p, g, ctx)), 6);
    const tv = val(tverskyLoss(p, g, { alpha: 0.3, beta: 0.7 }, ctx));
    const fo = val(focalLoss(p, g, { gamma: 1 }, ctx));
    expect(val(buildLoss({ name: 'dice+focal', alpha: 0.3, beta: 0.7, gamma: 1, lambda: 2 })(p, g, ctx))).toBeCloseTo(tv + 2 * fo, 6);
  });

  it('fills the paper defaults', () => {
    expect(resolveLossConfig({ name: 'dice+focal' })).toEqual({ name: 'dice+focal', alpha: 0.5, beta: 0.5, smooth: 1e-5, gamma: 2, lambda: 0.5 });
    expect(resolveLossConfig({ name: 'dice+ce' }).lambda).toBe(0.1);
    expect(resolveLossConfig({ name: 'exp-log' })).toMatchObject({ gammaDice: 0.3, gammaCross: 0.3 });
  });

  it.each([
    [{ name: 'hinge' }, 'name'],
    [{ name: 'dice', gamma: 2 }, 'gamma'],
    [{ name: 'focal', gamma: -1 }, 'gamma'],
    [{ name: 'dice+focal', lambda: 'half' }, 'lambda'],
    [{}, 'name'],
  ])('refuses %j naming field %s', (cfg, field) => {
    try {
      buildLoss(cfg);
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(LossConfigError);
      expect((e as LossConfigError).field).toBe(field);
      expect((e as Error).message).toContain(JSON.stringify((cfg as any)[field]));
    }
  });

  it('no tensors are left behind by any loss', () => {
    const { p, g } = problem(5, 3, 51);
    const before = tf.memory().numTensors;
    for (const name of LOSS_NAMES) {
      const f = buildLoss({ name });
      val(f(p, g, { mask: [1, 0, 1], weights: [1, 1, 2] }));
      tf.grad((x: tf.Tensor) => f(x, g)).call(null, p).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
