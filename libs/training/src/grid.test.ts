/**
 * Grids end to end on a tiny dataset: each cell runs once, a second pass does nothing, a failing cell is
 * recorded with its error while the others go on, and two worker processes sharing one database claim
 * each cell exactly once.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { selectBackend } from '@anatomynet/compute';
import { openSqliteStore, parseReplicateKey, replicateKey, type TrackingStore } from '@anatomynet/tracking';
import { changedCells, GridChangedError, GridFileError, parseGridSelection, previewGridPass, planGrid, readGridFile, runGrid, selectRows, type CellOutcome, type GridCellPlan } from './grid';
import { trainRun } from './trainer';
import { manifestDigestOf } from './dataset';
import { writeTinyDataset } from './testing/tiny-dataset';
import { tinyGrid, writeTinyGrid } from './testing/tiny-grid';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');
const root = mkdtempSync(join(tmpdir(), 'grid-test-'));
beforeAll(() => selectBackend({ prefer: 'cpu', log: () => undefined }));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * A tiny dataset with ONE training case (tiny_001, a DICOM-sourced case), so a cell trains two steps;
 * a `data.subset: "pddca"` row then has no training case at all.
 */
function oneCaseDataset(dir: string, o: { nanCase?: number } = {}): string {
  const ids = writeTinyDataset(dir, { cases: 4, ...o });
  writeFileSync(join(dir, 'splits.json'), JSON.stringify({ method: 'hash', train: [ids[1]], validation: [ids[2]], test: [ids[3]] }));
  return dir;
}

/** What `trainer grid` does per cell: train, attaching the run to the cell as soon as it exists. */
const trainCell = (store: TrackingStore, datasetDir: string, runsDir: string, calls: string[] = [], stopAfterEpochs?: number) =>
  (cell: GridCellPlan, attach: (runId: string) => Promise<void>, resumeRunId?: string) => {
    calls.push(resumeRunId ? `${cell.key} (resumed)` : cell.key);
    return trainRun({ config: cell.config, datasetDir, store, experiment: cell.grid, runName: cell.key, runsDir, resumeRunId, stopAfterEpochs, onRunCreated: (id) => void attach(id) });
  };

const statuses = (o: CellOutcome[]) => Object.fromEntries(o.map((c) => [c.key, c.status]));

