import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '@anatomynet/tracking';
import { collectReportData, type GridData } from './collect';
import { readExperimentDefs } from './experiments';
import { buildReportModel, thin } from './model';
import { figureModel, measuredDscSeries, publishedDscSeries } from './shape';
import { renderReportHtml } from './render';
import { datasetModel } from './dataset';
import { defaultDsc, seedFakeGrid } from './testing';

const EXPERIMENTS = join(__dirname, '../../../experiments');
let dir: string;
let grids: GridData[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'report-shape-'));
  const store = openSqliteStore(join(dir, 't.sqlite'));
  await seedFakeGrid(store, 'fig3-pooling@smoke', [
    { key: 'pool1', run: 'FINISHED' },
    // Chiasm never annotated; HD95 infinite for case 0 and undefined for case 1.
    { key: 'pool2', run: 'FINISHED', dsc: (c, o) => (o === 1 ? NaN : defaultDsc(c, o)), hd95Mm: (c) => (c === 0 ? Infinity : c === 1 ? NaN : 5) },
    { key: 'pool3', run: 'FAILED', error: 'loss is NaN at step 12\nstack...' },
    // pool4: no cell at all
  ]);
  await seedFakeGrid(store, 'fig6-final@smoke', [{ key: 'anatomynet', run: 'FINISHED' }, { key: 'dice-only', run: 'FINISHED' }]);
  await seedFakeGrid(store, 'fig6-final@full', [{ key: 'anatomynet', run: 'FINISHED', dsc: () => 0.8 }, { key: 'dice-only', run: 'RUNNING' }]);
  // the contour checks flag case 1's brainstem (two checks)
  await seedFakeGrid(store, 'my-sweep@full', [{ key: 'a', run: 'FINISHED', contourFinding: (c, o) => (c === 1 && o === 0 ? 'stray-piece;hu' : '') }]);
  await store.close();
  const ro = openSqliteStore(join(dir, 't.sqlite'), { readonly: true });
  grids = await collectReportData(ro, readExperimentDefs(EXPERIMENTS));
  await ro.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fig = (figure: string) => figureModel(grids.find((g) => g.def.figure === figure)!);

describe('collectReportData', () => {
  it('orders grids by figure, prefers the full profile, and keeps grids without a definition', () => {
    expect(grids.map((g) => g.def.name)).toEqual(['fig3-pooling', 'fig4-architecture', 'fig5-losses', 'fig6-final', 'table1-datasets', 'my-sweep']);
    const fig6 = grids.find((g) => g.def.figure === 'fig6')!;
    expect(fig6.grid).toBe('fig6-final@full');
    expect(fig6.otherProfiles).toEqual(['smoke']);
    expect(grids.find((g) => g.def.figure === 'fig3')!.grid).toBe('fig3-pooling@smoke');
    expect(grids.find((g) => g.def.figure === 'table1')!.grid).toBeNull();
    const loss = [...grids[0].runs.values()][0];
    expect(loss.lossKey).toBe('train/epoch_loss');
    expect(loss.loss).toHaveLength(20);
    expect(loss.valDice).toHaveLength(20);
  });
});

