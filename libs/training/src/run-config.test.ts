import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { planGrid, readGridFile } from './grid';
import { changedFields, configChanges, DEFAULT_RUN_CONFIG, resolveRunConfig, runConfigDigest, RunConfigError, slowOnCpuReason } from './run-config';

const EXPERIMENTS = join(__dirname, '../../../experiments');

describe('run config', () => {
  test('defaults are the paper settings', () => {
    const c = resolveRunConfig({});
    expect(c.schedule).toMatchObject({ rmspropEpochs: 150, rmspropLr: 2e-3, sgdEpochs: 50, sgdLr: 1e-3, momentum: 0.9 });
    expect(c.loss).toMatchObject({ name: 'dice+focal', lambda: 0.5, alpha: 0.5, beta: 0.5, gamma: 2 });
    expect(c.model.pools).toBe(1);
    expect(runConfigDigest(c)).toBe(runConfigDigest(resolveRunConfig({})));
    // no weight average unless asked for, and the key stays out so earlier runs' digests still match
    expect('emaDecay' in c.schedule).toBe(false);
    // the same for cross-validation folds
    expect('fold' in c.data).toBe(false);
    expect(resolveRunConfig({ data: { fold: { k: 5, index: 2 } } } as never).data.fold).toEqual({ k: 5, index: 2 });
  });
  test.each([
    [{ seed: -1 }, 'seed'],
    [{ bogus: 1 }, 'bogus'],
    [{ model: { pools: 7 } }, 'model.pools'],
    [{ loss: { name: 'dice', lambda: 2 } }, 'loss.lambda'],
    [{ data: { spacingMm: [1, 1] } }, 'data.spacingMm'],
    [{ data: { subset: 'some' } }, 'data.subset'],
    [{ schedule: { rmspropEpochs: 0, sgdEpochs: 0 } }, 'schedule'],
    [{ masking: { masked: 'yes' } }, 'masking.masked'],
    [{ masking: { masked: false, marginal: true } }, 'masking.marginal'],
    [{ schedule: { rmspropMomentum: 1 } }, 'schedule.rmspropMomentum'],
    [{ schedule: { emaDecay: 1 } }, 'schedule.emaDecay'],
    [{ evaluation: { componentMinShare: 0 } }, 'evaluation.componentMinShare'],
    [{ evaluation: { componentMinShare: 1.5 } }, 'evaluation.componentMinShare'],
    [{ data: { fold: { k: 1, index: 1 } } }, 'data.fold.k'],
    [{ data: { fold: { k: 5, index: 6 } } }, 'data.fold.index'],
    [{ data: { fold: { k: 5, index: 0 } } }, 'data.fold.index'],
    [{ data: { fold: { k: 5 } } }, 'data.fold.index'],
    [{ data: { fold: null } }, 'data.fold'],
  ])('%j is refused naming %s', (input, field) => {
    try {
      resolveRunConfig(input);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(RunConfigError);
      expect((e as RunConfigError).field).toBe(field);
    }
  });
  test('overrides merge deeply; arrays replace', () => {
    const c = resolveRunConfig({ model: { filters: [8, 8] , pools: 2}, data: { spacingMm: [2, 2, 3] } });
    expect(c.model.filters).toEqual([8, 8]);
    expect(c.data.huWindow).toEqual(DEFAULT_RUN_CONFIG.data.huWindow);
    expect(c.data.spacingMm).toEqual([2, 2, 3]);
  });
});

describe('experiments/*.json', () => {
  const files = readdirSync(EXPERIMENTS).filter((f) => f.endsWith('.json'));
  test('the five grids exist', () => {
    expect(files.sort()).toEqual(['fig3-pooling.json', 'fig4-architecture.json', 'fig5-losses.json', 'fig6-final.json', 'table1-datasets.json']);
  });
  test.each(files)('%s plans valid, distinct cells in both profiles', (f) => {
    const g = readGridFile(join(EXPERIMENTS, f));
    for (const profile of ['full', 'smoke']) {
      const cells = planGrid(g, profile);
      expect(new Set(cells.map((c) => c.digest)).size).toBe(cells.length);
    }
    expect(planGrid(g, 'full')[0].config.schedule.rmspropEpochs).toBe(150);
  });
  test('fig3 varies only the number of down-sampling layers', () => {
    const cells = planGrid(readGridFile(join(EXPERIMENTS, 'fig3-pooling.json')), 'full');
    expect(cells.map((c) => c.config.model.pools)).toEqual([1, 2, 3, 4]);
    expect(new Set(cells.map((c) => JSON.stringify({ ...c.config, model: { ...c.config.model, pools: 0 } }))).size).toBe(1);
  });
  test('fig5 has the paper loss rows', () => {
    const cells = planGrid(readGridFile(join(EXPERIMENTS, 'fig5-losses.json')), 'smoke');
    expect(cells.map((c) => `${c.config.loss.name}${c.config.loss.lambda ?? ''}`)).toEqual([
      'dice', 'exp-log', 'dice+focal0.1', 'dice+focal0.5', 'dice+focal1', 'dice+ce0.1', 'dice+ce0.5', 'dice+ce1', 'generalised-dice',
    ]);
  });
});

test('changedFields lists the dotted paths that differ, added and removed fields included; configChanges shows the values', () => {
  expect(changedFields({ a: 1, b: { c: 2, d: [1, 2] } }, { a: 1, b: { c: 3, d: [1, 2] } })).toEqual(['b.c']);
  expect(changedFields({ a: 1, b: { d: [1, 2] } }, { a: 1, b: { d: [1, 3], e: null } })).toEqual(['b.d', 'b.e']);
  expect(changedFields({ x: { y: 1 } }, { x: 5 })).toEqual(['x']);
  expect(changedFields({ a: 1 }, { a: 1 })).toEqual([]);
  expect(configChanges({ seed: 3, loss: { name: 'dice+focal', lambda: 0.5 } }, { seed: 5, loss: { name: 'dice' } })).toEqual(['loss.lambda: 0.5 -> (none)', 'loss.name: "dice+focal" -> "dice"', 'seed: 3 -> 5']);
});

test('slowOnCpuReason: the full profile on a CPU backend is named as days; crops, a coarse grid, short schedules or a GPU are not', () => {
  const full = planGrid(readGridFile(join(EXPERIMENTS, 'fig3-pooling.json')), 'full')[0].config;
  const smoke = planGrid(readGridFile(join(EXPERIMENTS, 'fig3-pooling.json')), 'smoke')[0].config;
  expect(slowOnCpuReason(full, 'cpu')).toMatch(/^200 epochs on whole volumes at native spacing on the cpu backend take days per run; the smoke profile \(--profile smoke\)/);
  expect(slowOnCpuReason(full, 'wasm')).toBeDefined();
  expect(slowOnCpuReason(full, 'webgpu')).toBeUndefined();
  expect(slowOnCpuReason(full, 'tensorflow')).toBeUndefined();
  expect(slowOnCpuReason(smoke, 'cpu')).toBeUndefined();
  expect(slowOnCpuReason({ ...full, data: { ...full.data, cropVoxels: [64, 64, 64] } }, 'cpu')).toBeUndefined();
});
