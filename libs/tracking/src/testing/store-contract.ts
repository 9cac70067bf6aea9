/**
 * The behaviour every {@link TrackingStore} must show, as a vitest suite: the SQLite store runs it, and
 * a future server-backed store runs the same suite (import from "@anatomynet/tracking/testing").
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cellClaimable } from '../cell-claim.js';
import { configDigest } from '../digest.js';
import { TrackingError } from '../errors.js';
import type { CaseResult, ClaimOptions, TrackingStore } from '../types.js';

/** Registers the contract's tests; `open` gives a fresh, empty store and a cleanup for each test. */
export function trackingStoreContract(name: string, open: () => Promise<{ store: TrackingStore; cleanup: () => Promise<void> | void }>): void {
  describe(`TrackingStore contract: ${name}`, () => {
    let store: TrackingStore;
    let cleanup: () => Promise<void> | void;
    beforeEach(async () => {
      ({ store, cleanup } = await open());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });
    defineTests(() => store);
  });
}

function defineTests(get: () => TrackingStore): void {
  let store!: TrackingStore;
  beforeEach(() => {
    store = get();
  });

  /** claimCell, checked against the pure rule that `grid --dry-run` previews claims by. */
  async function claim(grid: string, key: string, worker: string, options?: ClaimOptions): Promise<boolean> {
    const before = (await store.gridCells(grid)).find((c) => c.key === key);
    const claimed = await store.claimCell(grid, key, worker, options);
    expect(claimed, `cellClaimable(${before?.status}, run ${before?.runStatus}, retryFailed ${options?.retryFailed})`).toBe(cellClaimable(before, options?.retryFailed));
    return claimed;
  }

  async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(TrackingError);
      return (e as TrackingError).code;
    }
    return undefined;
  }

  describe('runs', () => {
    it('round-trips a run with its config digest and params', async () => {
      const run = await store.createRun({
        experiment: 'paper', name: 'anatomynet-dice-focal', id: 'run-a', config: { lr: 1e-3, loss: { focal: 0.5, dice: 1 } },
        gitCommit: 'abc123', datasetDigest: 'd'.repeat(64), backend: 'tensorflow', adapter: 'NVIDIA H100', runDir: '/runs/run-a',
        params: { epochs: 50, augment: true }, startTime: 1000,
      });
      expect(run).toMatchObject({ id: 'run-a', experiment: 'paper', status: 'RUNNING', startTime: 1000, heartbeatTime: 1000, endTime: null, gitCommit: 'abc123', backend: 'tensorflow', adapter: 'NVIDIA H100', runDir: '/runs/run-a' });
      // key order does not change the stored config or its digest
      expect(run.configJson).toBe('{"loss":{"dice":1,"focal":0.5},"lr":0.001}');
      expect(run.configDigest).toBe(configDigest({ loss: { focal: 0.5, dice: 1 }, lr: 0.001 }));
      expect(await store.getParams('run-a')).toEqual({ augment: 'true', epochs: '50' });
      await store.logParams('run-a', { epochs: 60 });
      expect((await store.getParams('run-a'))['epochs']).toBe('60');
      expect(await codeOf(store.createRun({ experiment: 'paper', name: 'x', id: 'run-a', config: {} }))).toBe('BAD_INPUT');
      expect((await store.listExperiments()).map((e) => e.name)).toEqual(['paper']);
    });

    it('allows only RUNNING -> FINISHED | FAILED | KILLED', async () => {
      const a = await store.createRun({ experiment: 'e', name: 'a', config: {} });
      const b = await store.createRun({ experiment: 'e', name: 'b', config: {} });
      const done = await store.endRun(a.id, 'FINISHED', { endTime: 5000 });
      expect(done).toMatchObject({ status: 'FINISHED', endTime: 5000 });
      const failed = await store.endRun(b.id, 'FAILED', { error: 'NaN loss', failedStep: 17 });
      expect(failed).toMatchObject({ status: 'FAILED', errorText: 'NaN loss', failedStep: 17 });
      expect(await codeOf(store.endRun(a.id, 'FAILED'))).toBe('BAD_TRANSITION');
      expect(await codeOf(store.endRun(b.id, 'FINISHED'))).toBe('BAD_TRANSITION');
      expect(await codeOf(store.resumeRun(a.id))).toBe('BAD_TRANSITION');
      expect(await codeOf(store.endRun('nope', 'FINISHED'))).toBe('NOT_FOUND');
      expect(await codeOf(store.endRun(a.id, 'RUNNING' as 'FINISHED'))).toBe('BAD_INPUT');
      expect(await store.heartbeat(a.id)).toBe(false);
    });

    it('resumes a KILLED run under the same id, and only a KILLED one', async () => {
      const r = await store.createRun({ experiment: 'e', name: 'k', config: {} });
      await store.endRun(r.id, 'KILLED', { error: 'SIGTERM', endTime: 10 });
      const again = await store.resumeRun(r.id, 20);
      expect(again).toMatchObject({ id: r.id, status: 'RUNNING', endTime: null, errorText: null, heartbeatTime: 20 });
      expect(await codeOf(store.resumeRun(r.id))).toBe('BAD_TRANSITION');
      expect(await codeOf(store.resumeRun('nope'))).toBe('NOT_FOUND');
      expect((await store.endRun(r.id, 'FINISHED')).status).toBe('FINISHED');
    });

    it('lists runs by experiment, status, grid, config and dataset', async () => {
      const r1 = await store.createRun({ experiment: 'e1', name: 'r1', config: { a: 1 }, datasetDigest: 'd1', startTime: 1 });
      const r2 = await store.createRun({ experiment: 'e1', name: 'r2', config: { a: 1 }, datasetDigest: 'd2', startTime: 2 });
      const r3 = await store.createRun({ experiment: 'e2', name: 'r3', config: { a: 2 }, datasetDigest: 'd1', startTime: 3 });
      await store.endRun(r2.id, 'FINISHED');
      expect((await store.listRuns()).map((r) => r.name)).toEqual(['r1', 'r2', 'r3']);
      expect((await store.listRuns({ experiment: 'e1' })).map((r) => r.name)).toEqual(['r1', 'r2']);
      expect((await store.listRuns({ status: 'RUNNING' })).map((r) => r.name)).toEqual(['r1', 'r3']);
      expect((await store.listRuns({ experiment: 'e1', status: ['FINISHED', 'FAILED'] })).map((r) => r.name)).toEqual(['r2']);
      await claim('g', 'cell-1', 'w');
      await store.updateCell('g', 'cell-1', { runId: r3.id });
      expect((await store.listRuns({ grid: 'g' })).map((r) => r.id)).toEqual([r3.id]);
      expect(r1.configDigest).toBe(r2.configDigest);
      expect((await store.listRuns({ configDigest: r1.configDigest })).map((r) => r.name)).toEqual(['r1', 'r2']);
      expect((await store.listRuns({ configDigest: r1.configDigest, datasetDigest: 'd1' })).map((r) => r.name)).toEqual(['r1']);
      expect((await store.listRuns({ datasetDigest: 'd1', status: 'RUNNING' })).map((r) => r.name)).toEqual(['r1', 'r3']);
      expect(await store.listRuns({ configDigest: 'f'.repeat(64) })).toEqual([]);
      expect(r1.id).not.toBe(r2.id);
    });

    it('marks RUNNING runs with an old heartbeat as KILLED and frees their cells', async () => {
      const old = await store.createRun({ experiment: 'e', name: 'old', config: {}, startTime: 1_000 });
      const alive = await store.createRun({ experiment: 'e', name: 'alive', config: {}, startTime: 1_000 });
      const finished = await store.createRun({ experiment: 'e', name: 'finished', config: {}, startTime: 1_000 });
      await store.endRun(finished.id, 'FINISHED', { endTime: 2_000 });
      expect(await store.heartbeat(alive.id, 90_000)).toBe(true);
      await claim('g', 'c-old', 'w1');
      await store.updateCell('g', 'c-old', { runId: old.id });
      await claim('g', 'c-alive', 'w2');
      await store.updateCell('g', 'c-alive', { runId: alive.id });
      const sweep = await store.markStaleRunsKilled(60_000, 100_000);
      expect(sweep.killedRunIds).toEqual([old.id]);
      expect(sweep.failedCells).toEqual([{ grid: 'g', key: 'c-old' }]);
      expect(await store.getRun(old.id)).toMatchObject({ status: 'KILLED', endTime: 100_000, errorText: 'no heartbeat since 1970-01-01T00:00:01.000Z' });
      expect((await store.getRun(alive.id))!.status).toBe('RUNNING');
      expect((await store.getRun(finished.id))!.status).toBe('FINISHED');
      expect(await store.heartbeat(old.id)).toBe(false);
      // The swept cell is claimable again (its killed run kept, to be resumed), once; the live one is not.
      expect(await claim('g', 'c-alive', 'w3', { retryFailed: true })).toBe(false);
      expect(await claim('g', 'c-old', 'w3')).toBe(true);
      expect(await claim('g', 'c-old', 'w4')).toBe(false);
      expect((await store.gridCells('g')).find((c) => c.key === 'c-old')).toMatchObject({ status: 'CLAIMED', claimedBy: 'w3', runId: old.id, runStatus: 'KILLED' });
    });

    it('a cell whose run was killed is claimed once more with that run (to resume); a failed run is only retried on request, afresh', async () => {
      await store.registerCells('g', [{ key: 'killed' }, { key: 'failed' }]);
      expect(await claim('g', 'killed', 'w1')).toBe(true);
      const k = await store.createRun({ experiment: 'e', name: 'killed', config: {} });
      await store.updateCell('g', 'killed', { runId: k.id });
      await store.endRun(k.id, 'KILLED', { error: 'interrupted by SIGINT' });
      // Still CLAIMED (its worker may be the one stopping it): not claimable until the cell is FAILED.
      expect(await claim('g', 'killed', 'w2')).toBe(false);
      await store.updateCell('g', 'killed', { status: 'FAILED', error: 'interrupted by SIGINT' });
      expect(await claim('g', 'failed', 'w1')).toBe(true);
      const f = await store.createRun({ experiment: 'e', name: 'failed', config: {} });
      await store.updateCell('g', 'failed', { runId: f.id });
      await store.endRun(f.id, 'FAILED', { error: 'loss is NaN' });
      await store.updateCell('g', 'failed', { status: 'FAILED', error: 'loss is NaN' });

      expect(await claim('g', 'killed', 'w2')).toBe(true);
      expect(await claim('g', 'killed', 'w3')).toBe(false);
      expect((await store.gridCells('g')).find((c) => c.key === 'killed')).toMatchObject({ status: 'CLAIMED', claimedBy: 'w2', runId: k.id });
      // Resumed and killed again: claimable again.
      await store.resumeRun(k.id);
      await store.endRun(k.id, 'KILLED', { error: 'interrupted by SIGTERM' });
      await store.updateCell('g', 'killed', { status: 'FAILED', error: 'interrupted by SIGTERM' });
      expect(await claim('g', 'killed', 'w3')).toBe(true);

      expect(await claim('g', 'failed', 'w2')).toBe(false);
      expect(await claim('g', 'failed', 'w2', { retryFailed: true })).toBe(true);
      expect((await store.gridCells('g')).find((c) => c.key === 'failed')).toMatchObject({ status: 'CLAIMED', runId: null });
    });
  });

  describe('metrics', () => {
    it('returns a series by step; NaN and Infinity round-trip', async () => {
      const run = await store.createRun({ experiment: 'e', name: 'r', config: {} });
      await store.logMetrics([
        { runId: run.id, key: 'val/dice', step: 2, value: 0.7, time: 30 },
        { runId: run.id, key: 'val/dice', step: 1, value: 0.5, time: 20 },
        { runId: run.id, key: 'train/loss', step: 1, value: NaN, time: 20 },
        { runId: run.id, key: 'train/loss', step: 2, value: Infinity, time: 30 },
      ]);
      expect(await store.metricSeries(run.id, 'val/dice')).toEqual([{ step: 1, value: 0.5, time: 20 }, { step: 2, value: 0.7, time: 30 }]);
      const loss = await store.metricSeries(run.id, 'train/loss');
      expect(loss[0]!.value).toBeNaN();
      expect(loss[1]!.value).toBe(Infinity);
      expect(await store.metricKeys(run.id)).toEqual(['train/loss', 'val/dice']);
      expect(await codeOf(store.logMetrics([{ runId: run.id, key: 'x', step: 1.5, value: 0 }]))).toBe('BAD_INPUT');
      // what a resumed run logs again is deleted first: one key, from a step on
      expect(await store.deleteMetrics(run.id, 'val/dice', 2)).toBe(1);
      expect((await store.metricSeries(run.id, 'val/dice')).map((m) => m.step)).toEqual([1]);
      expect((await store.metricSeries(run.id, 'train/loss')).map((m) => m.step)).toEqual([1, 2]);
      expect(await store.deleteMetrics(run.id, 'nope', 0)).toBe(0);
    });

    it('the store writer flushes batches and everything on close', async () => {
      const run = await store.createRun({ experiment: 'e', name: 'r', config: {} });
      const w = store.metricWriter(run.id, { maxRows: 4, maxDelayMs: 60_000 });
      for (let s = 0; s < 10; s++) w.log('loss', s, 10 - s);
      await new Promise((r) => setImmediate(r));
      expect((await store.metricSeries(run.id, 'loss')).length).toBe(8);
      await w.close();
      expect((await store.metricSeries(run.id, 'loss')).map((p) => p.value)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    });
  });

  describe('case results and artifacts', () => {
    it('round-trips per-case, per-organ results (NaN and Infinity included) and replaces on rewrite', async () => {
      const run = await store.createRun({ experiment: 'e', name: 'r', config: {} });
      const rows: CaseResult[] = [
        { runId: run.id, split: 'test', caseId: '0522c0001', organ: 'Brainstem', dsc: 0.86, hd95Mm: 3.2, surfaceDice: 0.91, meanSurfaceDistanceMm: 1.1, tp: 900, fp: 120, fn: 170, extra: { toleranceMm: 2 } },
        { runId: run.id, split: 'test', caseId: '0522c0001', organ: 'Chiasm', dsc: NaN, hd95Mm: NaN, surfaceDice: NaN },
        { runId: run.id, split: 'test', caseId: '0522c0002', organ: 'Chiasm', dsc: 0, hd95Mm: Infinity, surfaceDice: 0, meanSurfaceDistanceMm: Infinity, tp: 0, fp: 0, fn: 40 },
        { runId: run.id, split: 'val', caseId: '0522c0003', organ: 'Mandible', dsc: 0.93, hd95Mm: 1.5, surfaceDice: 0.97 },
      ];
      await store.recordCaseResults(rows);
      const test = await store.caseResults(run.id, 'test');
      expect(test).toHaveLength(3);
      expect(test[0]).toEqual(rows[0]);
      expect(test[1]!.dsc).toBeNaN();
      expect(test[1]!.tp).toBeUndefined();
      expect(test[2]).toMatchObject({ hd95Mm: Infinity, meanSurfaceDistanceMm: Infinity, fn: 40 });
      await store.recordCaseResults([{ ...rows[3]!, dsc: 0.95 }]);
      const all = await store.caseResults(run.id);
      expect(all).toHaveLength(4);
      expect(all.find((r) => r.split === 'val')!.dsc).toBe(0.95);
    });

    it('finds the latest checkpoint by step', async () => {
      const run = await store.createRun({ experiment: 'e', name: 'r', config: {} });
      expect(await store.latestArtifact(run.id)).toBeUndefined();
      await store.recordArtifact({ runId: run.id, kind: 'checkpoint', path: 'ckpt/step-100', sha256: 'a'.repeat(64), step: 100, bytes: 10 });
      await store.recordArtifact({ runId: run.id, kind: 'checkpoint', path: 'ckpt/step-300', sha256: 'b'.repeat(64), step: 300 });
      await store.recordArtifact({ runId: run.id, kind: 'checkpoint', path: 'ckpt/step-200', sha256: 'c'.repeat(64), step: 200 });
      await store.recordArtifact({ runId: run.id, kind: 'best-checkpoint', path: 'ckpt/best', sha256: 'd'.repeat(64), step: 200 });
      expect(await store.latestArtifact(run.id)).toMatchObject({ path: 'ckpt/step-300', step: 300, bytes: null });
      expect((await store.latestArtifact(run.id, 'best-checkpoint'))!.path).toBe('ckpt/best');
      expect((await store.artifacts(run.id)).map((a) => a.step)).toEqual([100, 300, 200, 200]);
      expect(await codeOf(store.recordArtifact({ runId: 'nope', kind: 'checkpoint', path: 'x', sha256: 'x' }))).toBe('NOT_FOUND');
      // old checkpoints deleted from disk are forgotten; other runs' artifacts at the same path are not
      const other = await store.createRun({ experiment: 'e', name: 'other', config: {} });
      await store.recordArtifact({ runId: other.id, kind: 'checkpoint', path: 'ckpt/step-100', sha256: 'e'.repeat(64), step: 100 });
      expect(await store.removeArtifacts(run.id, ['ckpt/step-100', 'ckpt/step-200', 'ckpt/never'])).toBe(2);
      expect((await store.artifacts(run.id)).map((a) => a.path)).toEqual(['ckpt/step-300', 'ckpt/best']);
      expect((await store.artifacts(other.id)).map((a) => a.path)).toEqual(['ckpt/step-100']);
      expect(await store.removeArtifacts(run.id, [])).toBe(0);
    });
  });

  describe('grid cells', () => {
    it('registers, claims once, attaches runs and finishes', async () => {
      await store.registerCells('paper-grid', [{ key: 'loss=dice', digest: 'd1' }, { key: 'loss=focal', digest: 'd2' }]);
      await store.registerCells('paper-grid', [{ key: 'loss=dice', digest: 'd1' }]); // idempotent
      expect(await claim('paper-grid', 'loss=dice', 'host-1', { digest: 'd1' })).toBe(true);
      expect(await claim('paper-grid', 'loss=dice', 'host-2', { digest: 'd1' })).toBe(false);
      expect(await codeOf(claim('paper-grid', 'loss=focal', 'host-2', { digest: 'changed' }))).toBe('BAD_INPUT');
      const run = await store.createRun({ experiment: 'paper-grid', name: 'loss=dice', config: { loss: 'dice' } });
      await store.updateCell('paper-grid', 'loss=dice', { runId: run.id });
      await store.endRun(run.id, 'FINISHED');
      await store.updateCell('paper-grid', 'loss=dice', { status: 'DONE' });
      const cells = await store.gridCells('paper-grid');
      expect(cells.map((c) => [c.key, c.status, c.claimedBy, c.runStatus])).toEqual([
        ['loss=dice', 'DONE', 'host-1', 'FINISHED'],
        ['loss=focal', 'PENDING', null, null],
      ]);
      expect(await claim('paper-grid', 'loss=dice', 'host-3', { retryFailed: true })).toBe(false);
      await store.updateCell('paper-grid', 'loss=focal', { status: 'FAILED', error: 'OOM' });
      expect((await store.gridCells('paper-grid'))[1]).toMatchObject({ status: 'FAILED', error: 'OOM' });
      expect(await claim('paper-grid', 'loss=focal', 'host-3', { retryFailed: true })).toBe(true);
      expect((await store.gridCells('paper-grid'))[1]).toMatchObject({ status: 'CLAIMED', error: null, claimedBy: 'host-3', digest: 'd2' });
      expect(await codeOf(store.updateCell('paper-grid', 'nope', { status: 'DONE' }))).toBe('NOT_FOUND');
      expect(await store.listGrids()).toEqual(['paper-grid']);
    });

    it('a claimed cell with no run is freed once its claim is older than the stale age', async () => {
      await claim('g', 'c', 'w1');
      const claimedAt = (await store.gridCells('g'))[0]!.claimedAt!;
      expect((await store.markStaleRunsKilled(60_000, claimedAt + 1_000)).failedCells).toEqual([]);
      expect((await store.markStaleRunsKilled(60_000, claimedAt + 61_000)).failedCells).toEqual([{ grid: 'g', key: 'c' }]);
      expect((await store.gridCells('g'))[0]!.error).toBe('claimed by w1 but no run started');
    });

    it('says the store is closed', async () => {
      await store.close();
      expect(await codeOf(store.claimCell('g', 'c', 'w'))).toBe('CLOSED');
      expect(await codeOf(store.gridCells('g'))).toBe('CLOSED');
      expect(await codeOf(store.listRuns())).toBe('CLOSED');
      await store.close();
    });
  });
}
