/**
 * The synthetic head-and-neck cohort: N cases (a fraction as PDDCA NRRD folders, the rest as DICOM CT +
 * RTSTRUCT) and `synth-truth.json` with each case's true organ volumes and ROI-name mapping. The same
 * seed and options give the same bytes.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@anatomynet/data';
import { generateCase, type SynthCaseOptions, type SynthFormat } from './case';
import type { SynthSize } from './geometry';
import { SYNTH_ORGANS } from './tissues';
import { writeCase, type CaseTruth } from './write';
import { SYNTH_ANNOTATION_ERRORS, type SynthAnnotationErrorKind } from './errors';
import { Rng } from './prng';

export const SYNTH_TRUTH_FILE = 'synth-truth.json';

export interface SynthCohortOptions {
  /** Output folder; created if missing. */
  outDir: string;
  cases: number;
  seed: number | string;
  /** Fraction of cases written as PDDCA NRRD folders (default 0.25): floor(fraction * cases), spread evenly. */
  pddcaFraction?: number;
  /** 'small' (default, matrix 208-288, 0.69-1.0 mm pixels) or 'full' (512x512). */
  size?: SynthSize;
  /** Fraction of DICOM cases scanned feet first (default 0.15). */
  ffsFraction?: number;
  matrix?: number;
  sliceMm?: number;
  /**
   * DICOM cases given an annotation error (errors.ts; default 0), chosen by the seed, the kinds in turn:
   * swapped sides, a stray contour, the mandible moved off the bone, the structure set shifted, a slice
   * left out of an organ. synth-truth.json names them.
   */
  annotationErrors?: number;
  /** DICOM cases (chosen by the seed) whose annotations are written as a DICOM SEG, not an RTSTRUCT (default 0). */
  segCases?: number;
  /** DICOM cases (chosen by the seed, apart from the SEG cases' draw) whose CT is one Enhanced CT image, frames shuffled (default 0). */
  enhancedCases?: number;
  /** Replace the contents of an existing cohort folder (one holding synth-truth.json, or empty). */
  overwrite?: boolean;
  /** Cases generated at the same time (default 1); useful with `runCase` running them elsewhere. */
  concurrency?: number;
  /** Runs one case (default: writeSynthCase in this thread); e.g. a pool of child processes. */
  runCase?: (task: SynthCaseTask) => Promise<CaseTruth>;
  /** Called after each case is written (and once with done = 0 at the start). */
  onProgress?: (p: SynthProgress) => void;
}

/** Everything needed to generate and write one case (plain data: it can cross a process boundary). */
export interface SynthCaseTask {
  outDir: string;
  seed: number | string;
  index: number;
  format: SynthFormat;
  options: SynthCaseOptions;
}

export interface SynthProgress {
  done: number;
  total: number;
  /** The case just written (absent at the start). */
  caseId?: string;
  format?: SynthFormat;
}

export interface SynthTruth {
  generator: 'anatomynet-ts synth';
  version: 1;
  seed: number | string;
  options: { cases: number; pddcaFraction: number; size: SynthSize; ffsFraction: number; matrix: number | null; sliceMm: number | null; annotationErrors?: number; segCases?: number; enhancedCases?: number };
  organs: readonly string[];
  cases: CaseTruth[];
}

/**
 * Formats of the cases: `floor(fraction * n)` PDDCA cases spread evenly over the indices (the last
 * case of every 1/fraction block), so a cohort's first cases stay DICOM.
 */
export function cohortFormats(n: number, pddcaFraction: number): SynthFormat[] {
  const f = Math.min(1, Math.max(0, pddcaFraction));
  return Array.from({ length: n }, (_, i) => (Math.floor((i + 1) * f + 1e-9) > Math.floor(i * f + 1e-9) ? 'pddca' : 'dicom'));
}

/** Which DICOM cases get which annotation error: `n` of them in an order drawn from the seed, the kinds in turn. */
function errorPlan(formats: readonly SynthFormat[], n: number, seed: number | string): Map<number, SynthAnnotationErrorKind> {
  const dicom = formats.flatMap((f, i) => (f === 'dicom' ? [i] : []));
  if (!Number.isInteger(n) || n < 0 || n > dicom.length) {
    throw new RangeError(`annotationErrors ${n}: give a whole number from 0 to the cohort's ${dicom.length} DICOM cases`);
  }
  Rng.from('anatomynet-synth', seed, 'annotation-errors').shuffle(dicom);
  return new Map(dicom.slice(0, n).map((index, k) => [index, SYNTH_ANNOTATION_ERRORS[k % SYNTH_ANNOTATION_ERRORS.length]!]));
}

