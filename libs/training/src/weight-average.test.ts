import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { selectBackend } from '@anatomynet/compute';
import { buildModel, validateModelConfig, type AnatomyNetModel } from '@anatomynet/model';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { averageDecayAt, WeightAverage } from './weight-average';

const root = mkdtempSync(join(tmpdir(), 'weight-average-'));
beforeAll(() => selectBackend({ prefer: 'cpu', log: () => undefined }));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tinyModel = () => buildModel(validateModelConfig({ filters: [4, 6], blocksPerStage: 1, block: 'residual', outputUpFilters: 4, outputFilters: 4 }), { seed: 3 });
const snapshot = (m: AnatomyNetModel) => new Map([...m.params, ...m.buffers].map(([n, v]) => [n, Array.from(v.dataSync())]));
const shifted = (m: AnatomyNetModel, by: number) => [...m.params, ...m.buffers].forEach(([, v]) => v.assign(tf.tidy(() => v.add(by))));

describe('WeightAverage', () => {
  test('warms up from 0.1 towards its decay', () => {
    expect(averageDecayAt(0.99, 0)).toBeCloseTo(0.1, 12);
    expect(averageDecayAt(0.99, 10)).toBeCloseTo(11 / 20, 12);
    expect(averageDecayAt(0.9, 1000)).toBe(0.9);
  });

  test('the average is decay * average + (1 - decay) * weights, over weights and BatchNorm statistics', async () => {
    const model = tinyModel();
    const w0 = snapshot(model);
    const avg = new WeightAverage(model, 0.75);
    shifted(model, 1);
    avg.update(100); // decay 0.75: average = w0 + 0.25
    shifted(model, 1);
    avg.update(101); // average = 0.75 (w0 + 0.25) + 0.25 (w0 + 2) = w0 + 0.6875
    const values = await avg.values();
    expect([...values.keys()].sort()).toEqual([...w0.keys()].sort());
    expect([...values.keys()].some((n) => n.endsWith('runningVar'))).toBe(true);
    for (const [name, v] of values) v.forEach((x, i) => expect(x).toBeCloseTo(w0.get(name)![i] + 0.6875, 5));
    avg.dispose();
    model.dispose();
  });

  test('applied() runs with the averaged weights and puts the trained ones back bit for bit', async () => {
    const model = tinyModel();
    const avg = new WeightAverage(model, 0.5);
    shifted(model, 0.3);
    avg.update(50);
    const trained = snapshot(model);
    const averaged = await avg.values();
    const seen = await avg.applied(async () => snapshot(model));
    for (const [name, v] of seen) expect(v).toEqual(Array.from(averaged.get(name)!));
    expect(snapshot(model)).toEqual(trained);
    avg.dispose();
    model.dispose();
  });

  test('a checkpoint keeps the average, and a run resumed from it continues the same average', async () => {
    const model = tinyModel();
    const avg = new WeightAverage(model, 0.9);
    shifted(model, 0.5);
    avg.update(40);
    const opt = tf.train.rmsprop(1e-3);
    const state = { epoch: 1, step: 41, phase: 'rmsprop' as const, bestValDice: 0.5, bestEpoch: 0 };
    const ck = await saveCheckpoint(join(root, 'ck'), model, opt, state, await avg.values());
    const loaded = await loadCheckpoint(ck.dir, () => tf.train.rmsprop(1e-3));
    expect(loaded.average).toEqual(await avg.values());
    const resumed = new WeightAverage(loaded.model, 0.9, loaded.average);
    shifted(model, 0.5);
    shifted(loaded.model, 0.5);
    avg.update(41);
    resumed.update(41);
    expect(await resumed.values()).toEqual(await avg.values());
    // a checkpoint without an average loads without one
    const plain = await saveCheckpoint(join(root, 'plain'), model, opt, state);
    expect((await loadCheckpoint(plain.dir, () => tf.train.rmsprop(1e-3))).average).toBeUndefined();
    [avg, resumed].forEach((a) => a.dispose());
    [model, loaded.model].forEach((m) => m.dispose());
  });

  test('refuses a decay outside (0, 1) and saved values that do not fit the model', () => {
    const model = tinyModel();
    expect(() => new WeightAverage(model, 1)).toThrow(/emaDecay/);
    expect(() => new WeightAverage(model, 0.9, new Map([['x', new Float32Array(1)]]))).toThrow(/no saved values/);
    model.dispose();
  });
});