describe('figureModel', () => {
  it('computes mean, SD and n over test cases per organ, in %', () => {
    const f = fig('fig3');
    expect(f.rows.map((r) => r.key)).toEqual(['pool1', 'pool2']);
    const bs = f.rows[0].organs.BrainStem.dsc;
    // Cases 0..3: 50, 52, 54, 51 %.
    expect(bs.n).toBe(4);
    expect(bs.mean).toBeCloseTo(51.75, 10);
    expect(bs.sd).toBeCloseTo(Math.sqrt(8.75 / 3), 10);
    expect(f.rows[0].cases).toBe(4);
    // Mean = mean of nine organ means.
    const organMeans = Object.values(f.rows[0].organs).map((s) => s.dsc.mean);
    expect(organMeans).toHaveLength(9);
    expect(f.rows[0].meanDsc).toBeCloseTo(organMeans.reduce((a, b) => a + b) / 9, 10);
  });

  it('keeps infinite and undefined HD95 out of the mean and counts them', () => {
    const h = fig('fig3').rows[1].organs.BrainStem.hd95Mm;
    expect(h).toMatchObject({ n: 2, nInfinite: 1, nMissing: 1, mean: 5, sd: 0 });
  });

  it('names every missing cell with its reason, including a missing organ and a FAILED run', () => {
    const f = fig('fig3');
    expect(f.missing).toEqual([
      { row: 'pool2', label: '2 down-sampling layers', organ: 'Chiasm', reason: 'no test case with this organ annotated' },
      { row: 'pool3', label: '3 down-sampling layers', reason: 'run fig3-pooling-smoke-pool3 is FAILED: loss is NaN at step 12' },
      { row: 'pool4', label: '4 down-sampling layers', reason: 'no cell "pool4" in grid fig3-pooling@smoke' },
    ]);
    expect(fig('fig6').missing).toEqual([{ row: 'dice-only', label: '3D SE-Res U-Net, Dice only', reason: 'run fig6-final-full-dice-only is RUNNING' }]);
    expect(fig('table1').missing.map((m) => m.row)).toEqual(['pddca-only', 'all']);
    expect(fig('table1').missing[0].reason).toMatch(/not in the database/);
  });

  it('never plots a missing organ or an incomplete mean as a value', () => {
    const s = measuredDscSeries(fig('fig3'));
    expect(s.labels).toHaveLength(10);
    expect(s.datasets.map((d) => d.label)).toEqual(['1 down-sampling layer', '2 down-sampling layers']);
    expect(s.datasets[1].data[1]).toBeNull(); // Chiasm
    expect(s.datasets[1].data[9]).toBeNull(); // Mean over 8 organs is not the paper's mean
    expect(s.datasets[1].n[1]).toBe(0);
    expect(s.datasets[0].data[0]).toBeCloseTo(51.75, 10);
    expect(s.datasets[0].sd[0]).toBeCloseTo(Math.sqrt(8.75 / 3), 10);
    expect(s.datasets[0].data.every((v) => v !== null && v > 0)).toBe(true);
  });

  it('keeps published numbers apart, mapped from TG-263 names', () => {
    const f6 = fig('fig6');
    expect(f6.rows[0].organs.Mandible.dsc.mean).toBeCloseTo(80, 10);
    const p = publishedDscSeries(f6);
    expect(p.datasets.every((d) => d.label.endsWith('[published]'))).toBe(true);
    const paper = p.datasets.find((d) => d.label.startsWith('AnatomyNet (paper)'))!;
    expect(paper.data).toEqual([86.65, 53.22, 92.51, 72.1, 70.64, 88.07, 87.35, 81.37, 81.3, 79.25]);
    // Wang et al. did not report the chiasm: null, not 0.
    expect(p.datasets.find((d) => d.label.startsWith('Hierarchical'))!.data[1]).toBeNull();
    expect(fig('fig3').publishedMeans.map((m) => [m.rowKey, m.mean])).toEqual([['pool1', 76.8], ['pool2', 75.9], ['pool3', 75.6], ['pool4', 75.5]]);
    expect(fig('fig5').publishedMeans.map((m) => [m.rowKey, m.mean])).toEqual([['dice', 76.8], ['exp-log', 76.0], ['dice+focal-0.5', 77.7], ['dice+ce-0.1', 77.0]]);
    expect(f6.counterparts.map((c) => [c.rowKey, c.published.label])).toEqual([['anatomynet', 'AnatomyNet (paper)'], ['dice-only', '3D SE-Res U-Net, Dice only (paper)']]);
    expect(fig('table1').counterparts.map((c) => [c.rowKey, c.published.mean])).toEqual([['pddca-only', 75.28], ['all', 77.91]]);
    expect(fig('fig4').published).toEqual([]);
    expect(fig('fig4').publishedNote).toMatch(/no numbers/);
  });

  it('shapes a grid without a definition from its cell keys', () => {
    const f = fig('other');
    expect(f.rows.map((r) => r.key)).toEqual(['a']);
    expect(f.missing).toEqual([]);
  });
});