describe('planGrid / readGridFile', () => {
  test('a tiny grid file reads back and plans one validated cell per row', () => {
    const file = writeTinyGrid(join(root, 'plan.json'), 'plan');
    const cells = planGrid(readGridFile(file), 'smoke', file);
    expect(cells.map((c) => [c.grid, c.key])).toEqual([['plan@smoke', 'seed3'], ['plan@smoke', 'seed4'], ['plan@smoke', 'dice']]);
    expect(cells[1].config.seed).toBe(4);
    expect(cells[2].config.loss.name).toBe('dice');
    expect(cells[0].config.schedule).toMatchObject({ rmspropEpochs: 1, sgdEpochs: 1 });
    expect(new Set(cells.map((c) => c.digest)).size).toBe(3);
    // Same file, other profile: other configs, other digests.
    expect(planGrid(readGridFile(file), 'full', file)[0].digest).not.toBe(cells[0].digest);
  });

  test('FILE:ROW,ROW selects rows; a missing or unknown key is refused naming the grid keys', () => {
    expect(parseGridSelection('experiments/fig6-final.json')).toEqual({ file: 'experiments/fig6-final.json' });
    expect(parseGridSelection('experiments/fig6-final.json:anatomynet')).toEqual({ file: 'experiments/fig6-final.json', rows: ['anatomynet'] });
    expect(parseGridSelection('C:/grids/a.json:seed3,dice')).toEqual({ file: 'C:/grids/a.json', rows: ['seed3', 'dice'] });
    expect(() => parseGridSelection('a.json:')).toThrow(/no row keys after ":"/);
    const file = writeTinyGrid(join(root, 'select.json'), 'select');
    const cells = planGrid(readGridFile(file), 'smoke', file);
    expect(selectRows(cells, undefined, file)).toBe(cells);
    expect(selectRows(cells, ['dice', 'seed3'], file).map((c) => c.key)).toEqual(['seed3', 'dice']);
    expect(() => selectRows(cells, ['seed3', 'seed9'], file)).toThrow(/select\.json: no row "seed9" \(rows: seed3, seed4, dice\)/);
  });

  test('replicates: each row again with derived seeds, first replicates first; rows select their replicates', () => {
    const file = writeTinyGrid(join(root, 'replicates.json'), 'replicates');
    const one = planGrid(readGridFile(file), 'smoke', file);
    const cells = planGrid(readGridFile(file), 'smoke', file, { replicates: 3 });
    expect(cells.map((c) => [c.key, c.row, c.replicate])).toEqual([
      ['seed3', 'seed3', 1], ['seed4', 'seed4', 1], ['dice', 'dice', 1],
      ['seed3#2', 'seed3', 2], ['seed4#2', 'seed4', 2], ['dice#2', 'dice', 2],
      ['seed3#3', 'seed3', 3], ['seed4#3', 'seed4', 3], ['dice#3', 'dice', 3],
    ]);
    // the first replicate is the row as planned without replicates (same cell, same digest: no retraining)
    expect(cells.slice(0, 3)).toEqual(one.map((c) => expect.objectContaining({ key: c.key, digest: c.digest })));
    // the others differ from it in the seed only, and every seed differs (rows seed3 and seed4 included)
    const seed3 = cells.filter((c) => c.row === 'seed3');
    expect(seed3.map((c) => ({ ...c.config, seed: 0 }))).toEqual(seed3.map(() => ({ ...seed3[0].config, seed: 0 })));
    expect(new Set(cells.map((c) => c.config.seed)).size).toBe(cells.filter((c) => c.row !== 'dice').length);
    expect(new Set(cells.map((c) => c.digest)).size).toBe(9);
    expect(selectRows(cells, ['dice'], file).map((c) => c.key)).toEqual(['dice', 'dice#2', 'dice#3']);
    expect(parseReplicateKey('dice#3')).toEqual({ row: 'dice', replicate: 3 });
    expect(parseReplicateKey('dice')).toEqual({ row: 'dice', replicate: 1 });
    expect(parseReplicateKey('dice#0')).toEqual({ row: 'dice#0', replicate: 1 });
    expect(replicateKey('dice', 1)).toBe('dice');
    for (const bad of [0, 1.5, 21]) expect(() => planGrid(readGridFile(file), 'smoke', file, { replicates: bad })).toThrow(`${file}: replicates ${bad}: give a whole number from 1 to 20`);
  });

  test('folds: each row (and replicate) once per cross-validation fold, fold configs and keys; without folds the plan is as before', () => {
    const file = writeTinyGrid(join(root, 'folds.json'), 'folds');
    const one = planGrid(readGridFile(file), 'smoke', file);
    expect(planGrid(readGridFile(file), 'smoke', file, { folds: 1 })).toEqual(one);
    // a config without a fold has no fold field: digests of runs trained before folds existed stay
    expect(one.every((c) => !('fold' in c.config.data))).toBe(true);
    const cells = planGrid(readGridFile(file), 'smoke', file, { replicates: 2, folds: 2 });
    expect(cells.map((c) => c.key)).toEqual([
      'seed3/fold1of2', 'seed4/fold1of2', 'dice/fold1of2', 'seed3/fold2of2', 'seed4/fold2of2', 'dice/fold2of2',
      'seed3#2/fold1of2', 'seed4#2/fold1of2', 'dice#2/fold1of2', 'seed3#2/fold2of2', 'seed4#2/fold2of2', 'dice#2/fold2of2',
    ]);
    const dice2 = cells.find((c) => c.key === 'dice#2/fold2of2')!;
    expect(dice2).toMatchObject({ row: 'dice', replicate: 2, fold: { index: 2, k: 2 } });
    expect(dice2.config.data.fold).toEqual({ index: 2, k: 2 });
    expect(dice2.config.seed).toBe(cells.find((c) => c.key === 'dice#2/fold1of2')!.config.seed);
    expect(new Set(cells.map((c) => c.digest)).size).toBe(12);
    expect(selectRows(cells, ['dice'], file).map((c) => c.key)).toEqual(['dice/fold1of2', 'dice/fold2of2', 'dice#2/fold1of2', 'dice#2/fold2of2']);
    for (const bad of [0, 11, 2.5]) expect(() => planGrid(readGridFile(file), 'smoke', file, { folds: bad })).toThrow(`${file}: folds ${bad}: give a whole number from 2 to 10`);
  });

  test('a bad row is refused naming the file, the row, the profile and the field', () => {
    const g = tinyGrid('bad', [
      { key: 'ok', label: 'ok', override: {} },
      { key: 'deep', label: 'too many pools', override: { model: { pools: 7 } } },
    ]);
    expect(() => planGrid(g, 'smoke', 'bad.json')).toThrow(GridFileError);
    expect(() => planGrid(g, 'smoke', 'bad.json')).toThrow(/^bad\.json: row "deep", profile "smoke": run config field "model\.pools" = 7/);
    const typo = tinyGrid('typo', [{ key: 'lr', label: 'lr', override: { schedule: { rmspropLR: 0.1 } } }]);
    expect(() => planGrid(typo, 'smoke', 'typo.json')).toThrow(/row "lr".*"schedule\.rmspropLR".*unknown field/);
    expect(() => planGrid(g, 'fast', 'bad.json')).toThrow(/no profile "fast" \(profiles: full, smoke\)/);
  });

  test('readGridFile refuses a repeated or malformed row key and names the file', () => {
    const dup = join(root, 'dup.json');
    writeTinyGrid(dup, 'dup', [{ key: 'a', label: 'a', override: {} }, { key: 'a', label: 'again', override: {} }]);
    expect(() => readGridFile(dup)).toThrow(`${dup}: row key "a" appears twice`);
    const spaced = join(root, 'spaced.json');
    writeTinyGrid(spaced, 'spaced', [{ key: 'a b', label: 'a', override: {} }]);
    expect(() => readGridFile(spaced)).toThrow(/row key "a b" must be a word/);
    const badReference = join(root, 'bad-reference.json');
    writeFileSync(badReference, JSON.stringify({ ...tinyGrid('bad-reference'), reference: 'seed9' }));
    expect(() => readGridFile(badReference)).toThrow(`${badReference}: "reference" "seed9" is not a row key (rows: seed3, seed4, dice)`);
  });
});

