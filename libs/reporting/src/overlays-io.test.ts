import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '@anatomynet/tracking';
import { collectReportData, type GridData } from './collect';
import { datasetModel, readManifest } from './dataset';
import { parseExperimentDef } from './experiments';
import { buildOverlays, findPredictions } from './overlays-io';
import { seedFakeGrid, writeFakeDataset, writeFakePredictions, type FakeDatasetCase } from './testing';

const CASES: FakeDatasetCase[] = [
  { caseId: 'case-001', labels: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
  { caseId: 'case-002', labels: [1, 3, 6, 7] },
];
let dir: string;
let grids: GridData[];

/** Decodes an 8-bit RGB, filter-0 PNG (what encodePngRgb writes) from a data URI. */
function decodePng(uri: string): { w: number; h: number; rgb: Buffer } {
  const b = Buffer.from(uri.replace('data:image/png;base64,', ''), 'base64');
  expect(b.subarray(1, 4).toString('latin1')).toBe('PNG');
  const w = b.readUInt32BE(16), h = b.readUInt32BE(20);
  const idat: Buffer[] = [];
  for (let p = 8; p < b.length; ) {
    const len = b.readUInt32BE(p), type = b.subarray(p + 4, p + 8).toString('latin1');
    if (type === 'IDAT') idat.push(b.subarray(p + 8, p + 8 + len));
    p += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) raw.copy(rgb, y * w * 3, y * (w * 3 + 1) + 1, (y + 1) * (w * 3 + 1));
  return { w, h, rgb };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'report-overlay-'));
  writeFakeDataset(join(dir, 'DATASET'), CASES);
  writeFakePredictions(join(dir, 'runs', 'with-preds'), CASES, 2);
  const store = openSqliteStore(join(dir, 't.sqlite'));
  await seedFakeGrid(store, 'fig6-final@smoke', [
    // A relative run folder: resolved against the database's folder.
    { key: 'anatomynet', run: 'FINISHED', runDir: join('runs', 'with-preds') },
    { key: 'dice-only', run: 'FINISHED', runDir: join(dir, 'runs', 'nothing-here') },
    // a seed replicate of the same row: listed, not drawn by default
    { key: 'anatomynet#2', run: 'FINISHED', runDir: join('runs', 'with-preds') },
  ]);
  await store.close();
  const ro = openSqliteStore(join(dir, 't.sqlite'), { readonly: true });
  grids = await collectReportData(ro, [parseExperimentDef('x', { name: 'fig6-final', figure: 'fig6', rows: [{ key: 'anatomynet' }, { key: 'dice-only' }] })]);
  await ro.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('overlays from run predictions', () => {
  it('finds <runDir>/predictions/<caseId>.nii.gz by case id', () => {
    const run = [...grids[0].runs.values()].find((r) => r.run.name === 'anatomynet')!;
    expect([...findPredictions(run, dir).keys()]).toEqual(['case-001', 'case-002']);
    expect(findPredictions(run).size).toBe(0); // not found relative to the working directory alone
  });

  it('draws one overlay per organ present, GT green, prediction red, overlap yellow', () => {
    const loaded = readManifest(join(dir, 'DATASET'));
    const runs = buildOverlays(grids, { dir: join(dir, 'DATASET'), loaded }, { dbDir: dir, maxCases: 2 });
    const a = runs.find((r) => r.label.endsWith('AnatomyNet (Dice + focal)') || r.runId.endsWith('anatomynet'))!;
    expect(a.rendered).toBe(true);
    expect(a.predictionsFound).toBe(2);
    expect(a.images.map((i) => `${i.caseId}:${i.organKey}`)).toEqual([
      ...['BrainStem', 'Chiasm', 'Mandible', 'OpticNerve_L', 'OpticNerve_R', 'Parotid_L', 'Parotid_R', 'Submandibular_L', 'Submandibular_R'].map((o) => `case-001:${o}`),
      ...['BrainStem', 'Mandible', 'Parotid_L', 'Parotid_R'].map((o) => `case-002:${o}`),
    ]);
    const parotid = a.images.find((i) => i.organKey === 'Parotid_L')!;
    expect(parotid.slice).toBe(5); // the ellipsoid's centre slice
    const { w, h, rgb } = decodePng(parotid.dataUri);
    expect([w, h]).toEqual([parotid.width, parotid.height]);
    let green = 0, red = 0, yellow = 0;
    for (let p = 0; p < w * h; p++) {
      const [r, g, b] = [rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]];
      if (g > r + 40 && g > b + 40) green++;
      else if (r > g + 40 && r > b + 40) red++;
      else if (r > b + 60 && g > b + 60) yellow++;
    }
    expect(green).toBeGreaterThan(0);
    expect(red).toBeGreaterThan(0);
    expect(yellow).toBeGreaterThan(green); // shift of 2 voxels on a radius of 4: mostly overlap
    const d = runs.find((r) => r.runId.endsWith('dice-only'))!;
    expect(d.rendered).toBe(false);
    expect(d.images).toEqual([]);
    expect(d.message).toMatch(/no prediction files/);
    const replicate = runs.find((r) => r.runId.endsWith('anatomynet-2'))!;
    expect(replicate).toMatchObject({ label: 'fig6-final@smoke / anatomynet, seed replicate 2', rendered: false, predictionsFound: 2, message: 'not selected for rendering (use --overlay-run)' });
  });

  it('refuses a run id that is not among the grids\' runs, listing them', () => {
    const known = [...grids[0].runs.values()].find((r) => r.run.name === 'anatomynet')!.run.id;
    expect(() => buildOverlays(grids, null, { dbDir: dir, runIds: [known, 'nope'] })).toThrow(/^--overlay-run: nope: not a run of the report's grids \(runs: .*anatomynet/);
    expect(buildOverlays(grids, null, { dbDir: dir, runIds: [known] }).find((r) => r.runId === known)!.message).toMatch(/no --dataset/);
  });

  it('says why when no dataset is given, and never draws blank images', () => {
    const runs = buildOverlays(grids, null, { dbDir: dir });
    const a = runs.find((r) => r.runId.endsWith('anatomynet'))!;
    expect(a.images).toEqual([]);
    expect(a.message).toMatch(/no --dataset/);
  });
});

