/**
 * Qualitative overlays like the paper's Fig. 7, from files: the trainer's predictions of a FINISHED run
 * (`<runDir>/predictions/<caseId>.nii.gz`, a uint8 label map on the case's published grid, or an
 * artifact of kind `prediction` naming such a file) over the dataset's CT and ground truth. Per organ,
 * the axial slice of largest ground-truth area; GT green, prediction red, overlap yellow; PNG data URIs.
 * Only organs annotated in the case are drawn (as in the evaluation).
 * A run without prediction files is reported as such: never a blank image.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { parseReplicateKey } from '@anatomynet/tracking';
import { cellLabel, type GridData, type RunData } from './collect';
import type { LoadedManifest } from './dataset';
import { pngDataUri, renderOverlay, toRadiologicalView } from '@anatomynet/imaging';
import { readNiftiPreview } from './nifti-preview';
import { REPORT_ORGANS } from './organs';
import { ReportInputError } from './experiments';

export interface OverlayImage {
  caseId: string;
  organKey: string;
  organ: string;
  /** `data:image/png;base64,...` */
  dataUri: string;
  width: number;
  height: number;
  /** Axial slice index (k) shown. */
  slice: number;
  truthPixels: number;
  predictionPixels: number;
}

export interface OverlayRun {
  runId: string;
  /** `grid / row label`. */
  label: string;
  runStatus: string;
  predictionsFound: number;
  rendered: boolean;
  /** Why nothing (or not everything) is shown. */
  message: string;
  images: OverlayImage[];
}

export interface OverlayOptions {
  /** Run ids to render; by default the FINISHED runs of the fig6 grid, else the first FINISHED run. */
  runIds?: string[];
  /** Test cases rendered per run (sorted by id), default 2. */
  maxCases?: number;
  /** Folder of the tracking database: relative run folders are tried against it after the working directory. */
  dbDir?: string;
  onProgress?: (done: number, total: number) => void;
}

const isFirstCell = (key: string) => {
  const p = parseReplicateKey(key);
  return p.replicate === 1 && (p.fold?.index ?? 1) === 1;
};

/** Prediction files of one run by case id: the run folder's predictions/ first, then `prediction` artifacts. */
export function findPredictions(data: RunData, dbDir?: string): Map<string, string> {
  const out = new Map<string, string>();
  const candidates = (p: string) => (isAbsolute(p) ? [p] : [resolve(p), ...(dbDir ? [resolve(dbDir, p)] : [])]);
  if (data.run.runDir) {
    for (const dir of candidates(join(data.run.runDir, 'predictions'))) {
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir).sort()) if (f.endsWith('.nii.gz')) out.set(f.slice(0, -'.nii.gz'.length), join(dir, f));
      break;
    }
  }
  for (const a of data.predictionArtifacts) {
    const file = candidates(a).find((p) => existsSync(p));
    const caseId = basename(a).replace(/\.nii(\.gz)?$/, '');
    if (file && !out.has(caseId)) out.set(caseId, file);
  }
  return out;
}

