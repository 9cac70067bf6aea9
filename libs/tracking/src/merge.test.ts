/**
 * Two machines' databases merged into one: every run with its params, metrics, case results and
 * artifacts; grid cells filled where the target has nothing better; idempotent; all or nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TrackingError } from './errors.js';
import { mergeTrackingDatabase } from './merge.js';
import { openSqliteStore, type SqliteTrackingStore } from './sqlite-store.js';
import type { TrackingStore } from './types.js';

const root = mkdtempSync(join(tmpdir(), 'tracking-merge-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A finished run with one of everything, in `grid`'s cell `key` when given. */
async function finishedRun(store: TrackingStore, o: { name: string; config: unknown; runDir: string; grid?: string; key?: string; start: number }) {
  const run = await store.createRun({ experiment: o.grid ?? 'default', name: o.name, config: o.config, runDir: o.runDir, datasetDigest: 'd'.repeat(64), backend: 'cpu', startTime: o.start });
  await store.logParams(run.id, { seed: 3, loss: 'dice' });
  await store.logMetrics([0, 1, 2].map((step) => ({ runId: run.id, key: 'train/loss', step, value: 1 / (step + 1), time: o.start + step })));
  await store.logMetrics([{ runId: run.id, key: 'val/dice_mean', step: 1, value: NaN, time: o.start + 5 }]);
  await store.recordCaseResults([{ runId: run.id, split: 'test', caseId: 'hn_0001', organ: 'BrainStem', dsc: 0.8, hd95Mm: Infinity, surfaceDice: 0.7, tp: 5, fp: 1, fn: 2, extra: { toleranceMm: 1 } }]);
  await store.recordArtifact({ runId: run.id, kind: 'checkpoint', path: join(o.runDir, 'checkpoints', 'epoch-1'), sha256: 'a'.repeat(64), step: 1, bytes: 10 });
  await store.recordArtifact({ runId: run.id, kind: 'log', path: '/elsewhere/log.txt', sha256: 'b'.repeat(64) });
  if (o.grid) await store.updateCell(o.grid, o.key!, { runId: run.id });
  await store.endRun(run.id, 'FINISHED', { endTime: o.start + 10 });
  if (o.grid) await store.updateCell(o.grid, o.key!, { status: 'DONE' });
  return run;
}

async function everything(store: TrackingStore, runId: string) {
  const keys = await store.metricKeys(runId);
  return {
    run: await store.getRun(runId),
    params: await store.getParams(runId),
    metrics: await Promise.all(keys.map((k) => store.metricSeries(runId, k))),
    results: await store.caseResults(runId),
    artifacts: (await store.artifacts(runId)).map(({ id: _id, ...a }) => a),
  };
}

const cellsOf = async (store: TrackingStore, grid: string) =>
  Object.fromEntries((await store.gridCells(grid)).map((c) => [c.key, [c.status, c.runId, c.claimedBy]]));

