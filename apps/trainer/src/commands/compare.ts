import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { fewIds } from '../common';
import { ORGANS } from '@anatomynet/curation';
import { compareMeasurements, csvNumber, parseCsv, type CaseOrganScore } from '@anatomynet/reporting';

interface CompareArgs {
  baseline: string;
  candidate: string;
}

interface Measurement {
  dir: string;
  summary: { model: string | string[]; dataset: string; manifestDigest: string; split: string; seen?: { caseId: string }[]; excludedSeen?: boolean; annotationFindings?: { caseId: string }[] | null; mirror?: boolean };
  scores: CaseOrganScore[];
  /** The case of each predicted contour the annotation checks flag (a row of metrics.csv with a contour_finding); absent in measurements from before the checks. */
  contourFlaggedCases?: string[];
}

/** An `evaluate --out` folder: its summary.json and metrics.csv. */
function readMeasurement(dir: string): Measurement {
  const files = { summary: join(dir, 'summary.json'), metrics: join(dir, 'metrics.csv') };
  for (const f of Object.values(files)) if (!existsSync(f)) throw new Error(`${f}: missing; give a folder written by \`trainer evaluate --out\``);
  let summary: Measurement['summary'];
  try {
    summary = JSON.parse(readFileSync(files.summary, 'utf8'));
  } catch (e) {
    throw new Error(`${files.summary}: not JSON (${(e as Error).message}); give a folder written by \`trainer evaluate --out\``);
  }
  if (typeof summary?.manifestDigest !== 'string') throw new Error(`${files.summary}: no manifestDigest; give a folder written by \`trainer evaluate --out\``);
  let rows: string[][];
  try {
    rows = parseCsv(readFileSync(files.metrics, 'utf8'));
  } catch (e) {
    throw new Error(`${files.metrics}: ${(e as Error).message}; give a folder written by \`trainer evaluate --out\``);
  }
  if (!rows.length) throw new Error(`${files.metrics}: empty; give a folder written by \`trainer evaluate --out\``);
  const [columns, ...lines] = rows;
  const at = (name: string) => {
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`${files.metrics}: no column ${name} (columns: ${columns.join(', ')})`);
    return i;
  };
  const [caseId, organ, dsc, hd95] = [at('case_id'), at('organ'), at('dsc'), at('hd95_mm')];
  const scores = lines.map((f) => ({ caseId: f[caseId], organ: f[organ], dsc: csvNumber(f[dsc]), hd95Mm: csvNumber(f[hd95]) }));
  const finding = columns.indexOf('contour_finding');
  if (finding < 0) return { dir, summary, scores };
  return { dir, summary, scores, contourFlaggedCases: lines.filter((f) => f[finding]).map((f) => f[caseId]) };
}

const fixed = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');
const signed = (v: number, d = 1) => (Number.isFinite(v) ? `${v > 0 ? '+' : ''}${v.toFixed(d)}` : '-');