describe('buildReportModel', () => {
  it('lists every run once with curves and per-case tables', () => {
    const m = buildReportModel({ grids, dbPath: 'x', generatedAt: 't', overlays: null, overlayNote: '', dataset: null, datasetNote: '' });
    expect(m.runs.map((r) => r.status).sort()).toEqual(['FAILED', 'FINISHED', 'FINISHED', 'FINISHED', 'FINISHED', 'RUNNING']);
    expect(m.runs.find((r) => r.status === 'FAILED')!.error).toBe('loss is NaN at step 12');
    expect(m.curves[0].valDice[0]).toEqual([0, 20]);
    const t = m.caseTables.find((c) => c.runId === 'fig3-pooling-smoke-pool2')!;
    expect(t.cases.map((c) => c.caseId)).toEqual(['case-001', 'case-002', 'case-003', 'case-004']);
    expect(t.cases[0].organs.Chiasm).toBeUndefined();
    expect(t.cases[0].organs.BrainStem.hd95Mm).toBe(Infinity);
  });

  it('names the dataset version, and runs trained on the version it replaced', () => {
    const manifest = { schemaVersion: 1, version: 3, previous: { version: 2, manifestDigest: 'd'.repeat(64) }, numCases: 0, cases: [], skipped: [] };
    const dataset = datasetModel({ manifest, digest: 'e'.repeat(64) });
    const m = buildReportModel({ grids, dbPath: 'x', generatedAt: 't', overlays: null, overlayNote: '', dataset, datasetNote: '' });
    const { html } = renderReportHtml(m, '');
    expect(html).toContain(`0 cases; version 3 (replacing version 2, manifest sha256 <code>${'d'.repeat(16)}…</code>); manifest sha256 <code>${'e'.repeat(64)}</code>.`);
    expect(html).toContain(`<b>differs from the manifest given (${'e'.repeat(12)}…) for some runs</b>; ${m.runs.length} of them trained on version 2, the one it replaced`);
  });

  it('lists the curator\'s annotation findings, says when there were none, and when the manifest predates the checks', () => {
    const m0 = buildReportModel({ grids, dbPath: 'x', generatedAt: 't', overlays: null, overlayNote: '', dataset: null, datasetNote: '' });
    expect(m0.caseTables.some((t) => t.cases.some((c) => c.caseId === 'case-002' && c.organs.BrainStem))).toBe(true);
    const base = { schemaVersion: 1, numCases: 0, cases: [], skipped: [] };
    const html = (manifest: object) => renderReportHtml(buildReportModel({ grids, dbPath: 'x', generatedAt: 't', overlays: null, overlayNote: '', dataset: datasetModel({ manifest: manifest as never, digest: 'e'.repeat(64) }), datasetNote: '' }), '').html;
    const finding = { caseId: 'hn_0007', check: 'sides', organs: ['Parotid_L', 'Parotid_R'], message: 'Parotid_L lies to the patient\'s right of Parotid_R <sic>' };
    expect(html({ ...base, annotationFindings: [finding] })).toContain('<tr><td>hn_0007</td><td>sides</td><td class="l">Parotid_L, Parotid_R</td><td class="l">Parotid_L lies to the patient&#39;s right of Parotid_R &lt;sic&gt;</td></tr>');
    expect(html({ ...base, annotationFindings: [] })).toContain('<h3>Annotation checks</h3><p class="meta">Nothing found');
    expect(html(base)).toContain('<h3>Annotation checks</h3><p class="meta">The manifest predates');
    // a flagged organ of a test case is marked in the per-case tables
    const flagged = html({ ...base, annotationFindings: [{ caseId: 'case-002', check: 'hu', organs: ['BrainStem'], message: 'm' }] });
    const table = flagged.slice(flagged.indexOf('<section id="cases">'), flagged.indexOf('<section id="overlays">'));
    expect(table).toContain('⚑ = the curator');
    expect(table.match(/<span class="flag" title="annotation check: hu">⚑<\/span>/g)?.length).toBe(m0.caseTables.filter((t) => t.cases.some((c) => c.caseId === 'case-002' && c.organs.BrainStem)).length);
    expect(html({ ...base, annotationFindings: [] })).not.toContain('title="annotation check');
  });

  it('counts and marks the test contours the annotation checks flag; says nothing of runs evaluated before them', () => {
    const sweep = figureModel(grids.find((g) => g.grid === 'my-sweep@full')!).rows[0];
    expect(sweep.organs.BrainStem.contours).toEqual({ checked: 4, flagged: 1 });
    expect(sweep.organs.Mandible.contours).toEqual({ checked: 4, flagged: 0 });
    expect(fig('fig3').rows[0].organs.BrainStem.contours).toEqual({ checked: 0, flagged: 0 });
    const m = buildReportModel({ grids, dbPath: 'x', generatedAt: 't', overlays: null, overlayNote: '', dataset: null, datasetNote: '' });
    const html = renderReportHtml(m, '').html;
    const cases = html.slice(html.indexOf('<section id="cases">'), html.indexOf('<section id="overlays">'));
    expect(cases.match(/<span class="flag" title="contour check: stray-piece, hu">⚠<\/span>/g)).toHaveLength(1);
    expect(cases).toContain('⚠ = the same checks, run on the model');
    const cells = m.caseTables.find((t) => t.runId === 'my-sweep-full-a')!.cases.reduce((n, c) => n + Object.keys(c.organs).length, 0);
    expect(cases).toContain(`— 4 test cases, 1 of ${cells} contours flagged <code>my-sweep-full-a</code>`);
    expect(cases.match(/contours flagged/g)).toHaveLength(1);
    // the figure's table of flagged contours: only the sweep's, whose run was checked (4 cases a organ)
    const sweepSection = html.slice(html.indexOf('<h4>Test contours the annotation checks flag'));
    expect(sweepSection.slice(0, sweepSection.indexOf('</table>'))).toContain(`<td>1<span class="sd"> / 4</span></td><td>0<span class="sd"> / 4</span></td>`);
    expect(sweepSection.slice(0, sweepSection.indexOf('</table>'))).toContain(`<td>1<span class="sd"> / ${cells}</span></td></tr>`);
    expect(html.match(/<h4>Test contours the annotation checks flag/g)).toHaveLength(1);
  });

  it('thins long curves, keeping the last point', () => {
    const pts = Array.from({ length: 1001 }, (_, i) => i);
    const t = thin(pts, 100);
    expect(t.length).toBeLessThanOrEqual(101);
    expect(t[t.length - 1]).toBe(1000);
    expect(thin([1, 2], 100)).toEqual([1, 2]);
  });
});

