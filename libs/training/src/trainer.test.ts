import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { selectBackend } from '@anatomynet/compute';
import { readNifti } from '@anatomynet/data';
import { openSqliteStore, type TrackingStore } from '@anatomynet/tracking';
import { openDataset } from './dataset';
import { resolveRunConfig } from './run-config';
import { contourFindings } from './segment';
import { trainingVolumes } from './seen-cases';
import { trainRun } from './trainer';
import { writeTinyDataset } from './testing/tiny-dataset';

const root = mkdtempSync(join(tmpdir(), 'trainer-test-'));
// The cpu backend with the project's own conv3d kernels (what `trainer --backend cpu` uses).
beforeAll(() => selectBackend({ prefer: 'cpu', log: () => undefined }));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tinyConfig = (over: Record<string, unknown> = {}) =>
  resolveRunConfig({
    seed: 7,
    model: { filters: [6, 8], blocksPerStage: 1, block: 'residual', seRatio: 2, outputUpFilters: 6, outputFilters: 6, ...(over.model as object) },
    loss: { name: 'dice+ce', lambda: 0.5 },
    data: { huWindow: { lo: -200, hi: 1300 }, augment: null },
    schedule: { rmspropEpochs: 3, rmspropLr: 0.002, sgdEpochs: 1, sgdLr: 0.001, momentum: 0.9 },
    validateEveryEpochs: 2,
    ...over,
  });

/**
 * Each recorded test row's `contourFinding` against the checks run here on the prediction file written
 * and the case's CT, with the run's training volumes; returns how many rows are flagged.
 */
async function expectContourFindings(store: TrackingStore, runId: string, datasetDir: string): Promise<number> {
  const ds = openDataset(datasetDir), runDir = join(root, 'runs', runId);
  const results = await store.caseResults(runId, 'test');
  expect(results.length).toBeGreaterThan(0);
  for (const id of ds.splits.test) {
    const labels = readNifti(join(runDir, 'predictions', `${id}.nii.gz`));
    const ct = readNifti(join(datasetDir, ds.cases.get(id)!.image));
    const findings = contourFindings(labels.data as Uint8Array, ct, trainingVolumes([runDir]));
    for (const r of results.filter((x) => x.caseId === id)) {
      const checks = [...new Set(findings.filter((f) => (f.organs as readonly string[]).includes(r.organ)).map((f) => f.check))].join(';');
      expect(r.extra?.contourFinding, `${id} ${r.organ}`).toBe(checks);
    }
  }
  const flagged = results.filter((r) => r.extra?.contourFinding).length;
  expect((await store.metricSeries(runId, 'test/contours_flagged')).map((m) => m.value)).toEqual([flagged]);
  return flagged;
}

