import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { selectBackend } from '@anatomynet/compute';
import { openSqliteStore } from '@anatomynet/tracking';
import { resolveRunConfig } from './run-config';
import { trainRun } from './trainer';
import { writeTinyDataset } from './testing/tiny-dataset';

const root = mkdtempSync(join(tmpdir(), 'trainer-webgpu-test-'));
let webgpu = false;
beforeAll(async () => {
  webgpu = (await selectBackend({ prefer: 'webgpu', log: () => undefined })).backend === 'webgpu';
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('trainRun on webgpu (lavapipe in CI)', () => {
  // the GPU memory a run needs is tracked beside its losses: one figure per epoch
  test('records the most GPU memory each epoch\'s steps allocated', async (ctx) => {
    if (!webgpu) ctx.skip();
    const ds = join(root, 'ds');
    writeTinyDataset(ds, { cases: 3 });
    const store = openSqliteStore(join(root, 'runs.db'));
    const cfg = resolveRunConfig({
      seed: 3,
      model: { filters: [4, 6], blocksPerStage: 1, block: 'residual', outputUpFilters: 4, outputFilters: 4 },
      data: { huWindow: { lo: -200, hi: 1300 }, augment: null },
      schedule: { rmspropEpochs: 2, rmspropLr: 0.002, sgdEpochs: 0, sgdLr: 0.001, momentum: 0.9 },
      validateEveryEpochs: 2,
    });
    const r = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'gpu', runName: 'gpu', runsDir: join(root, 'runs') });
    expect(r.status).toBe('FINISHED');
    const gpu = await store.metricSeries(r.runId, 'gpu/allocated_gb');
    expect(gpu.map((m) => m.step)).toEqual([0, 1]);
    // a crop's input, one-hot target and activations (over 100 kB); far below 1 GB for this tiny model
    for (const m of gpu) expect(m.value).toBeGreaterThan(1e-4);
    for (const m of gpu) expect(m.value).toBeLessThan(1);
    expect(tf.getBackend()).toBe('webgpu');
    await store.close();
  }, 600_000);
});