/** Renders the selected runs' overlays; every run of the shown grids is listed with its prediction count. */
export function buildOverlays(grids: readonly GridData[], dataset: { dir: string; loaded: LoadedManifest } | null, opts: OverlayOptions = {}): OverlayRun[] {
  // first: a row's own cell (neither a later seed replicate nor a fold after the first)
  const entries: { data: RunData; label: string; first: boolean }[] = [];
  for (const g of grids)
    for (const c of g.cells) {
      const data = c.runId ? g.runs.get(c.runId) : undefined;
      if (data && !entries.some((e) => e.data.run.id === data.run.id)) entries.push({ data, label: cellLabel(g, c.key), first: isFirstCell(c.key) });
    }
  const unknown = opts.runIds?.filter((id) => !entries.some((e) => e.data.run.id === id)) ?? [];
  if (unknown.length) {
    throw new ReportInputError('--overlay-run', `${unknown.join(', ')}: not a run of the report's grids (runs: ${entries.map((e) => `${e.data.run.id} ${e.label}`).join('; ') || 'none'})`);
  }
  const finished = entries.filter((e) => e.data.run.status === 'FINISHED');
  const selected = new Set(
    opts.runIds ??
      (() => {
        const fig6 = grids.find((g) => g.def.figure === 'fig6');
        // the rows' own runs: a seed replicate or another fold looks like its row and would only add images
        const ids = finished.filter((e) => e.first && fig6 && [...fig6.runs.keys()].includes(e.data.run.id)).map((e) => e.data.run.id);
        return ids.length ? ids : finished.slice(0, 1).map((e) => e.data.run.id);
      })(),
  );
  const maxCases = opts.maxCases ?? 2;
  const out: OverlayRun[] = [];
  let done = 0;
  for (const { data, label } of entries) {
    const preds = findPredictions(data, opts.dbDir);
    const base = { runId: data.run.id, label, runStatus: data.run.status, predictionsFound: preds.size, images: [] as OverlayImage[] };
    if (!selected.has(data.run.id)) {
      out.push({ ...base, rendered: false, message: preds.size ? 'not selected for rendering (use --overlay-run)' : 'no prediction files' });
      continue;
    }
    if (data.run.status !== 'FINISHED') out.push({ ...base, rendered: false, message: `run is ${data.run.status}: no predictions are written for it` });
    else if (!preds.size) out.push({ ...base, rendered: false, message: `no prediction files (looked for ${data.run.runDir ? join(data.run.runDir, 'predictions', '<caseId>.nii.gz') : 'a run folder, which the run does not name'} and prediction artifacts)` });
    else if (!dataset) out.push({ ...base, rendered: false, message: `${preds.size} prediction files, but no --dataset was given to read the CT and ground truth from` });
    else out.push(renderRun(base, preds, dataset, maxCases));
    opts.onProgress?.(++done, selected.size);
  }
  return out;
}

function renderRun(base: Omit<OverlayRun, 'rendered' | 'message'>, preds: Map<string, string>, dataset: { dir: string; loaded: LoadedManifest }, maxCases: number): OverlayRun {
  const problems: string[] = [];
  const images: OverlayImage[] = [];
  const caseIds = [...preds.keys()].sort().slice(0, maxCases);
  for (const caseId of caseIds) {
    const rec = dataset.loaded.manifest.cases.find((c) => c.caseId === caseId);
    if (!rec) { problems.push(`${caseId}: not in the dataset manifest`); continue; }
    try {
      const ct = readNiftiPreview(join(dataset.dir, rec.image));
      const gt = readNiftiPreview(join(dataset.dir, rec.label));
      const pr = readNiftiPreview(preds.get(caseId)!);
      if (ct.shape.join() !== gt.shape.join() || ct.shape.join() !== pr.shape.join()) {
        problems.push(`${caseId}: prediction ${pr.shape.join('x')} is not on the case's grid ${ct.shape.join('x')}`);
        continue;
      }
      const view = toRadiologicalView(ct.shape, ct.direction, [ct.data, gt.data, pr.data]);
      const [c, t, p] = view.volumes;
      // Only organs annotated in the case, as in the evaluation: elsewhere a prediction has no truth to be judged against.
      for (const o of REPORT_ORGANS.filter((x) => rec.availability?.[x.key] === 'annotated')) {
        const ov = renderOverlay({ ct: c, truth: t, prediction: p, shape: ct.shape, spacingMm: ct.spacingMm, label: o.label, sizePx: 200 });
        if (!ov) continue; // neither truth nor prediction has this organ: nothing to judge
        images.push({ caseId, organKey: o.key, organ: o.short, dataUri: pngDataUri(ov.rgb, ov.width, ov.height), width: ov.width, height: ov.height, slice: ov.slice, truthPixels: ov.truthPixels, predictionPixels: ov.predictionPixels });
      }
      if (!view.oriented) problems.push(`${caseId}: oblique or permuted axes, shown in index order`);
    } catch (e) {
      problems.push(`${caseId}: ${(e as Error).message}`);
    }
  }
  const shown = `${caseIds.length} of ${preds.size} predicted test cases shown, organs annotated in each case only`;
  return { ...base, images, rendered: images.length > 0, message: problems.length ? `${shown}; ${problems.join('; ')}` : shown };
}
