import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MODEL_CONFIGS_DIR, readModelConfigFile, validateModelConfig, type ModelConfig } from './config';
import { buildModel, forward } from './model';
import { releaseKeptOnes } from './ops';
import { summarizeModel } from './summary';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tiny = (over: Partial<ModelConfig> = {}): ModelConfig =>
  validateModelConfig({ filters: [4, 6, 8], pools: 3, outputUpFilters: 4, outputFilters: 4, seRatio: 2, ...over });

const input = (shape: number[], seed = 1): tf.Tensor5D => tf.randomUniform(shape as [number, number, number, number, number], 0, 1, 'float32', seed) as tf.Tensor5D;

describe('parameter count', () => {
  it('the ref_anatomynet.py configuration has exactly 871,748 parameters (PyTorch counting)', () => {
    const s = summarizeModel(validateModelConfig({}), [16, 16, 16]);
    expect(s.paramCount).toBe(871_748);
    expect(summarizeModel(readModelConfigFile(join(MODEL_CONFIGS_DIR, 'anatomynet-ref.json')), [8, 8, 8]).paramCount).toBe(871_748);
    // running mean + var of the 14 BatchNorms (7 blocks x 2): 2 * 2 * (32+40+48+56+48+40+32) = 1184
    expect(s.bufferCount).toBe(1184);
    const m = buildModel({}, { seed: 0 });
    expect(m.paramCount).toBe(871_748);
    m.dispose();
  });

  it('the summary shapes follow the architecture for odd sizes', () => {
    const s = summarizeModel(tiny(), [9, 13, 11]);
    expect(s.outputShape).toEqual([1, 9, 13, 11, 10]);
    const shapeOf = (name: string): number[] => s.ops.find((o) => o.name === name)!.outShape;
    expect(shapeOf('input.pad')).toEqual([1, 16, 16, 16, 1]);
    expect(shapeOf('enc2.b0.act2')).toEqual([1, 2, 2, 2, 8]);
    expect(shapeOf('dec1.merge')).toEqual([1, 4, 4, 4, 14]);
    expect(shapeOf('out.concat')).toEqual([1, 9, 13, 11, 5]);
    expect(s.trainingBytes).toBeGreaterThan(s.forwardPeakBytes);
    const big = summarizeModel(tiny(), [18, 26, 22]);
    expect(big.forwardPeakBytes).toBeGreaterThan(4 * s.forwardPeakBytes);
  });
});

describe('forward', () => {
  it('gives softmax probabilities of the input size for odd sizes with 3 pools', () => {
    const m = buildModel(tiny(), { seed: 3 });
    const x = input([1, 9, 13, 11, 1]);
    const y = forward(m, x);
    expect(y.shape).toEqual([1, 9, 13, 11, 10]);
    const sums = tf.sum(y, 4).dataSync();
    for (const s of sums) expect(Math.abs(s - 1)).toBeLessThan(1e-5);
    expect(tf.min(y).dataSync()[0]).toBeGreaterThanOrEqual(0);
    tf.dispose([x, y]);
    m.dispose();
  });

  it.each([
    ['concat', 'se-residual', 'batch'],
    ['sum', 'se-residual', 'batch'],
    ['concat', 'residual', 'instance'],
    ['sum', 'plain', 'none'],
    ['concat', 'plain', 'instance'],
  ] as const)('merge %s, block %s, norm %s: runs in both modes, frees its activations', (merge, block, norm) => {
    const cfg = tiny({ merge, block, norm, pools: 2 });
    const m = buildModel(cfg, { seed: 1 });
    expect(m.paramCount).toBe(summarizeModel(cfg, [4, 4, 4]).paramCount);
    const x = input([2, 5, 6, 7, 1]);
    releaseKeptOnes();
    const before = tf.memory().numTensors;
    const yEval = forward(m, x);
    // the sums' ones are kept on purpose (ops.test.ts bounds them)
    releaseKeptOnes();
    expect(tf.memory().numTensors).toBe(before + 1);
    const yTrain = tf.tidy(() => forward(m, x, { training: true }));
    expect(yEval.shape).toEqual([2, 5, 6, 7, 10]);
    expect(yTrain.shape).toEqual([2, 5, 6, 7, 10]);
    tf.dispose([x, yEval, yTrain]);
    m.dispose();
  });

  it('concat and sum differ in the decoder blocks input widths, hence parameters', () => {
    const cat = summarizeModel(tiny({ pools: 1 }), [4, 4, 4]);
    const sum = summarizeModel(tiny({ pools: 1, merge: 'sum' }), [4, 4, 4]);
    expect(cat.ops.find((o) => o.name === 'dec1.merge')!.outShape[4]).toBe(8 + 6);
    expect(sum.ops.find((o) => o.name === 'dec1.merge')!.outShape[4]).toBe(6);
    expect(sum.ops.some((o) => o.name === 'dec1.proj')).toBe(true);
    expect(cat.paramCount).not.toBe(sum.paramCount);
  });

  it('refuses an input with the wrong channel count', () => {
    const m = buildModel(tiny(), { seed: 1 });
    const x = input([1, 4, 4, 4, 2]);
    expect(() => forward(m, x)).toThrow(/\[N,D,H,W,1\]/);
    x.dispose();
    m.dispose();
  });
});

