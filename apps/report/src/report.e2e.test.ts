/**
 * End to end: a fake tracking database and dataset -> `report` CLI -> index.html, opened in headless
 * Chromium (Debian's /usr/bin/chromium through playwright-core). Checks every chart rendered with the
 * expected datasets and bars, no console errors, no network request, and saves screenshots.
 * Set REPORT_SCREENSHOTS=DIR to keep the screenshots.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '@anatomynet/tracking';
import { defaultDsc, seedFakeGrid, writeFakeDataset, writeFakePredictions, type FakeDatasetCase } from '@anatomynet/reporting/testing';
import { main } from './main';

const CHROMIUM = '/usr/bin/chromium';
const CASES: FakeDatasetCase[] = [
  { caseId: 'case-001', labels: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
  { caseId: 'case-002', labels: [1, 3, 4, 5, 6, 7, 8, 9] },
  { caseId: 'case-003', labels: [1, 2, 3, 6, 7] },
];
const CASE_IDS = CASES.map((c) => c.caseId);
let dir: string;
let out: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'report-e2e-'));
  out = join(dir, 'out');
  writeFakeDataset(join(dir, 'DATASET'), CASES);
  writeFakePredictions(join(dir, 'runs', 'fig6-anatomynet'), CASES, 2);
  const store = openSqliteStore(join(dir, 'tracking.sqlite'));
  await seedFakeGrid(store, 'fig3-pooling@smoke', [
    { key: 'pool1', run: 'FINISHED' },
    { key: 'pool2', run: 'FINISHED', dsc: (c, o) => (o === 1 ? NaN : defaultDsc(c, o) - 0.03), hd95Mm: (c) => (c === 0 ? Infinity : 4) },
    { key: 'pool3', run: 'FAILED', error: 'non-finite loss at step 3' },
  ], { cases: CASE_IDS });
  await seedFakeGrid(store, 'fig6-final@full', [
    { key: 'anatomynet', run: 'FINISHED', runDir: join(dir, 'runs', 'fig6-anatomynet'), dsc: (c, o) => 0.6 + 0.03 * o + 0.02 * c },
    { key: 'dice-only', run: 'none' },
  ], { cases: CASE_IDS });
  await store.close();
  await main(['--db', join(dir, 'tracking.sqlite'), '--dataset', join(dir, 'DATASET'), '--out', out, '--now', '2026-01-01T00:00:00Z'], { quiet: true });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('report CLI', () => {
  it('writes the numbers as CSV beside the page: per figure, row and organ; and each row against its reference', () => {
    const results = readFileSync(join(out, 'results.csv'), 'utf8').split('\r\n');
    expect(results[0]).toBe('figure,grid,row,label,run_ids,organ,n,dsc_mean,dsc_sd,hd95_mean_mm,hd95_sd_mm,hd95_infinite,surface_dice_mean,surface_dice_sd,msd_mean_mm,dsc_seed_sd,contours_checked,contours_flagged');
    // pool1's brainstem: 50, 52 and 54 % on the three cases (results from before the contour checks: empty)
    expect(results).toContain('fig3,fig3-pooling@smoke,pool1,1 down-sampling layer,fig3-pooling-smoke-pool1,BrainStem,3,52,2,3,1,0,57,2,1,,,');
    // pool2 has no chiasm line; its HD95 is infinite on case 1, kept out of the mean and counted
    expect(results.some((l) => l.startsWith('fig3,fig3-pooling@smoke,pool2,') && l.includes(',Chiasm,'))).toBe(false);
    expect(results).toContain('fig3,fig3-pooling@smoke,pool2,2 down-sampling layers,fig3-pooling-smoke-pool2,BrainStem,3,49,2,4,0,1,54,2,1,,,');
    const paired = readFileSync(join(out, 'paired.csv'), 'utf8');
    expect(paired).toBe(
      'figure,grid,reference,row,label,runs,reference_runs,cases,dsc_diff_mean_pp,dsc_diff_low_pp,dsc_diff_high_pp,p,test,df,p_holm\r\n' +
        'fig3,fig3-pooling@smoke,pool1,pool2,2 down-sampling layers,1,1,3,-3,-3,-3,0.25,wilcoxon-exact,,0.25\r\n',
    );
  });


  it('prints help', async () => {
    let text = '';
    await main(['--help'], { output: (t) => (text += t) });
    expect(text).toMatch(/--db/);
    expect(text).toMatch(/--dataset/);
    expect(text).toMatch(/--overlay-run/);
  });

  it('names the file when the database or the dataset is missing, and writes nothing', async () => {
    const bad = join(dir, 'bad-out');
    await expect(main(['--db', join(dir, 'absent.sqlite'), '--out', bad], { quiet: true })).rejects.toThrow(/absent\.sqlite/);
    await expect(main(['--db', join(dir, 'tracking.sqlite'), '--dataset', join(dir, 'no-dataset'), '--out', bad], { quiet: true })).rejects.toThrow(/no-dataset\/manifest\.json: cannot read/);
    expect(existsSync(join(bad, 'index.html'))).toBe(false);
    // an --out that is a file: named, before any work
    writeFileSync(join(dir, 'a-file'), 'mine');
    await expect(main(['--db', join(dir, 'tracking.sqlite'), '--out', join(dir, 'a-file')], { quiet: true })).rejects.toThrow(`${join(dir, 'a-file')}: a file is there; give the report a folder`);
    expect(readFileSync(join(dir, 'a-file'), 'utf8')).toBe('mine');
    // options out of range: refused (and, called with `output`, thrown), nothing written
    for (const [flag, value, message] of [['--overlay-cases', '-1', 'give a whole number of cases'], ['--now', 'yesterday', 'give an ISO time']]) {
      let text = '';
      await expect(main(['--db', join(dir, 'tracking.sqlite'), '--out', bad, flag, value], { quiet: true, output: (t) => (text += t) })).rejects.toThrow(`${flag} ${value}: ${message}`);
      expect(text).toContain(`${flag} ${value}: ${message}`);
    }
    expect(existsSync(join(bad, 'index.html'))).toBe(false);
  });

  it('writes the same bytes again for the same inputs and --now', async () => {
    const again = join(dir, 'again');
    await main(['--db', join(dir, 'tracking.sqlite'), '--dataset', join(dir, 'DATASET'), '--out', again, '--now', '2026-01-01T00:00:00Z'], { quiet: true });
    expect(readFileSync(join(again, 'index.html')).equals(readFileSync(join(out, 'index.html')))).toBe(true);
  });

  it('writes one self-contained page: Chart.js inlined, images as data URIs, nothing fetched', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('Chart.js v4.6.1');
    expect(html).not.toMatch(/\s(src|href)=["']https?:/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).toMatch(/<img src="data:image\/png;base64,/);
    // Missing cells are named; the published numbers are labelled as such.
    expect(html).toContain('run fig3-pooling-smoke-pool3 is FAILED: non-finite loss at step 3');
    expect(html).toContain('no cell &quot;pool4&quot; in grid fig3-pooling@smoke');
    expect(html).toContain('grid table1-datasets is not in the database under any profile');
    expect(html).toContain('AnatomyNet (paper) [published]');
    expect(html).toContain('2026-01-01T00:00:00Z');
    // Each row against the figure's reference, case by case: pool2 is 3 points below pool1 on every case.
    expect(html).toContain('<h4>Against the reference 1 down-sampling layer, case by case');
    expect(html).toContain('<tr><td>2 down-sampling layers</td><td>3</td><td><b>-3.0</b></td><td>-3.0 to -3.0</td><td>0.250</td></tr>');
    expect(html).toContain('With 3 test cases no difference can reach a two-sided p below 0.250.');
  });
});

if (!existsSync(CHROMIUM)) console.warn(`report e2e: SKIPPED the headless Chromium test: ${CHROMIUM} is absent (Debian package chromium; CI installs it)`);

describe.skipIf(!existsSync(CHROMIUM))(`report in headless Chromium (${CHROMIUM})`, () => {
  it('renders every chart with the expected datasets and bars, without errors or network', async () => {
    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'report-chromium-'));
    const shots = process.env.REPORT_SCREENSHOTS ?? join(dir, 'screenshots');
    mkdirSync(shots, { recursive: true });
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1360, height: 1000 },
    });
    try {
      const page = await ctx.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(e.message));
      const url = `file://${join(out, 'index.html')}`;
      page.on('request', (r) => { if (r.url() !== url && !r.url().startsWith('data:')) requests.push(r.url()); });
      await page.goto(url, { waitUntil: 'load' });
      const charts = await page.evaluate(() => {
        const C = (globalThis as any).Chart;
        return Object.values(C.instances as Record<string, any>).map((c: any) => ({
          id: c.canvas.id as string,
          type: c.config.type as string,
          labels: c.data.datasets.map((d: any) => d.label as string),
          elements: c.data.datasets.map((_: unknown, i: number) => c.getDatasetMeta(i).data.length as number),
          // Bars with a value must have been laid out with a positive height; null values draw nothing.
          badBars: c.config.type === 'bar' ? c.data.datasets.flatMap((d: any, i: number) => c.getDatasetMeta(i).data.filter((el: any, j: number) => d.data[j] !== null && !(el.height > 0)).map(() => `${d.label}`)) : [],
        }));
      });
      const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
      expect(byId['chart-fig3-fig3-pooling-measured']).toMatchObject({ type: 'bar', labels: ['1 down-sampling layer', '2 down-sampling layers'], elements: [10, 10], badBars: [] });
      expect(byId['chart-fig6-fig6-final-measured']).toMatchObject({ type: 'bar', labels: ['AnatomyNet (Dice + focal)'], elements: [10], badBars: [] });
      expect(byId['chart-fig6-fig6-final-published'].labels).toHaveLength(6);
      expect(byId['chart-fig6-fig6-final-published'].elements).toEqual([10, 10, 10, 10, 10, 10]);
      expect(byId['chart-fig6-fig6-final-published'].labels.every((l: string) => l.endsWith('[published]'))).toBe(true);
      expect(byId['chart-dataset-volumes']).toMatchObject({ type: 'scatter', elements: [3, 2, 3, 2, 2, 3, 3, 2, 2] });
      expect(byId['chart-dataset-spacing']).toMatchObject({ type: 'scatter', elements: [3] });
      const curves = charts.filter((c) => c.id.startsWith('chart-curve-'));
      expect(curves).toHaveLength(4); // pool1, pool2, pool3 (failed, still logged), anatomynet
      expect(curves.every((c) => c.elements[0] === 20 && c.elements[1] === 20)).toBe(true);
      // Table I has no measured run but its published numbers are still drawn (2 series).
      expect(byId['chart-table1-table1-datasets-published'].elements).toEqual([10, 10]);
      // No other chart: fig4, fig5 and table1 have no measured data; fig3/fig5 publish means only (tables).
      expect(charts).toHaveLength(4 + 6);
      const canvases = await page.$$eval('canvas', (cs) => cs.map((c) => c.id));
      expect(canvases.sort()).toEqual(charts.map((c) => c.id).sort());
      expect(await page.$$eval('img', (is) => is.map((i) => (i as any).naturalWidth > 0))).toEqual(Array(9 + 8).fill(true)); // 2 cases drawn by default: 9 + 8 organs
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      await page.screenshot({ path: join(shots, 'report-full.png'), fullPage: true });
      for (const id of ['fig3-fig3-pooling', 'fig6-fig6-final', 'overlays', 'dataset']) {
        await page.locator(`#${id}`).screenshot({ path: join(shots, `${id}.png`) });
      }
      expect(existsSync(join(shots, 'report-full.png'))).toBe(true);
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