describe('runGrid', () => {
  test('runs each cell once; a second pass on the same database skips every cell and creates no run', async () => {
    const ds = oneCaseDataset(join(root, 'ds-once'));
    const store = openSqliteStore(join(root, 'once.db'));
    const cells = planGrid(tinyGrid('once'), 'smoke');
    const calls: string[] = [];
    const first = await runGrid(store, cells, 'w1', trainCell(store, ds, join(root, 'runs'), calls));
    expect(statuses(first)).toEqual({ seed3: 'DONE', seed4: 'DONE', dice: 'DONE' });
    expect(calls).toEqual(['seed3', 'seed4', 'dice']);
    const recorded = await store.gridCells('once@smoke');
    expect(recorded.map((c) => [c.key, c.status, c.claimedBy, c.runStatus])).toEqual([
      ['dice', 'DONE', 'w1', 'FINISHED'],
      ['seed3', 'DONE', 'w1', 'FINISHED'],
      ['seed4', 'DONE', 'w1', 'FINISHED'],
    ]);
    const runs = await store.listRuns({ grid: 'once@smoke' });
    expect(runs.map((r) => r.name).sort()).toEqual(['dice', 'seed3', 'seed4']);
    for (const c of recorded) expect(c.runId).toBe(runs.find((r) => r.name === c.key)!.id);

    const second = await runGrid(store, cells, 'w2', trainCell(store, ds, join(root, 'runs'), calls));
    expect(statuses(second)).toEqual({ seed3: 'SKIPPED', seed4: 'SKIPPED', dice: 'SKIPPED' });
    expect(calls.length).toBe(3);
    expect((await store.listRuns({ grid: 'once@smoke' })).length).toBe(3);
    expect((await store.gridCells('once@smoke')).every((c) => c.status === 'DONE' && c.claimedBy === 'w1')).toBe(true);
    await store.close();
  });

  test('a killed cell continues its run from the last checkpoint on the next pass (same run id), and only that cell', async () => {
    const ds = oneCaseDataset(join(root, 'ds-kill'));
    const store = openSqliteStore(join(root, 'kill.db'));
    const cells = planGrid(tinyGrid('kill', [{ key: 'a', label: 'a', override: {} }]), 'smoke');
    const calls: string[] = [];
    // The tiny smoke profile has two epochs; the first pass stops after one, like a Ctrl-C between epochs.
    const first = await runGrid(store, cells, 'w1', trainCell(store, ds, join(root, 'runs'), calls, 1));
    expect(first[0]).toMatchObject({ status: 'FAILED', error: 'KILLED' });
    const killedId = first[0].runId!;
    expect((await store.getRun(killedId))!.status).toBe('KILLED');

    const second = await runGrid(store, cells, 'w2', trainCell(store, ds, join(root, 'runs'), calls));
    expect(second[0]).toMatchObject({ status: 'DONE', runId: killedId });
    expect(calls).toEqual(['a', 'a (resumed)']);
    expect((await store.getRun(killedId))!.status).toBe('FINISHED');
    expect((await store.listRuns({ grid: 'kill@smoke' })).map((r) => r.id)).toEqual([killedId]);
    // Both epochs' losses are recorded once each, under the one run.
    expect((await store.metricSeries(killedId, 'train/epoch_loss')).map((m) => m.step)).toEqual([0, 1]);
    expect(statuses(await runGrid(store, cells, 'w3', trainCell(store, ds, join(root, 'runs'), calls)))).toEqual({ a: 'SKIPPED' });
    await store.close();
  });

  test('a run swept as stale while it trains stops at its next heartbeat, stays KILLED, and leaves its freed cell to the worker that took it', async () => {
    const ds = oneCaseDataset(join(root, 'ds-swept'));
    const store = openSqliteStore(join(root, 'swept.db'));
    const cells = planGrid(tinyGrid('swept', [{ key: 'a', label: 'a', override: {} }]), 'smoke');
    const steps: number[] = [];
    const out = await runGrid(store, cells, 'w1', (cell, attach) =>
      trainRun({
        config: cell.config, datasetDir: ds, store, experiment: cell.grid, runName: cell.key, runsDir: join(root, 'runs'),
        heartbeatIntervalMs: 0,
        onRunCreated: (id) => void attach(id),
        onProgress: (p) => {
          steps.push(p.step);
          if (p.step !== 1) return;
          // `status --stale-minutes` in another shell, then another worker's grid pass claims the freed cell
          void store.markStaleRunsKilled(0, Date.now() + 1).then(() => store.claimCell(cell.grid, cell.key, 'w2', { digest: cell.digest }));
        },
      }),
    );
    const runId = out[0].runId!;
    expect(out[0]).toMatchObject({ status: 'FAILED', error: `run ${runId} was marked ended by another process` });
    // stopped before its second (last) step; the sweep's KILLED kept, so the run can be resumed
    expect(steps).toEqual([1]);
    expect(await store.metricSeries(runId, 'train/loss')).toHaveLength(1);
    expect(await store.getRun(runId)).toMatchObject({ status: 'KILLED', errorText: expect.stringMatching(/^no heartbeat since /) });
    expect(await store.gridCells('swept@smoke')).toEqual([expect.objectContaining({ key: 'a', status: 'CLAIMED', claimedBy: 'w2', runId })]);
    await store.close();
  });

  test('a cell whose run cannot start is FAILED with its error; the cells after it still run; --retry-failed claims it again', async () => {
    const ds = oneCaseDataset(join(root, 'ds-fail'));
    const store = openSqliteStore(join(root, 'fail.db'));
    const cells = planGrid(
      tinyGrid('fail', [
        { key: 'before', label: 'before', override: {} },
        { key: 'pddca', label: 'PDDCA only', override: { data: { subset: 'pddca' } } },
        { key: 'after', label: 'after', override: { seed: 9 } },
      ]),
      'smoke',
    );
    const out = await runGrid(store, cells, 'w1', trainCell(store, ds, join(root, 'runs')));
    expect(statuses(out)).toEqual({ before: 'DONE', pddca: 'FAILED', after: 'DONE' });
    expect(out[1].error).toMatch(/no training cases for subset "pddca"/);
    const failed = (await store.gridCells('fail@smoke')).find((c) => c.key === 'pddca')!;
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatch(/no training cases for subset "pddca"/);

    // A plain second pass leaves the FAILED cell alone; --retry-failed claims only that cell again.
    const calls: string[] = [];
    expect(statuses(await runGrid(store, cells, 'w2', trainCell(store, ds, join(root, 'runs'), calls)))).toEqual({ before: 'SKIPPED', pddca: 'SKIPPED', after: 'SKIPPED' });
    const retry = await runGrid(store, cells, 'w3', trainCell(store, ds, join(root, 'runs'), calls), { retryFailed: true });
    expect(statuses(retry)).toEqual({ before: 'SKIPPED', pddca: 'FAILED', after: 'SKIPPED' });
    expect(calls).toEqual(['pddca']);
    expect((await store.gridCells('fail@smoke')).find((c) => c.key === 'pddca')!.claimedBy).toBe('w3');
    await store.close();
  });

  test('a run that fails mid-training (NaN image) leaves its cell FAILED with the run attached and the error', async () => {
    const ds = oneCaseDataset(join(root, 'ds-nan'), { nanCase: 1 });
    const store = openSqliteStore(join(root, 'nan.db'));
    const cells = planGrid(tinyGrid('nan', [{ key: 'nan', label: 'NaN image', override: {} }]), 'smoke');
    const out = await runGrid(store, cells, 'w1', trainCell(store, ds, join(root, 'runs')));
    expect(out[0]).toMatchObject({ key: 'nan', status: 'FAILED' });
    expect(out[0].error).toMatch(/loss is NaN at step 0/);
    const [cell] = await store.gridCells('nan@smoke');
    expect(cell).toMatchObject({ status: 'FAILED', runId: out[0].runId, runStatus: 'FAILED' });
    expect(cell.error).toMatch(/loss is NaN at step 0/);
    await store.close();
  });
});