describe('mergeTrackingDatabase', () => {
  let target: SqliteTrackingStore;
  let source: SqliteTrackingStore;
  const ids: Record<string, string> = {};

  it('copies the finished runs and their cells, leaves a running one, fills PENDING cells, keeps DONE and CLAIMED ones', async () => {
    target = openSqliteStore(join(root, 'a.db'));
    source = openSqliteStore(join(root, 'b.db'));
    const digests = { a: 'a'.repeat(64), b: 'b'.repeat(64), c: 'c'.repeat(64), d: 'e'.repeat(64) };
    for (const s of [target, source]) await s.registerCells('g@smoke', Object.entries(digests).map(([key, digest]) => ({ key, digest })));
    // machine A ran cell a; machine B ran b and a too, is running c, and was stopped in d
    await target.claimCell('g@smoke', 'a', 'A');
    ids.a = (await finishedRun(target, { name: 'a', config: { seed: 1 }, runDir: '/A/runs/ra', grid: 'g@smoke', key: 'a', start: 100 })).id;
    await source.claimCell('g@smoke', 'a', 'B');
    ids.aB = (await finishedRun(source, { name: 'a', config: { seed: 1 }, runDir: '/B/runs/raB', grid: 'g@smoke', key: 'a', start: 150 })).id;
    await source.claimCell('g@smoke', 'b', 'B');
    ids.b = (await finishedRun(source, { name: 'b', config: { seed: 2 }, runDir: '/B/runs/rb', grid: 'g@smoke', key: 'b', start: 200 })).id;
    await source.claimCell('g@smoke', 'c', 'B');
    ids.c = (await source.createRun({ experiment: 'g@smoke', name: 'c', config: { seed: 3 }, startTime: 300 })).id;
    await source.updateCell('g@smoke', 'c', { runId: ids.c });
    await source.claimCell('g@smoke', 'd', 'B');
    ids.d = (await source.createRun({ experiment: 'g@smoke', name: 'd', config: { seed: 4 }, runDir: '/B/runs/rd', startTime: 400 })).id;
    await source.updateCell('g@smoke', 'd', { runId: ids.d });
    await source.endRun(ids.d, 'KILLED', { error: 'interrupted by SIGTERM', endTime: 410 });
    await source.updateCell('g@smoke', 'd', { status: 'FAILED', error: 'interrupted by SIGTERM' });
    // a `train` run outside any grid
    ids.t = (await finishedRun(source, { name: 't', config: { seed: 5 }, runDir: '/B/runs/rt', start: 500 })).id;

    const report = mergeTrackingDatabase(target, join(root, 'b.db'));
    expect(report.copied).toEqual([ids.aB, ids.b, ids.d, ids.t]);
    expect(report).toMatchObject({ replaced: [], unchanged: 0, skipped: [{ runId: ids.c, reason: 'still RUNNING in the source: merge again once it has ended' }], cells: 2 });
    expect(report.cellsKept).toEqual([
      { grid: 'g@smoke', key: 'a', reason: `DONE in both: the target's run ${ids.a} is kept, the source's ${ids.aB} is copied but not attached` },
      { grid: 'g@smoke', key: 'c', reason: 'CLAIMED in the source (a run in progress there)' },
    ]);
    for (const id of [ids.aB, ids.b, ids.t]) expect(await everything(target, id)).toEqual(await everything(source, id));
    expect(await target.getRun(ids.c)).toBeUndefined();
    expect(await cellsOf(target, 'g@smoke')).toEqual({ a: ['DONE', ids.a, 'A'], b: ['DONE', ids.b, 'B'], c: ['PENDING', null, null], d: ['FAILED', ids.d, 'B'] });
    // the killed run in cell d is resumable from the target, as it was from the source
    expect((await target.listRuns({ status: 'KILLED' })).map((r) => r.id)).toEqual([ids.d]);
    expect((await target.listRuns({ experiment: 'default' })).map((r) => r.id)).toEqual([ids.t]);
  });

  it('merging the same source again changes nothing; a run killed here that ended there is replaced, without doubled metrics', async () => {
    const before = await everything(target, ids.b);
    const again = mergeTrackingDatabase(target, join(root, 'b.db'));
    expect(again).toMatchObject({ copied: [], replaced: [], unchanged: 4, cells: 0 });
    expect(await everything(target, ids.b)).toEqual(before);

    // machine B resumed d to its end, and finished c
    await source.resumeRun(ids.d, 420);
    await source.logMetrics([{ runId: ids.d, key: 'train/loss', step: 7, value: 0.5, time: 430 }]);
    await source.endRun(ids.d, 'FINISHED', { endTime: 440 });
    await source.updateCell('g@smoke', 'd', { status: 'DONE', error: null });
    await source.endRun(ids.c, 'FINISHED', { endTime: 450 });
    await source.updateCell('g@smoke', 'c', { status: 'DONE' });
    const third = mergeTrackingDatabase(target, join(root, 'b.db'));
    expect(third).toMatchObject({ copied: [ids.c], replaced: [ids.d], cells: 2, cellsKept: [expect.objectContaining({ key: 'a' })] });
    expect(await everything(target, ids.d)).toEqual(await everything(source, ids.d));
    expect(await target.metricSeries(ids.d, 'train/loss')).toHaveLength(1);
    expect(await cellsOf(target, 'g@smoke')).toMatchObject({ c: ['DONE', ids.c, 'B'], d: ['DONE', ids.d, 'B'] });
  });

  it('with runsDir, run folders and the artifacts inside them move there; other paths stay', async () => {
    const into = openSqliteStore(join(root, 'c.db'));
    mergeTrackingDatabase(into, join(root, 'b.db'), { runsDir: join(root, 'copied-runs') });
    const run = (await into.getRun(ids.b))!;
    expect(run.runDir).toBe(join(root, 'copied-runs', 'rb'));
    expect((await into.artifacts(ids.b)).map((a) => a.path)).toEqual([join(root, 'copied-runs', 'rb', 'checkpoints', 'epoch-1'), '/elsewhere/log.txt']);
    expect((await into.getRun(ids.c))!.runDir).toBeNull();
    // merged again with another runsDir: the folders of runs already there move too
    const again = mergeTrackingDatabase(into, join(root, 'b.db'), { runsDir: join(root, 'moved') });
    expect(again.copied).toEqual([]);
    expect(again.moved).toEqual([ids.aB, ids.b, ids.d, ids.t]);
    expect((await into.getRun(ids.b))!.runDir).toBe(join(root, 'moved', 'rb'));
    expect((await into.artifacts(ids.b)).map((a) => a.path)).toEqual([join(root, 'moved', 'rb', 'checkpoints', 'epoch-1'), '/elsewhere/log.txt']);
    expect(mergeTrackingDatabase(into, join(root, 'b.db'), { runsDir: join(root, 'moved') }).moved).toEqual([]);
    await into.close();
  });

  it('a cell recorded with another config in the target is kept and named', async () => {
    const a = openSqliteStore(join(root, 'conf-a.db'));
    const b = openSqliteStore(join(root, 'conf-b.db'));
    await a.registerCells('h', [{ key: 'x', digest: '1'.repeat(64) }]);
    await b.registerCells('h', [{ key: 'x', digest: '2'.repeat(64) }]);
    await b.claimCell('h', 'x', 'B');
    await finishedRun(b, { name: 'x', config: {}, runDir: '/B/x', grid: 'h', key: 'x', start: 1 });
    const r = mergeTrackingDatabase(a, join(root, 'conf-b.db'));
    expect(r.cellsKept).toEqual([{ grid: 'h', key: 'x', reason: 'recorded with another config in the target (the grid file differs between the machines)' }]);
    expect(await cellsOf(a, 'h')).toEqual({ x: ['PENDING', null, null] });
    await Promise.all([a.close(), b.close()]);
  });

  it('a dry run reports what a merge would do and changes nothing', async () => {
    const into = openSqliteStore(join(root, 'dry.db'));
    const dry = mergeTrackingDatabase(into, join(root, 'b.db'), { dryRun: true });
    expect(dry.copied.length).toBeGreaterThan(0);
    expect(await into.listRuns()).toEqual([]);
    expect(await into.listGrids()).toEqual([]);
    expect(mergeTrackingDatabase(into, join(root, 'b.db'))).toEqual(dry);
    await into.close();
  });

  it('all or nothing: a failure part-way leaves the target as it was', async () => {
    const into = openSqliteStore(join(root, 'atomic.db'));
    into.db.exec(`CREATE TRIGGER no_artifacts BEFORE INSERT ON artifacts BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
    expect(() => mergeTrackingDatabase(into, join(root, 'b.db'))).toThrow(/disk full/);
    expect(await into.listRuns()).toEqual([]);
    expect(await into.listGrids()).toEqual([]);
    expect(into.db.prepare('SELECT COUNT(*) AS n FROM metrics').get()).toEqual({ n: 0 });
    await into.close();
  });

  it('refuses the target itself and a source that is not a tracking database, naming the file', async () => {
    expect(() => mergeTrackingDatabase(target, join(root, 'a.db'))).toThrow(new TrackingError('BAD_INPUT', join(root, 'a.db'), 'is the target database itself'));
    const missing = join(root, 'missing.db');
    expect(() => mergeTrackingDatabase(target, missing)).toThrow(expect.objectContaining({ code: 'OPEN_FAILED', dbPath: missing }));
    await Promise.all([target.close(), source.close()]);
  });
});
