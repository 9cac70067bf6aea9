/**
 * `curator synth`: writes a synthetic head-and-neck cohort (DICOM CT + RTSTRUCT or SEG, and PDDCA NRRD
 * folders) with `synth-truth.json`. Cases can run in child processes (`--workers`); this same file is
 * the child's entry point when started with ANATOMYNET_SYNTH_WORKER=1.
 */
import { createProcessPool } from '../pool';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv, CommandModule } from 'yargs';
import { SYNTH_TRUTH_FILE, writeSynthCase, writeSynthCohort, type CaseTruth, type SynthCaseTask, type SynthTruth } from '@anatomynet/curation';
import { createProgressBar } from '@anatomynet/cli';

export interface SynthArgs {
  out: string;
  cases: number;
  seed: string;
  pddcaFraction: number;
  ffsFraction: number;
  size: 'small' | 'full';
  matrix?: number;
  sliceMm?: number;
  annotationErrors?: number;
  segCases?: number;
  enhancedCases?: number;
  overwrite: boolean;
  workers: number;
  quiet: boolean;
}

const WORKER_ENV = 'ANATOMYNET_SYNTH_WORKER';

export const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'Write a synthetic head-and-neck cohort (DICOM CT + RTSTRUCT or SEG, and PDDCA NRRD) with ground truth in synth-truth.json',
  builder: (y: Argv) =>
    y
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'output folder (created; must be empty or a previous cohort with --overwrite)' })
      .option('cases', { alias: 'n', type: 'number', default: 12, describe: 'number of cases' })
      .option('seed', { alias: 's', type: 'string', default: '1', describe: 'seed: the same seed and options give the same bytes' })
      .option('pddca-fraction', { type: 'number', default: 0.25, describe: 'fraction of cases written as PDDCA folders (img.nrrd + structures/*.nrrd)' })
      .option('ffs-fraction', { type: 'number', default: 0.15, describe: 'fraction of DICOM cases scanned feet first (FFS)' })
      .option('size', { type: 'string', choices: ['small', 'full'] as const, default: 'small' as const, describe: 'small: matrix 208-288 at 0.69-1.0 mm, quick; full: 512x512 at 0.53-1.0 mm (benchmarks)' })
      .option('matrix', { type: 'number', describe: 'force this in-plane matrix (columns = rows)' })
      .option('slice-mm', { type: 'number', describe: 'force this slice spacing (mm)' })
      .option('annotation-errors', { type: 'number', describe: 'plant an annotation error in this many DICOM cases (swapped sides, a stray contour, the mandible moved off the bone, the structure set shifted off its scan, a slice left out of an organ, in turn), named in synth-truth.json: to try the curator\'s annotation checks' })
      .option('seg-cases', { type: 'number', describe: 'write this many DICOM cases\' annotations as a DICOM SEG instead of an RTSTRUCT (chosen by the seed; point ROIs left out), named in synth-truth.json' })
      .option('enhanced-cases', { type: 'number', describe: 'write this many DICOM cases\' CT as one Enhanced CT image (multi-frame, frames shuffled) instead of a file per slice (chosen by the seed), named in synth-truth.json' })
      .option('overwrite', { alias: 'f', type: 'boolean', default: false, describe: 'replace a previous synthetic cohort in --out' })
      .option('workers', { alias: 'j', type: 'number', default: Math.max(1, Math.min(availableParallelism(), 2)), describe: 'cases generated in parallel (child processes)' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress bar' })
      .check((raw) => {
        validateSynthArgs(raw as unknown as SynthArgs);
        return true;
      })
      .example('$0 synth --out data/raw-synth --cases 12 --seed 1', 'a small cohort for the demo and tests')
      .example('$0 synth --out /tmp/bench --cases 4 --size full', 'four 512x512 cases for benchmarks')
      .example('$0 synth --out /tmp/qa --cases 12 --annotation-errors 3', 'three cases with errors for `curator curate` to find')
      .example('$0 synth --out /tmp/seg --cases 6 --seg-cases 3', 'three cases annotated by DICOM SEG, three by RTSTRUCT')
      .example('$0 synth --out /tmp/enh --cases 6 --enhanced-cases 2', 'two cases whose CT is one Enhanced CT file')
      .strict() as unknown as Argv<SynthArgs>,
  handler: async (args) => {
    const truth = await runSynth(args);
    process.stderr.write(summarise(truth, args.out) + '\n');
  },
};

/** Throws an Error naming the first bad option. */
export function validateSynthArgs(a: SynthArgs): void {
  if (!Number.isInteger(a.cases) || a.cases < 1) throw new Error('--cases must be a positive integer');
  if (!(a.pddcaFraction >= 0 && a.pddcaFraction <= 1)) throw new Error('--pddca-fraction must be in [0, 1]');
  if (!(a.ffsFraction >= 0 && a.ffsFraction <= 1)) throw new Error('--ffs-fraction must be in [0, 1]');
  if (a.matrix !== undefined && !(Number.isInteger(a.matrix) && a.matrix >= 32 && a.matrix <= 1024)) throw new Error('--matrix must be an integer in [32, 1024]');
  if (a.sliceMm !== undefined && !(a.sliceMm > 0.3 && a.sliceMm <= 10)) throw new Error('--slice-mm must be in (0.3, 10]');
  if (!Number.isInteger(a.workers) || a.workers < 1) throw new Error('--workers must be a positive integer');
  if (a.annotationErrors !== undefined && !(Number.isInteger(a.annotationErrors) && a.annotationErrors >= 0)) throw new Error('--annotation-errors must be a whole number of cases');
  if (a.segCases !== undefined && !(Number.isInteger(a.segCases) && a.segCases >= 0)) throw new Error('--seg-cases must be a whole number of cases');
  if (a.enhancedCases !== undefined && !(Number.isInteger(a.enhancedCases) && a.enhancedCases >= 0)) throw new Error('--enhanced-cases must be a whole number of cases');
}

/** Runs the command (also for tests): generates the cohort, drawing a progress bar unless quiet. */
export async function runSynth(args: SynthArgs): Promise<SynthTruth> {
  validateSynthArgs(args);
  const bar = args.quiet ? null : createProgressBar('synth');
  const pool = args.workers > 1 ? createSynthPool(Math.min(args.workers, args.cases)) : null;
  const seed = /^-?\d+$/.test(args.seed) ? Number(args.seed) : args.seed;
  try {
    const truth = await writeSynthCohort({
      outDir: args.out,
      cases: args.cases,
      seed,
      pddcaFraction: args.pddcaFraction,
      ffsFraction: args.ffsFraction,
      size: args.size,
      ...(args.matrix ? { matrix: args.matrix } : {}),
      ...(args.sliceMm ? { sliceMm: args.sliceMm } : {}),
      ...(args.annotationErrors ? { annotationErrors: args.annotationErrors } : {}),
      ...(args.segCases ? { segCases: args.segCases } : {}),
      ...(args.enhancedCases ? { enhancedCases: args.enhancedCases } : {}),
      overwrite: args.overwrite,
      concurrency: Math.max(1, args.workers),
      ...(pool ? { runCase: (t: SynthCaseTask) => pool.run(t) } : {}),
      onProgress: (p) => bar?.update(p.done, p.total, p.caseId ? `${p.caseId} (${p.format})` : ''),
    });
    bar?.finish('done');
    return truth;
  } finally {
    await pool?.close();
  }
}

/** A few lines on what was written. */
export function summarise(truth: SynthTruth, out: string): string {
  const n = truth.cases.length;
  const dicom = truth.cases.filter((c) => c.format === 'dicom');
  const ffs = truth.cases.filter((c) => c.patientPosition === 'FFS').length;
  const lines = [`wrote ${n} cases to ${out}: ${dicom.length} DICOM (${ffs} FFS), ${n - dicom.length} PDDCA; truth in ${join(out, SYNTH_TRUTH_FILE)}`];
  const annotated = truth.organs.map((o) => `${o} ${truth.cases.filter((c) => c.organs[o as keyof CaseTruth['organs']].annotated).length}`);
  lines.push(`annotated: ${annotated.join(', ')}`);
  const planted = truth.cases.filter((c) => c.annotationError);
  const segs = truth.cases.filter((c) => c.files.seg);
  if (segs.length) lines.push(`annotated by DICOM SEG: ${segs.map((c) => c.caseId).join(', ')}`);
  const enhanced = truth.cases.filter((c) => c.enhancedCt);
  if (enhanced.length) lines.push(`CT as one Enhanced CT image: ${enhanced.map((c) => c.caseId).join(', ')}`);
  if (planted.length) lines.push(`annotation errors planted: ${planted.map((c) => `${c.caseId} ${c.annotationError!.kind} (${c.annotationError!.organs.join(', ')})`).join('; ')}`);
  return lines.join('\n');
}

// ---------- child processes ----------

type WorkerReply = { ok: true; truth: CaseTruth } | { ok: false; error: string };

interface SynthPool {
  run(task: SynthCaseTask): Promise<CaseTruth>;
  close(): Promise<void>;
}

/** Child processes running writeSynthCase (this file, with ANATOMYNET_SYNTH_WORKER=1). */
function createSynthPool(size: number): SynthPool {
  const pool = createProcessPool<SynthCaseTask, WorkerReply>(fileURLToPath(import.meta.url), size, { [WORKER_ENV]: '1' });
  return {
    async run(task) {
      let m: WorkerReply;
      try {
        m = await pool.run(task);
      } catch (e) {
        throw new Error(`case ${task.index}: ${(e as Error).message}`);
      }
      if (!m.ok) throw new Error(`case ${task.index}: ${m.error}`);
      return m.truth;
    },
    close: () => pool.close(),
  };
}

if (process.env[WORKER_ENV] === '1' && process.send) {
  process.on('message', (task: SynthCaseTask) => {
    let reply: WorkerReply;
    try {
      reply = { ok: true, truth: writeSynthCase(task) };
    } catch (e) {
      reply = { ok: false, error: (e as Error).message ?? String(e) };
    }
    process.send!(reply);
  });
  process.on('disconnect', () => process.exit(0));
}
