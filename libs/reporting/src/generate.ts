/**
 * The report from files to files: tracking database (read-only) + experiment definitions + optional
 * dataset folder -> `<out>/index.html`, with the numbers as `results.csv` and `paired.csv`; each file
 * written to a temp file then renamed.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { openSqliteStore } from '@anatomynet/tracking';
import { collectReportData } from './collect';
import { pairedCsv, resultsCsv } from './csv';
import { datasetModel, readManifest, type LoadedManifest } from './dataset';
import { readExperimentDefs, ReportInputError } from './experiments';
import { buildReportModel, type ReportModel } from './model';
import { buildOverlays } from './overlays-io';
import { renderReportHtml, type ChartSpec } from './render';

export interface GenerateOptions {
  dbPath: string;
  outDir: string;
  /** experiments/ folder with the grid definitions. */
  experimentsDir: string;
  datasetDir?: string;
  /** Runs to draw overlays for (default: the fig6 runs, else the first finished run). */
  overlayRuns?: string[];
  /** Test cases per overlay run (default 2). */
  overlayCases?: number;
  /** ISO time written in the footer (default now). */
  now?: string;
  onStage?: (stage: string) => void;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface GenerateResult {
  htmlPath: string;
  bytes: number;
  model: ReportModel;
  charts: ChartSpec[];
}

/** Source of the Chart.js UMD bundle (the version pinned in package.json), for inlining. */
export function chartJsSource(): string {
  const req = createRequire(import.meta.url);
  return readFileSync(join(dirname(req.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
}

export async function generateReport(o: GenerateOptions): Promise<GenerateResult> {
  if (existsSync(o.outDir) && !statSync(o.outDir).isDirectory()) throw new ReportInputError(o.outDir, 'a file is there; give the report a folder');
  const defs = readExperimentDefs(o.experimentsDir);
  o.onStage?.('reading the tracking database');
  const store = openSqliteStore(o.dbPath, { readonly: true });
  let grids;
  try {
    grids = await collectReportData(store, defs, { onProgress: (d, t) => o.onProgress?.('grids', d, t) });
  } finally {
    await store.close();
  }
  let loaded: LoadedManifest | null = null;
  let datasetNote = 'No --dataset folder was given: the dataset section needs DATASET/manifest.json.';
  if (o.datasetDir) {
    o.onStage?.('reading the dataset manifest');
    loaded = readManifest(o.datasetDir);
    datasetNote = '';
  }
  o.onStage?.('drawing overlays');
  const overlays = buildOverlays(grids, loaded && o.datasetDir ? { dir: o.datasetDir, loaded } : null, {
    runIds: o.overlayRuns?.length ? o.overlayRuns : undefined,
    maxCases: o.overlayCases,
    dbDir: dirname(resolve(o.dbPath)),
    onProgress: (d, t) => o.onProgress?.('overlays', d, t),
  });
  const overlayNote = o.datasetDir
    ? 'Predictions are read from <runDir>/predictions/<caseId>.nii.gz (or prediction artifacts), CT and ground truth from the dataset folder.'
    : 'No --dataset folder was given: overlays need the CT and ground truth. Prediction files found per run are still listed.';
  const model = buildReportModel({
    grids, dbPath: o.dbPath, generatedAt: o.now ?? new Date().toISOString(),
    overlays, overlayNote, dataset: loaded ? datasetModel(loaded) : null, datasetNote,
  });
  o.onStage?.('writing HTML');
  const { html, charts } = renderReportHtml(model, chartJsSource());
  mkdirSync(o.outDir, { recursive: true });
  const write = (name: string, text: string) => {
    const path = join(o.outDir, name);
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, path);
    return path;
  };
  write('results.csv', resultsCsv(model));
  write('paired.csv', pairedCsv(model));
  const htmlPath = write('index.html', html);
  return { htmlPath, bytes: Buffer.byteLength(html), model, charts };
}