test('previewGridPass says what a pass would do with each cell, and claims nothing', async () => {
  const ds = oneCaseDataset(join(root, 'ds-preview'));
  const digest = manifestDigestOf(ds);
  const store = openSqliteStore(join(root, 'preview.db'));
  const rows = [
    { key: 'done', label: 'done', override: {} },
    { key: 'killed', label: 'killed', override: { seed: 21 } },
    { key: 'broken', label: 'broken', override: { data: { subset: 'pddca' } } },
    { key: 'held', label: 'held', override: { seed: 22 } },
    { key: 'new', label: 'new', override: { seed: 23 } },
  ];
  const cells = planGrid(tinyGrid('preview', rows), 'smoke');
  const byKey = (k: string) => cells.filter((c) => c.key === k);
  const runs = join(root, 'runs');
  const [done] = await runGrid(store, byKey('done'), 'w1', trainCell(store, ds, runs));
  const [killed] = await runGrid(store, byKey('killed'), 'w1', trainCell(store, ds, runs, [], 1));
  await runGrid(store, byKey('broken'), 'w1', trainCell(store, ds, runs));
  await store.claimCell('preview@smoke', 'held', 'w9', { digest: byKey('held')[0].digest });
  // another grid's row of the "done" config: reused
  const twin = planGrid(tinyGrid('preview-twin', [{ key: 'twin', label: 'twin', override: {} }]), 'smoke');
  const before = await store.gridCells('preview@smoke');
  const preview = await previewGridPass(store, [...cells, ...twin], { reuseOn: digest });
  expect(preview.map((p) => [p.key, p.action, p.runId ?? null])).toEqual([
    ['done', 'done', done.runId],
    ['killed', 'resume', killed.runId],
    ['broken', 'failed', null],
    ['held', 'held', null],
    ['new', 'train', null],
    ['twin', 'reuse', done.runId],
  ]);
  expect(preview[2].detail).toMatch(/no training cases for subset "pddca" \(--retry-failed claims it again\)$/);
  expect(preview[3].detail).toBe('by worker w9');
  expect((await previewGridPass(store, byKey('broken'), { retryFailed: true }))[0].action).toBe('train');
  expect((await previewGridPass(store, twin))[0].action).toBe('train');
  expect(await store.gridCells('preview@smoke')).toEqual(before);
  expect(await store.gridCells('preview-twin@smoke')).toEqual([]);
  await store.close();
});