/** `n` DICOM cases in an order drawn from the seed and `option` (the option's name): those written another way. */
function dicomCasesPlan(formats: readonly SynthFormat[], n: number, seed: number | string, option: 'segCases' | 'enhancedCases'): Set<number> {
  const dicom = formats.flatMap((f, i) => (f === 'dicom' ? [i] : []));
  if (!Number.isInteger(n) || n < 0 || n > dicom.length) throw new RangeError(`${option} ${n}: give a whole number from 0 to the cohort's ${dicom.length} DICOM cases`);
  Rng.from('anatomynet-synth', seed, option === 'segCases' ? 'seg-cases' : 'enhanced-cases').shuffle(dicom);
  return new Set(dicom.slice(0, n));
}

/** Error for a cohort folder that cannot be (over)written. */
export class SynthOutputError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'SynthOutputError';
  }
}

function prepareOutDir(outDir: string, overwrite: boolean): void {
  if (!existsSync(outDir)) {
    mkdirSync(outDir, { recursive: true });
    return;
  }
  if (!statSync(outDir).isDirectory()) throw new SynthOutputError(outDir, 'a file is there; give a folder');
  const entries = readdirSync(outDir);
  if (entries.length === 0) return;
  if (!overwrite) throw new SynthOutputError(outDir, 'folder is not empty (curator synth --overwrite, or the option overwrite, replaces a previous synthetic cohort)');
  if (!entries.includes(SYNTH_TRUTH_FILE)) {
    throw new SynthOutputError(outDir, `folder is not empty and holds no ${SYNTH_TRUTH_FILE}: refusing to delete what may not be a synthetic cohort (after an interrupted run, delete the folder)`);
  }
  for (const e of entries) rmSync(join(outDir, e), { recursive: true, force: true });
}

/**
 * Generates case `task.index` and writes it to `<outDir>/<caseId>`, through a hidden temporary folder
 * renamed into place when complete.
 */
export function writeSynthCase(task: SynthCaseTask): CaseTruth {
  const c = generateCase(task.seed, task.index, task.format, task.options);
  const tmp = join(task.outDir, `.partial-${c.caseId}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const truth = writeCase(c, tmp, c.caseId, task.seed);
    renameSync(tmp, join(task.outDir, c.caseId));
    return truth;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true }); // nothing half-written stays behind
    throw e;
  }
}

/**
 * Generates and writes the cohort; the truth file is written last (atomically).
 * @returns the truth written to `<outDir>/synth-truth.json` (cases in index order).
 * @throws SynthOutputError when outDir is not empty (and not a previous cohort with overwrite).
 */
export async function writeSynthCohort(opts: SynthCohortOptions): Promise<SynthTruth> {
  if (!Number.isInteger(opts.cases) || opts.cases < 1) throw new RangeError(`writeSynthCohort: cases must be a positive integer, got ${opts.cases}`);
  const pddcaFraction = opts.pddcaFraction ?? 0.25;
  const size = opts.size ?? 'small';
  const ffsFraction = opts.ffsFraction ?? 0.15;
  const formats = cohortFormats(opts.cases, pddcaFraction);
  const errors = errorPlan(formats, opts.annotationErrors ?? 0, opts.seed);
  const segs = dicomCasesPlan(formats, opts.segCases ?? 0, opts.seed, 'segCases');
  const enhanced = dicomCasesPlan(formats, opts.enhancedCases ?? 0, opts.seed, 'enhancedCases');
  prepareOutDir(opts.outDir, opts.overwrite ?? false);
  const options: SynthCaseOptions = {
    size,
    ffsFraction,
    ...(opts.matrix ? { matrix: opts.matrix } : {}),
    ...(opts.sliceMm ? { sliceMm: opts.sliceMm } : {}),
  };
  const run = opts.runCase ?? (async (t: SynthCaseTask) => writeSynthCase(t));
  const cases: CaseTruth[] = new Array(opts.cases);
  let next = 0, done = 0;
  opts.onProgress?.({ done: 0, total: opts.cases });
  const lane = async () => {
    while (next < opts.cases) {
      const index = next++;
      const error = errors.get(index);
      const caseOptions = { ...options, ...(error ? { annotationError: error } : {}), ...(segs.has(index) ? { seg: true } : {}), ...(enhanced.has(index) ? { enhancedCt: true } : {}) };
      const truth = await run({ outDir: opts.outDir, seed: opts.seed, index, format: formats[index]!, options: caseOptions });
      cases[index] = truth;
      done++;
      opts.onProgress?.({ done, total: opts.cases, caseId: truth.caseId, format: truth.format });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 1, opts.cases)) }, lane));
  const truth: SynthTruth = {
    generator: 'anatomynet-ts synth',
    version: 1,
    seed: opts.seed,
    options: { cases: opts.cases, pddcaFraction, size, ffsFraction, matrix: opts.matrix ?? null, sliceMm: opts.sliceMm ?? null, ...(errors.size ? { annotationErrors: errors.size } : {}), ...(segs.size ? { segCases: segs.size } : {}), ...(enhanced.size ? { enhancedCases: enhanced.size } : {}) },
    organs: SYNTH_ORGANS,
    cases,
  };
  writeFileAtomic(join(opts.outDir, SYNTH_TRUTH_FILE), JSON.stringify(truth, null, 2) + '\n');
  return truth;
}