describe('trainRun', () => {
  test('a small model overfits one case within 60 steps: loss falls, Dice >= 0.9 on its organs', async () => {
    const ds = join(root, 'ds-fit');
    writeTinyDataset(ds, { cases: 3, overfit: true });
    const store = openSqliteStore(join(root, 'fit.db'));
    // One training case, repeated: overfitting within a bounded number of steps (60).
    const cfg = tinyConfig({ schedule: { rmspropEpochs: 50, rmspropLr: 0.002, sgdEpochs: 10, sgdLr: 0.001, momentum: 0.9 }, validateEveryEpochs: 10 });
    const r = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'fit', runName: 'fit', runsDir: join(root, 'runs') });
    expect(r.status).toBe('FINISHED');
    const losses = await store.metricSeries(r.runId, 'train/loss');
    expect(losses.length).toBe(60);
    expect(losses.at(-1)!.value).toBeLessThan(losses[0].value * 0.5);
    const results = await store.caseResults(r.runId, 'test');
    const byOrgan = Object.fromEntries(results.map((x) => [x.organ, x.dsc]));
    expect(byOrgan.BrainStem).toBeGreaterThanOrEqual(0.9);
    expect(byOrgan.Mandible).toBeGreaterThanOrEqual(0.9);
    expect(byOrgan.Parotid_L).toBeGreaterThanOrEqual(0.9);
    expect(r.testContoursFlagged).toBe(await expectContourFindings(store, r.runId, ds));
    expect((await store.getRun(r.runId))!.status).toBe('FINISHED');
    // GPU memory is tracked on webgpu only (trainer-webgpu.test.ts)
    expect(await store.metricSeries(r.runId, 'gpu/allocated_gb')).toEqual([]);
    await store.close();
  }, 600_000);

  test('a resumed run repeats the uninterrupted run exactly (cpu, fixed seed), weight average included', async () => {
    const ds = join(root, 'ds-resume');
    writeTinyDataset(ds, { cases: 4, missingInOddCases: ['Parotid_L'] });
    const store = openSqliteStore(join(root, 'resume.db'));
    const cfg = tinyConfig({
      data: { huWindow: { lo: -200, hi: 1300 }, augment: { probability: 1, rotationDeg: 8, scale: 0.05, shear: 0.02, translate: 0.05, elasticAlpha: 3, elasticSigma: 3, flipLR: 0.5 } },
      // validation, selection and the test evaluation use the average, so its resumption is checked below too
      schedule: { rmspropEpochs: 3, rmspropLr: 0.002, sgdEpochs: 1, sgdLr: 0.001, momentum: 0.9, emaDecay: 0.8 },
      validateEveryEpochs: 1,
    });
    const whole = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'resume', runName: 'whole', runsDir: join(root, 'runs') });
    // this one keeps every epoch's checkpoint; the whole run the latest two (the default)
    const part = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'resume', runName: 'part', runsDir: join(root, 'runs'), stopAfterEpochs: 2, keepCheckpoints: 0 });
    expect(part.status).toBe('KILLED');
    // A process killed mid-epoch has logged past its last checkpoint: steps of the next epoch, even a
    // validation or a test mean. Resumed, the run logs them again, once.
    const nextStep = (await store.metricSeries(part.runId, 'train/loss')).length;
    await store.logMetrics([
      { runId: part.runId, key: 'train/loss', step: nextStep, value: 99 },
      { runId: part.runId, key: 'train/loss', step: nextStep + 1, value: 98 },
      { runId: part.runId, key: 'val/dice_mean', step: 2, value: 0.99 },
      { runId: part.runId, key: 'test/dice_mean', step: 0, value: 0.5 },
    ]);
    // the dataset curated again in its folder meanwhile: refused, naming the versions; as it was, resumed
    const manifestPath = join(ds, 'manifest.json');
    const original = readFileSync(manifestPath);
    const previous = { version: 1, manifestDigest: createHash('sha256').update(original).digest('hex'), added: [], removed: [], changed: [], splits: 'kept', moved: [] };
    writeFileSync(manifestPath, JSON.stringify({ ...JSON.parse(original.toString('utf8')), version: 2, previous }));
    await expect(trainRun({ config: cfg, datasetDir: ds, store, experiment: 'resume', runName: 'part', runsDir: join(root, 'runs'), resumeRunId: part.runId })).rejects.toThrow(
      /the dataset changed under the run \(manifest digest \w{12}, run trained on \w{12}: it is version 2 now, the run trained on version 1\); curate into a new folder/,
    );
    writeFileSync(manifestPath, original);
    const resumed = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'resume', runName: 'part', runsDir: join(root, 'runs'), resumeRunId: part.runId, keepCheckpoints: 0 });
    expect(resumed.runId).toBe(part.runId);
    expect(resumed.status).toBe('FINISHED');
    const a = await store.metricSeries(whole.runId, 'train/loss');
    const b = await store.metricSeries(part.runId, 'train/loss');
    expect(b.map((m) => [m.step, m.value])).toEqual(a.map((m) => [m.step, m.value]));
    const ra = (await store.caseResults(whole.runId)).map((x) => [x.organ, x.dsc]);
    const rb = (await store.caseResults(part.runId)).map((x) => [x.organ, x.dsc]);
    expect(rb).toEqual(ra);
    // four epochs of a tiny model leave contours the checks flag, each recorded on its row
    const flagged = await expectContourFindings(store, whole.runId, ds);
    expect(flagged).toBeGreaterThan(0);
    expect(whole.testContoursFlagged).toBe(flagged);
    expect((await store.caseResults(part.runId)).map((x) => x.extra)).toEqual((await store.caseResults(whole.runId)).map((x) => x.extra));
    const va = await store.metricSeries(whole.runId, 'val/dice_mean');
    const vb = await store.metricSeries(part.runId, 'val/dice_mean');
    expect(va.length).toBe(4);
    expect(vb.map((m) => [m.step, m.value])).toEqual(va.map((m) => [m.step, m.value]));
    expect((await store.metricSeries(part.runId, 'test/dice_mean')).map((m) => m.value)).toEqual((await store.metricSeries(whole.runId, 'test/dice_mean')).map((m) => m.value));
    expect(resumed.bestEpoch).toBe(whole.bestEpoch);
    const kept = async (runId: string) => ({
      folders: readdirSync(join(root, 'runs', runId, 'checkpoints')),
      recorded: (await store.artifacts(runId, 'checkpoint')).map((a) => basename(a.path)),
    });
    expect(await kept(whole.runId)).toEqual({ folders: ['epoch-00003', 'epoch-00004'], recorded: ['epoch-00003', 'epoch-00004'] });
    const all = ['epoch-00001', 'epoch-00002', 'epoch-00003', 'epoch-00004'];
    expect(await kept(part.runId)).toEqual({ folders: all, recorded: all });
    expect(existsSync(join(root, 'runs', whole.runId, 'best', 'model'))).toBe(true);
    await store.close();
  }, 600_000);

  test('recompute trains the same run: losses equal to rounding, recorded as a run parameter', async () => {
    const ds = join(root, 'ds-recompute');
    writeTinyDataset(ds, { cases: 3 });
    const store = openSqliteStore(join(root, 'recompute.db'));
    const cfg = tinyConfig({ schedule: { rmspropEpochs: 2, rmspropLr: 0.002, sgdEpochs: 0, sgdLr: 0.001, momentum: 0.9 } });
    const plain = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'rc', runName: 'plain', runsDir: join(root, 'runs') });
    const again = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'rc', runName: 'recompute', runsDir: join(root, 'runs'), recompute: true });
    expect(again.status).toBe('FINISHED');
    const a = await store.metricSeries(plain.runId, 'train/loss');
    const b = await store.metricSeries(again.runId, 'train/loss');
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i++) expect(b[i].value).toBeCloseTo(a[i].value, 3);
    expect(await store.getParams(again.runId)).toMatchObject({ recompute: 'true' });
    // the output convs kept, the blocks recomputed: the same losses, and the parameter says which
    const some = await trainRun({
      config: cfg, datasetDir: ds, store, experiment: 'rc', runName: 'keep-out', runsDir: join(root, 'runs'), recompute: { keep: ['out'] },
      backend: { name: 'cpu', gpuTilings: 'tilings.json (sha256 0123456789ab, 4 conv passes)' },
    });
    const c = await store.metricSeries(some.runId, 'train/loss');
    for (let i = 0; i < a.length; i++) expect(c[i].value).toBeCloseTo(a[i].value, 3);
    // tuned GPU kernels given to the run are recorded with it; none, nothing
    expect(await store.getParams(some.runId)).toMatchObject({ recompute: 'all but out', gpuTilings: 'tilings.json (sha256 0123456789ab, 4 conv passes)' });
    expect(await store.getParams(plain.runId)).not.toHaveProperty('gpuTilings');
    await store.close();
  }, 600_000);

  test('a training image that cannot be read fails the run, recorded with the file, not left RUNNING', async () => {
    const ds = join(root, 'ds-unreadable');
    const ids = writeTinyDataset(ds, { cases: 4 });
    const image = join(ds, 'imagesTr', `${ids[1]}_0000.nii.gz`);
    writeFileSync(image, 'not a NIfTI');
    const store = openSqliteStore(join(root, 'unreadable.db'));
    const r = await trainRun({ config: tinyConfig(), datasetDir: ds, store, experiment: 'u', runName: 'u', runsDir: join(root, 'runs') });
    expect(r.status).toBe('FAILED');
    expect(r.error).toContain(image);
    expect(await store.getRun(r.runId)).toMatchObject({ status: 'FAILED', errorText: expect.stringContaining(image) });
    await store.close();
  });

  test('a latest checkpoint damaged on disk gives way to the one before it on resume, and the run ends as if never stopped', async () => {
    const ds = join(root, 'ds-damaged');
    writeTinyDataset(ds, { cases: 3 });
    const store = openSqliteStore(join(root, 'damaged.db'));
    const cfg = tinyConfig({ schedule: { rmspropEpochs: 3, rmspropLr: 0.002, sgdEpochs: 0, sgdLr: 0.001, momentum: 0.9 }, validateEveryEpochs: 1 });
    const whole = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'd', runName: 'whole', runsDir: join(root, 'runs') });
    const part = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'd', runName: 'part', runsDir: join(root, 'runs'), stopAfterEpochs: 2 });
    const latest = join(root, 'runs', part.runId, 'checkpoints', 'epoch-00002');
    writeFileSync(join(latest, 'model', 'weights.bin'), 'not the weights');
    const warnings: string[] = [];
    const resumed = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'd', runName: 'part', runsDir: join(root, 'runs'), resumeRunId: part.runId, onWarning: (m) => warnings.push(m) });
    expect(resumed.status).toBe('FINISHED');
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^checkpoint ${latest} does not load \\(.*\\); trying the one before it$`))]);
    const losses = async (id: string) => (await store.metricSeries(id, 'train/loss')).map((m) => [m.step, m.value]);
    expect(await losses(part.runId)).toEqual(await losses(whole.runId));
    // none loads: refused, naming each
    const broken = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'd', runName: 'broken', runsDir: join(root, 'runs'), stopAfterEpochs: 1 });
    const only = join(root, 'runs', broken.runId, 'checkpoints', 'epoch-00001');
    rmSync(join(only, 'state.json'));
    await expect(trainRun({ config: cfg, datasetDir: ds, store, experiment: 'd', runName: 'broken', runsDir: join(root, 'runs'), resumeRunId: broken.runId })).rejects.toThrow(
      `--resume ${broken.runId}: no checkpoint of the run loads (${only}: ${only}: not a checkpoint (state.json missing))`,
    );
    await store.close();
  }, 600_000);

  test('a dataset that changed under a run is refused on resume', async () => {
    const ds = join(root, 'ds-changed');
    writeTinyDataset(ds, { cases: 4 });
    const store = openSqliteStore(join(root, 'changed.db'));
    const cfg = tinyConfig();
    const part = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'x', runName: 'x', runsDir: join(root, 'runs'), stopAfterEpochs: 1 });
    writeFileSync(join(ds, 'manifest.json'), `${JSON.stringify({ ...JSON.parse((await import('node:fs')).readFileSync(join(ds, 'manifest.json'), 'utf8')), note: 'edited' })}`);
    await expect(trainRun({ config: cfg, datasetDir: ds, store, experiment: 'x', runName: 'x', runsDir: join(root, 'runs'), resumeRunId: part.runId })).rejects.toThrow(/dataset changed/);
    await store.close();
  }, 600_000);

  test('without validation cases the best checkpoint is the last epoch\'s, not the first\'s', async () => {
    const ds = join(root, 'ds-noval');
    const ids = writeTinyDataset(ds, { cases: 3 });
    writeFileSync(join(ds, 'splits.json'), JSON.stringify({ method: 'hash', train: ids.slice(0, 2), validation: [], test: [ids[2]] }));
    const store = openSqliteStore(join(root, 'noval.db'));
    const cfg = tinyConfig({ validateEveryEpochs: 1, schedule: { rmspropEpochs: 3, rmspropLr: 0.002, sgdEpochs: 0, sgdLr: 0.001, momentum: 0.9 } });
    const r = await trainRun({ config: cfg, datasetDir: ds, store, experiment: 'noval', runName: 'noval', runsDir: join(root, 'runs') });
    expect(r.status).toBe('FINISHED');
    expect(r.bestEpoch).toBe(2);
    expect((await store.artifacts(r.runId, 'best-checkpoint')).map((a) => a.step)).toEqual([0, 1, 2]);
    await store.close();
  }, 600_000);

  test('a NaN loss stops the run as FAILED with its step', async () => {
    const ds = join(root, 'ds-nan');
    writeTinyDataset(ds, { cases: 3, nanCase: 0 });
    const store = openSqliteStore(join(root, 'nan.db'));
    const r = await trainRun({ config: tinyConfig(), datasetDir: ds, store, experiment: 'nan', runName: 'nan', runsDir: join(root, 'runs') });
    expect(r.status).toBe('FAILED');
    const run = (await store.getRun(r.runId))!;
    expect(run.status).toBe('FAILED');
    expect(run.failedStep).toBe(0);
    expect(run.errorText).toMatch(/loss is NaN at step 0/);
    await store.close();
  }, 600_000);
});