describe('changedCells (a grid file edited after its cells ran)', () => {
  test('names each cell whose recorded config differs, with its run and changed fields; unchanged and new rows are not listed', async () => {
    const ds = oneCaseDataset(join(root, 'ds-changed'));
    const store = openSqliteStore(join(root, 'changed.db'));
    const rows = [{ key: 'a', label: 'a', override: {} }, { key: 'b', label: 'b', override: { seed: 4 } }];
    const first = await runGrid(store, planGrid(tinyGrid('changed', rows.slice(0, 1)), 'smoke'), 'w1', trainCell(store, ds, join(root, 'runs')));
    await store.registerCells('changed@smoke', planGrid(tinyGrid('changed', rows), 'smoke').slice(1).map((c) => ({ key: c.key, digest: c.digest })));
    expect(await changedCells(store, planGrid(tinyGrid('changed', rows), 'smoke'))).toEqual([]);
    const edited = planGrid(tinyGrid('changed', [{ key: 'a', label: 'a', override: { loss: { lambda: 0.7 }, seed: 5 } }, { key: 'b', label: 'b', override: { seed: 6 } }, { key: 'new', label: 'n', override: {} }]), 'smoke');
    const changed = await changedCells(store, edited);
    expect(changed.map((c) => [c.cell.key, c.runId, c.changes])).toEqual([
      ['a', first[0].runId, ['loss.lambda: 0.5 -> 0.7', 'seed: 3 -> 5']],
      ['b', null, []],
    ]);
    const error = new GridChangedError('x.db', changed);
    expect(error.message).toContain(`x.db: 2 grid cell(s) recorded with another config under the same key`);
    expect(error.message).toContain(`\n  changed@smoke a (run ${first[0].runId}): loss.lambda: 0.5 -> 0.7, seed: 3 -> 5\n  changed@smoke b\n`);
    expect(error.message).toMatch(/Give a changed row a new key .*, or use another --db\.$/);
    await store.close();
  });
});