describe('datasetModel', () => {
  it('builds availability, volumes in mL, spacing groups and skipped inputs from the manifest', () => {
    const loaded = readManifest(join(dir, 'DATASET'));
    expect(loaded.digest).toMatch(/^[0-9a-f]{64}$/);
    const d = datasetModel(loaded);
    expect(d.numCases).toBe(2);
    expect(d.availability[1].cells[1]).toBe('not-annotated');
    expect(d.counts[1]).toEqual({ annotated: 1, 'not-annotated': 1, 'annotated-empty': 0 });
    expect(d.counts[0].annotated).toBe(2);
    // Brain stem ellipsoid voxels x 1 * 1.25 * 2.5 mm³ / 1000.
    const m = JSON.parse(readFileSync(join(dir, 'DATASET', 'manifest.json'), 'utf8'));
    expect(d.volumesMl[0].values).toEqual([m.cases[0].voxels.BrainStem * 0.003125, m.cases[1].voxels.BrainStem * 0.003125]);
    expect(d.volumesMl[1].values).toHaveLength(1);
    expect(d.spacing.groups).toEqual([{ spacing: '0.9 x 0.9 x 3', cases: 1 }, { spacing: '1 x 1.25 x 2.5', cases: 1 }]);
    expect(d.skipped).toEqual([
      { where: 'input input-7 (file)', item: 'input-7', reason: 'not DICOM' },
      { where: 'case case-001', item: 'ROI "Lens_L"', reason: 'not one of the nine organs' },
    ]);
  });

  it('refuses a folder without a manifest, naming the file', () => {
    expect(() => readManifest(join(dir, 'nope'))).toThrow(/nope\/manifest\.json: cannot read/);
  });
});