export const compareCommand: CommandModule<object, CompareArgs> = {
  command: 'compare <baseline> <candidate>',
  describe: 'Compare two models measured on the same dataset (two `evaluate --out` folders), case by case: per organ and overall, the DSC difference with a bootstrap interval and the Wilcoxon test',
  builder: (y) =>
    y
      .positional('baseline', { type: 'string', demandOption: true, describe: 'evaluate --out folder of the model to compare with' })
      .positional('candidate', { type: 'string', demandOption: true, describe: 'evaluate --out folder of the model compared' }) as any,
  handler: (a) => {
    const [base, cand] = [readMeasurement(a.baseline), readMeasurement(a.candidate)];
    if (base.summary.manifestDigest !== cand.summary.manifestDigest) {
      throw new Error(`${a.baseline} and ${a.candidate} measured different datasets (manifest digests ${base.summary.manifestDigest.slice(0, 12)} and ${cand.summary.manifestDigest.slice(0, 12)}): evaluate both models on the same curated dataset`);
    }
    if (base.summary.split !== cand.summary.split) console.error(`warning: splits differ (${base.summary.split}, ${cand.summary.split}); only the cases both measured are compared`);
    for (const m of [base, cand]) {
      const seen = m.summary.excludedSeen ? [] : (m.summary.seen ?? []);
      if (seen.length) console.error(`warning: ${m.dir} measured ${seen.length} case(s) its model trained on or was selected by (${fewIds(seen.map((c) => c.caseId))}): evaluate with --exclude-seen for a test of both`);
    }
    // the same dataset: a flagged case's ground truth is as doubtful for both models
    const flagged = [...new Set([base, cand].flatMap((m) => (m.summary.annotationFindings ?? []).map((f) => f.caseId)))].sort();
    if (flagged.length) console.error(`note: the curator's annotation checks flagged ${flagged.length} measured case(s) (${fewIds(flagged)}): their ground truth may be wrong for both models`);
    const rows = compareMeasurements(base.scores, cand.scores, ORGANS.map((o) => o.key));
    const cases = rows.at(-1)!.cases;
    const mirrored = (m: Measurement) => (m.summary.mirror ? ' (test-time mirroring)' : '');
    console.error(`candidate ${a.candidate}${mirrored(cand)} against baseline ${a.baseline}${mirrored(base)}: ${cases} cases of ${base.summary.dataset} both measured`);
    console.error('organ             cases  baseline  candidate  Δ DSC (pp)  95% interval      Wilcoxon p  Holm p  Δ HD95 (mm)');
    const pText = (p: number) => (Number.isNaN(p) ? '-' : p < 0.001 ? '< 0.001' : p.toFixed(3));
    for (const r of rows) {
      const p = r.test.method === 'none' ? '-' : pText(r.test.p);
      console.error(
        `${r.organ.padEnd(16)} ${String(r.cases).padStart(6)}  ${fixed(r.baseline).padStart(8)}  ${fixed(r.candidate).padStart(9)}  ${signed(r.diff).padStart(10)}  ${`${fixed(r.low)} to ${fixed(r.high)}`.padEnd(16)}  ${p.padStart(10)}  ${(r.organ === 'all' ? '' : pText(r.pHolm)).padStart(6)}  ${signed(r.hd95DiffMm).padStart(11)}`,
      );
    }
    // the model's own contours the annotation checks flag, over the cases both measured
    const candidateCases = new Set(cand.scores.map((y) => y.caseId));
    const both = new Set(base.scores.map((x) => x.caseId).filter((id) => candidateCases.has(id)));
    const flaggedIn = (m: Measurement) => m.contourFlaggedCases?.filter((id) => both.has(id)).length;
    const contoursFlagged = { baseline: flaggedIn(base), candidate: flaggedIn(cand) };
    if (contoursFlagged.baseline !== undefined && contoursFlagged.candidate !== undefined) {
      console.error(`contours the annotation checks flag (sides, stray pieces, CT numbers, volumes; metrics.csv contour_finding): baseline ${contoursFlagged.baseline}, candidate ${contoursFlagged.candidate}`);
    }
    console.error("Holm p: an organ's p adjusted for the organs tested (Holm's step-down), so that a chance difference in one of nine does not pass for a finding");
    if (cases >= 1 && cases <= 50) console.error(`with ${cases} cases no difference can reach a two-sided p below ${(2 / 2 ** cases).toPrecision(2)}`);
    console.log(JSON.stringify({ baseline: { dir: a.baseline, model: base.summary.model, mirror: Boolean(base.summary.mirror) }, candidate: { dir: a.candidate, model: cand.summary.model, mirror: Boolean(cand.summary.mirror) }, dataset: base.summary.dataset, rows, ...(contoursFlagged.baseline !== undefined && contoursFlagged.candidate !== undefined ? { contoursFlagged } : {}) }));
  },
};