describe('runGrid with reuseOn (a config that finished on the dataset is not trained again)', () => {
  // Rows "shared" are one config in both grids (the paper's default is a row of Figs 3, 4 and 5).
  const gridA = () => planGrid(tinyGrid('reuse-a', [{ key: 'shared', label: 'shared', override: {} }, { key: 'a-only', label: 'a', override: { seed: 5 } }]), 'smoke');
  const gridB = (name = 'reuse-b') => planGrid(tinyGrid(name, [{ key: 'b-only', label: 'b', override: { seed: 6 } }, { key: 'same', label: 'same as shared', override: {} }]), 'smoke');

  test('the twin cell of another grid is DONE with the finished run; another dataset, or no reuseOn, trains it', async () => {
    const ds = oneCaseDataset(join(root, 'ds-reuse'));
    const digest = manifestDigestOf(ds);
    const store = openSqliteStore(join(root, 'reuse.db'));
    const calls: string[] = [];
    const a = await runGrid(store, gridA(), 'w1', trainCell(store, ds, join(root, 'runs'), calls), { reuseOn: digest });
    expect(statuses(a)).toEqual({ shared: 'DONE', 'a-only': 'DONE' });
    const reused: string[] = [];
    const b = await runGrid(store, gridB(), 'w1', trainCell(store, ds, join(root, 'runs'), calls), { reuseOn: digest, onReuse: (cell, i, run) => reused.push(`${cell.key} ${i} ${run.name}`) });
    expect(statuses(b)).toEqual({ 'b-only': 'DONE', same: 'REUSED' });
    expect(b[1].runId).toBe(a[0].runId);
    expect(reused).toEqual(['same 1 shared']);
    expect(calls).toEqual(['shared', 'a-only', 'b-only']);
    const cell = (await store.gridCells('reuse-b@smoke')).find((c) => c.key === 'same')!;
    expect(cell).toMatchObject({ status: 'DONE', runId: a[0].runId, runStatus: 'FINISHED', claimedBy: 'w1', error: null });
    // The run is listed under both grids, and trained once.
    expect((await store.listRuns({ grid: 'reuse-b@smoke' })).map((r) => r.name).sort()).toEqual(['b-only', 'shared']);
    expect((await store.listRuns({ configDigest: gridA()[0].digest })).length).toBe(1);

    // The same twin on another dataset digest is not the same experiment; nor is anything without reuseOn.
    expect(statuses(await runGrid(store, gridB('reuse-c'), 'w1', trainCell(store, ds, join(root, 'runs'), calls), { reuseOn: 'f'.repeat(64) }))).toEqual({ 'b-only': 'DONE', same: 'DONE' });
    expect(statuses(await runGrid(store, gridB('reuse-d'), 'w1', trainCell(store, ds, join(root, 'runs'), calls)))).toEqual({ 'b-only': 'DONE', same: 'DONE' });
    expect(calls.slice(3)).toEqual(['b-only', 'same', 'b-only', 'same']);
    await store.close();
  });

  test('a cell whose config is training elsewhere waits for the other cells, then takes that run if it finished, else trains', async () => {
    const ds = oneCaseDataset(join(root, 'ds-twin'));
    const digest = manifestDigestOf(ds);
    const store = openSqliteStore(join(root, 'twin.db'));
    const [, same] = gridB();
    // Another worker's run of the same config, still RUNNING.
    const other = await store.createRun({ experiment: 'elsewhere', name: 'twin', config: same.config, datasetDigest: digest });
    expect(other.configDigest).toBe(same.digest);
    const cells = planGrid(tinyGrid('twin', [{ key: 'same', label: 'same', override: {} }, { key: 'b-only', label: 'b', override: { seed: 6 } }]), 'smoke');
    const calls: string[] = [];
    const train = trainCell(store, ds, join(root, 'runs'), calls);
    // It finishes while this worker trains its other cell.
    const out = await runGrid(store, cells, 'w1', async (cell, attach, resume) => {
      const r = await train(cell, attach, resume);
      await store.endRun(other.id, 'FINISHED');
      return r;
    }, { reuseOn: digest });
    expect(out.map((o) => [o.key, o.status])).toEqual([['same', 'REUSED'], ['b-only', 'DONE']]);
    expect(out[0].runId).toBe(other.id);
    expect(calls).toEqual(['b-only']);

    // Still RUNNING once the other cells are done (a slow twin, or a dead worker not yet swept): trained here.
    const cells2 = planGrid(tinyGrid('twin2', [{ key: 'stuck', label: 'stuck', override: { seed: 8 } }, { key: 'c', label: 'c', override: { seed: 7 } }]), 'smoke');
    const stuck = await store.createRun({ experiment: 'elsewhere', name: 'stuck', config: cells2[0].config, datasetDigest: digest });
    const out2 = await runGrid(store, cells2, 'w1', trainCell(store, ds, join(root, 'runs'), calls), { reuseOn: digest });
    expect(statuses(out2)).toEqual({ stuck: 'DONE', c: 'DONE' });
    expect(calls.slice(1)).toEqual(['c', 'stuck']);
    expect(out2[0].runId).not.toBe(stuck.id);
    await store.close();
  });
});