describe('initialisation', () => {
  it('is deterministic in the seed, He-scaled, and different for another seed', () => {
    const a = buildModel(tiny(), { seed: 7 });
    const b = buildModel(tiny(), { seed: 7 });
    const c = buildModel(tiny(), { seed: 8 });
    for (const [name, v] of a.params) {
      expect(Array.from(b.params.get(name)!.dataSync())).toEqual(Array.from(v.dataSync()));
    }
    const w = a.params.get('dec0.b0.conv1.w')!.dataSync() as Float32Array;
    expect(Array.from(w)).not.toEqual(Array.from(c.params.get('dec0.b0.conv1.w')!.dataSync()));
    // He normal for LeakyReLU(0.01): std = sqrt(2 / fanIn), fanIn = 27 * (6 + 4)
    const std = Math.sqrt(w.reduce((s: number, v: number) => s + v * v, 0) / w.length);
    expect(std).toBeGreaterThan(0.85 * Math.sqrt(2 / 270));
    expect(std).toBeLessThan(1.15 * Math.sqrt(2 / 270));
    expect(Array.from(a.params.get('dec0.b0.norm1.gamma')!.dataSync())).toEqual([1, 1, 1, 1]);
    expect(Array.from(a.buffers.get('dec0.b0.norm1.runningVar')!.dataSync())).toEqual([1, 1, 1, 1]);
    [a, b, c].forEach((m) => m.dispose());
  });
});

describe('BatchNorm modes', () => {
  it('training updates the running statistics with momentum 0.1 (unbiased variance)', () => {
    const cfg = tiny({ pools: 1, filters: [4], downsampleNorm: true });
    const m = buildModel(cfg, { seed: 2 });
    const x = input([1, 6, 4, 4, 1]);
    // The first norm sees the stride-2 conv's output: recompute it independently.
    const pre = tf.tidy(() =>
      tf.add(tf.conv3d(x, m.params.get('enc0.down.conv.w')! as unknown as tf.Tensor5D, 2, 'same'), m.params.get('enc0.down.conv.b')!).reshape([-1, 4]),
    );
    const { mean, variance } = tf.moments(pre, 0);
    const rows = pre.shape[0];
    tf.dispose(tf.tidy(() => forward(m, x, { training: true })));
    const rm = m.buffers.get('enc0.down.norm.runningMean')!.dataSync();
    const rv = m.buffers.get('enc0.down.norm.runningVar')!.dataSync();
    const em = mean.dataSync();
    const ev = variance.dataSync();
    for (let c = 0; c < 4; c++) {
      expect(rm[c]).toBeCloseTo(0.1 * em[c], 5);
      expect(rv[c]).toBeCloseTo(0.9 + 0.1 * ev[c] * (rows / (rows - 1)), 5);
    }
    tf.dispose([x, pre, mean, variance]);
    m.dispose();
  });

  it('eval mode uses running statistics: each case is independent of the batch it is in', () => {
    const m = buildModel(tiny({ pools: 1 }), { seed: 4 });
    const a = input([1, 4, 4, 4, 1], 1);
    const b = input([1, 4, 4, 4, 1], 2);
    const ab = tf.concat([a, b], 0);
    const alone = forward(m, a);
    const together = forward(m, ab);
    const first = tf.slice(together, [0, 0, 0, 0, 0], [1, 4, 4, 4, 10]);
    expect(tf.max(tf.abs(tf.sub(alone, first))).dataSync()[0]).toBeLessThan(1e-5);
    // ... whereas training mode mixes the batch through its statistics.
    const tAlone = tf.tidy(() => forward(m, a, { training: true, updateStats: false }));
    const tTogether = tf.tidy(() => forward(m, ab, { training: true, updateStats: false }).slice([0, 0, 0, 0, 0], [1, 4, 4, 4, 10]));
    expect(tf.max(tf.abs(tf.sub(tAlone, tTogether))).dataSync()[0]).toBeGreaterThan(1e-4);
    tf.dispose([a, b, ab, alone, together, first, tAlone, tTogether]);
    m.dispose();
  });
});