describe('paired comparison with the reference row', () => {
  let paired: GridData[];
  beforeAll(async () => {
    const store = openSqliteStore(join(dir, 'paired.sqlite'));
    // fig5's reference is dice+focal-0.5; Dice alone is 1, 2, 3, 4 points better on cases 1-4; exp-log
    // 2 points worse on the three cases it has results for, and without the chiasm
    await seedFakeGrid(store, 'fig5-losses@smoke', [
      { key: 'dice+focal-0.5', run: 'FINISHED' },
      { key: 'dice', run: 'FINISHED', dsc: (c, o) => defaultDsc(c, o) + 0.01 * (c + 1) },
      { key: 'exp-log', run: 'FINISHED', dsc: (c, o) => (c === 3 || o === 1 ? NaN : defaultDsc(c, o) - 0.02) },
    ]);
    // fig4's reference (SE-Res concat) failed: nothing to pair with
    await seedFakeGrid(store, 'fig4-architecture@smoke', [{ key: 'se-residual-concat', run: 'FAILED' }, { key: 'plain-concat', run: 'FINISHED' }]);
    await store.close();
    const ro = openSqliteStore(join(dir, 'paired.sqlite'), { readonly: true });
    paired = await collectReportData(ro, readExperimentDefs(EXPERIMENTS));
    await ro.close();
  });
  const figOf = (figure: string) => figureModel(paired.find((g) => g.def.figure === figure)!);

  it('pairs each row with the reference by case, over the organs both scored: mean difference, bootstrap interval, Wilcoxon test', () => {
    const f = figOf('fig5');
    expect(f.reference).toEqual({ key: 'dice+focal-0.5', label: 'Dice + focal (0.5)' });
    expect(f.paired.map((r) => r.key)).toEqual(['dice', 'exp-log']);
    const [dice, expLog] = f.paired;
    expect(dice.cases).toBe(4);
    expect(dice.meanDiff).toBeCloseTo(2.5, 9);
    expect(dice.low).toBeGreaterThanOrEqual(1 - 1e-9);
    expect(dice.high).toBeLessThanOrEqual(4 + 1e-9);
    expect(dice.low).toBeLessThan(2.5);
    // four cases, all better: the exact two-sided p is 2/16, the smallest four cases allow
    expect(dice.test).toEqual({ n: 4, statistic: 0, p: 0.125, method: 'exact' });
    // per case, the mean over the organs both scored (no chiasm): exactly -2 on each of the three cases
    expect(expLog.cases).toBe(3);
    expect(expLog.meanDiff).toBeCloseTo(-2, 9);
    expect(expLog.low).toBeCloseTo(-2, 9);
    expect(expLog.high).toBeCloseTo(-2, 9);
    expect(expLog.test).toEqual({ n: 3, statistic: 0, p: 0.25, method: 'exact' });
    expect(f.pairedNote).toBe('');
    // two comparisons with the reference: Holm doubles the smaller p, the larger stays (0.25 each)
    expect([dice.pHolm, expLog.pHolm]).toEqual([0.25, 0.25]);
    const model = buildReportModel({ grids: paired, dbPath: 'x', generatedAt: 't', overlays: null, overlayNote: '', dataset: null, datasetNote: '' });
    const { html } = renderReportHtml(model, '');
    expect(html).toContain('<th>Wilcoxon p</th><th>Holm p</th>');
    expect(html).toContain('Holm p: the p adjusted for the 2 comparisons with the reference in this figure');
  });

  it('groups seed replicates (ROW#N) under their row: values averaged per case, spread between seeds apart, paired over cases and seeds', async () => {
    const store = openSqliteStore(join(dir, 'replicates.sqlite'));
    // Figure 3's reference pool1 trained three times (+0, +2, +4 points), pool2 twice (-1, -3), its third failed
    const shifted = (points: number) => (c: number, o: number) => defaultDsc(c, o) + points / 100;
    await seedFakeGrid(store, 'fig3-pooling@full', [
      { key: 'pool1', run: 'FINISHED' },
      { key: 'pool2', run: 'FINISHED', dsc: shifted(-1) },
      { key: 'pool1#2', run: 'FINISHED', dsc: shifted(2) },
      { key: 'pool2#2', run: 'FINISHED', dsc: shifted(-3) },
      { key: 'pool1#3', run: 'FINISHED', dsc: shifted(4) },
      { key: 'pool2#3', run: 'FAILED', error: 'loss is NaN at step 3' },
    ]);
    await store.close();
    const ro = openSqliteStore(join(dir, 'replicates.sqlite'), { readonly: true });
    const data = await collectReportData(ro, readExperimentDefs(EXPERIMENTS));
    await ro.close();
    const grid = data.find((g) => g.def.figure === 'fig3')!;
    const f = figureModel(grid);
    expect(f.rows.map((r) => [r.key, r.runIds.length])).toEqual([['pool1', 3], ['pool2', 2]]);
    const [pool1, pool2] = f.rows;
    const single = figureModel({ ...grid, cells: grid.cells.filter((c) => c.key === 'pool1') }).rows[0];
    // per case the mean of the three runs: the single run's statistics 2 points up, the spread over cases unchanged
    expect(pool1.organs.BrainStem.dsc.mean).toBeCloseTo(single.organs.BrainStem.dsc.mean + 2, 9);
    expect(pool1.organs.BrainStem.dsc.sd).toBeCloseTo(single.organs.BrainStem.dsc.sd, 9);
    expect(pool1.organs.BrainStem.dsc.n).toBe(4);
    expect(pool1.meanDsc).toBeCloseTo(single.meanDsc + 2, 9);
    // the runs' own means are 0, 2 and 4 points up: SD 2; pool2's -1 and -3: SD sqrt(2)
    expect(pool1.seedSd).toBeCloseTo(2, 9);
    expect(pool2.seedSd).toBeCloseTo(Math.SQRT2, 9);
    expect(single.seedSd).toBeNaN();
    expect(f.missing[0]).toEqual({ row: 'pool2#3', label: '2 down-sampling layers (seed replicate 3)', reason: expect.stringMatching(/^run \S+ is FAILED: loss is NaN at step 3$/) });
    expect(f.missing.slice(1).map((m) => m.row)).toEqual(['pool3', 'pool4']);
    // pool2 - pool1 = -4 points on every case; between seeds: runs' means SD 2 over 3 runs and sqrt(2) over 2
    const [paired] = f.paired;
    expect(paired).toMatchObject({ key: 'pool2', runs: 2, referenceRuns: 3, cases: 4, test: { method: 't', n: 4 } });
    expect(paired.meanDiff).toBeCloseTo(-4, 9);
    const se = Math.sqrt(4 / 3 + 2 / 2);
    expect(paired.high - paired.meanDiff).toBeGreaterThan(1.96 * se);
    expect(paired.low).toBeCloseTo(2 * paired.meanDiff - paired.high, 9);
    // the replicate runs are listed with their own labels
    const model = buildReportModel({ grids: [grid], dbPath: 'x', generatedAt: 'now', overlays: null, overlayNote: '', dataset: null, datasetNote: '' });
    expect(model.runs.map((r) => r.label)).toContain('fig3-pooling@full / 1 down-sampling layer, seed replicate 3');
    expect(measuredDscSeries(f).datasets.map((d) => d.label)).toEqual(['1 down-sampling layer (3 seeds)', '2 down-sampling layers (2 seeds)']);
    // the page says so: seeds beside the rows, the spread between seeds beside the means, the t test
    const { html } = renderReportHtml(model, '');
    expect(html).toContain('1 down-sampling layer <small>(3 seeds)</small>');
    expect(html).toMatch(/<small>± 2\.0 between seeds<\/small>/);
    expect(html).toContain(`<small>(t, ${paired.test.method === 't' ? paired.test.df.toFixed(1) : ''} df)</small>`);
  });

  it('groups cross-validation folds (ROW/foldIofK) under their row like seeds, said as folds', async () => {
    const store = openSqliteStore(join(dir, 'folds.sqlite'));
    const shifted = (points: number) => (c: number, o: number) => defaultDsc(c, o) + points / 100;
    await seedFakeGrid(store, 'fig3-pooling@smoke', [
      { key: 'pool1/fold1of2', run: 'FINISHED' },
      { key: 'pool1/fold2of2', run: 'FINISHED', dsc: shifted(2) },
      { key: 'pool2', run: 'FINISHED', dsc: shifted(-3) },
    ]);
    await store.close();
    const ro = openSqliteStore(join(dir, 'folds.sqlite'), { readonly: true });
    const grids = await collectReportData(ro, readExperimentDefs(EXPERIMENTS));
    await ro.close();
    const f = figureModel(grids.find((g) => g.def.figure === 'fig3')!);
    const pool1 = f.rows.find((r) => r.key === 'pool1')!;
    expect(pool1).toMatchObject({ runsNote: '2 folds', runIds: ['fig3-pooling-smoke-pool1-fold1of2', 'fig3-pooling-smoke-pool1-fold2of2'] });
    expect(pool1.seedSd).toBeCloseTo(Math.SQRT2, 9);
    expect(f.rows.find((r) => r.key === 'pool2')!.runsNote).toBe('');
    expect(measuredDscSeries(f).datasets.map((d) => d.label)).toEqual(['1 down-sampling layer (2 folds)', '2 down-sampling layers']);
    const { html } = renderReportHtml(buildReportModel({ grids, dbPath: 'x', generatedAt: 't', overlays: null, overlayNote: '', dataset: null, datasetNote: '' }), '');
    expect(html).toContain('1 down-sampling layer <small>(2 folds)</small>');
    expect(html).toMatch(/<small>± 1\.4 between runs<\/small>/);
    expect(html).toContain('Rows marked with folds were trained once per cross-validation fold');
    expect(html).toContain('fig3-pooling@smoke / 1 down-sampling layer, fold 2 of 2');
  });

  it('says when the rows of a figure were trained on different datasets (a folder curated again between them)', async () => {
    const store = openSqliteStore(join(dir, 'mixed.sqlite'));
    await seedFakeGrid(store, 'fig3-pooling@smoke', [{ key: 'pool1', run: 'FINISHED' }], { datasetDigest: 'a'.repeat(64) });
    await seedFakeGrid(store, 'fig3-pooling@smoke', [{ key: 'pool2', run: 'FINISHED' }], { datasetDigest: 'b'.repeat(64) });
    await store.close();
    const ro = openSqliteStore(join(dir, 'mixed.sqlite'), { readonly: true });
    const grids = await collectReportData(ro, readExperimentDefs(EXPERIMENTS));
    await ro.close();
    const f = figureModel(grids.find((g) => g.def.figure === 'fig3')!);
    expect(f.datasetDigests).toEqual(['a'.repeat(64), 'b'.repeat(64)]);
    const { html } = renderReportHtml(buildReportModel({ grids, dbPath: 'x', generatedAt: 't', overlays: null, overlayNote: '', dataset: null, datasetNote: '' }), '');
    expect(html).toContain(`The rows of this figure were trained on 2 different datasets (manifest sha256 <code>${'a'.repeat(12)}…</code>, <code>${'b'.repeat(12)}…</code>;`);
    // one dataset: nothing said
    expect(figOf('fig5').datasetDigests).toEqual(['d'.repeat(64)]);
    expect(renderReportHtml(buildReportModel({ grids: paired, dbPath: 'x', generatedAt: 't', overlays: null, overlayNote: '', dataset: null, datasetNote: '' }), '').html).not.toContain('different datasets');
  });

  it('says why there is no comparison when the reference has no results', () => {
    const f = figOf('fig4');
    expect(f.reference).toBeNull();
    expect(f.paired).toEqual([]);
    expect(f.pairedNote).toBe('The reference row SE residual, concat has no test results, so no row is compared with it.');
  });
});