interface WorkerExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnWorker(args: string[]): Promise<WorkerExit> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(here, 'testing', 'grid-worker.ts'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('two worker processes on one grid and one database', () => {
  test('claim each cell exactly once; every cell ends DONE; no "database is locked"', async () => {
    const ds = oneCaseDataset(join(root, 'ds-workers'));
    const grid = writeTinyGrid(join(root, 'workers.json'), 'workers', [
      { key: 's1', label: 'seed 1', override: { seed: 1 } },
      { key: 's2', label: 'seed 2', override: { seed: 2 } },
      { key: 's3', label: 'seed 3', override: { seed: 3 } },
      { key: 's4', label: 'seed 4', override: { seed: 4 } },
      { key: 's5', label: 'seed 5', override: { seed: 5 } },
    ]);
    const db = join(root, 'workers.db');
    const barrier = join(root, 'barrier');
    mkdirSync(barrier);
    const args = (w: string) => [grid, 'smoke', ds, db, join(root, 'runs'), w, barrier, '2'];
    const exits = await Promise.all([spawnWorker(args('A')), spawnWorker(args('B'))]);
    for (const e of exits) {
      expect(e.stderr).not.toMatch(/database is locked|SQLITE_BUSY/i);
      expect(e.code, e.stderr).toBe(0);
    }
    const [a, b] = exits.map((e) => JSON.parse(e.stdout.trim().split('\n').at(-1)!) as CellOutcome[]);
    const doneBy = (o: CellOutcome[]) => o.filter((c) => c.status === 'DONE').map((c) => c.key);
    // Every cell DONE by exactly one worker, SKIPPED by the other.
    expect([...doneBy(a), ...doneBy(b)].sort()).toEqual(['s1', 's2', 's3', 's4', 's5']);
    for (const o of [a, b]) expect(o.every((c) => c.status === 'DONE' || c.status === 'SKIPPED')).toBe(true);
    console.log(`worker A ran ${doneBy(a).join(',') || '-'}; worker B ran ${doneBy(b).join(',') || '-'}`);

    const store = openSqliteStore(db);
    const cells = await store.gridCells('workers@smoke');
    expect(cells.map((c) => c.status)).toEqual(['DONE', 'DONE', 'DONE', 'DONE', 'DONE']);
    for (const c of cells) expect(c.claimedBy).toBe(doneBy(a).includes(c.key) ? 'A' : 'B');
    const runs = await store.listRuns({ grid: 'workers@smoke' });
    expect(runs.length).toBe(5);
    expect(runs.every((r) => r.status === 'FINISHED')).toBe(true);
    expect(new Set(cells.map((c) => c.runId))).toEqual(new Set(runs.map((r) => r.id)));
    await store.close();
  }, 240_000);
});

// The fixture dataset must stay readable by the tests above (guards against a silent fixture change).
test('the one-training-case dataset has exactly one DICOM-sourced training case', () => {
  const ds = oneCaseDataset(join(root, 'ds-check'));
  const splits = JSON.parse(readFileSync(join(ds, 'splits.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(ds, 'manifest.json'), 'utf8'));
  expect(splits.train).toEqual(['tiny_001']);
  expect(manifest.cases.find((c: { caseId: string }) => c.caseId === 'tiny_001').sourceKind).toBe('dicom');
});
