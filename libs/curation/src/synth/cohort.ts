/**
 * The synthetic head-and-neck cohort: N cases (a fraction as PDDCA NRRD folders, the rest as DICOM CT +
 * RTSTRUCT) and `synth-truth.json` with each case's true organ volumes and ROI-name mapping. The same
 * seed and options give the same bytes.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@anatomynet/data';
import { generateCase, type SynthCaseOptions, type SynthFormat } from './case';
import type { SynthSize } from './geometry';
import { SYNTH_ORGANS } from './tissues';
import { writeCase, type CaseTruth } from './write';

export const SYNTH_TRUTH_FILE = 'synth-truth.json';

export interface SynthCohortOptions {
  /** Output folder; created if missing. */
  outDir: string;
  cases: number;
  seed: number | string;
  /** Fraction of cases written as PDDCA NRRD folders (default 0.25); spread evenly over the indices. */
  pddcaFraction?: number;
  /** 'small' (default, matrix 192-256) or 'full' (512x512). */
  size?: SynthSize;
  /** Fraction of DICOM cases scanned feet first (default 0.15). */
  ffsFraction?: number;
  matrix?: number;
  sliceMm?: number;
  /** Replace the contents of an existing cohort folder (one holding synth-truth.json, or empty). */
  overwrite?: boolean;
  /** Called after each case is written (and once with done = 0 at the start). */
  onProgress?: (p: SynthProgress) => void;
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
  options: { cases: number; pddcaFraction: number; size: SynthSize; ffsFraction: number; matrix: number | null; sliceMm: number | null };
  organs: readonly string[];
  cases: CaseTruth[];
}

/** Formats of the cases: `round(fraction * n)` PDDCA cases spread evenly over the indices. */
export function cohortFormats(n: number, pddcaFraction: number): SynthFormat[] {
  const f = Math.min(1, Math.max(0, pddcaFraction));
  return Array.from({ length: n }, (_, i) => (Math.round((i + 1) * f) > Math.round(i * f) ? 'pddca' : 'dicom'));
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
  const entries = readdirSync(outDir);
  if (entries.length === 0) return;
  if (!overwrite) throw new SynthOutputError(outDir, 'folder is not empty (pass overwrite to replace a previous synthetic cohort)');
  if (!entries.includes(SYNTH_TRUTH_FILE)) {
    throw new SynthOutputError(outDir, `folder is not empty and holds no ${SYNTH_TRUTH_FILE}: refusing to delete what may not be a synthetic cohort`);
  }
  for (const e of entries) rmSync(join(outDir, e), { recursive: true, force: true });
}

/**
 * Generates and writes the cohort. Each case is written into a hidden temporary folder and renamed
 * into place when complete; the truth file is written last (atomically).
 * @returns the truth written to `<outDir>/synth-truth.json`.
 * @throws SynthOutputError when outDir is not empty (and not a previous cohort with overwrite).
 */
export function writeSynthCohort(opts: SynthCohortOptions): SynthTruth {
  if (!Number.isInteger(opts.cases) || opts.cases < 1) throw new RangeError(`writeSynthCohort: cases must be a positive integer, got ${opts.cases}`);
  const pddcaFraction = opts.pddcaFraction ?? 0.25;
  const size = opts.size ?? 'small';
  const ffsFraction = opts.ffsFraction ?? 0.15;
  prepareOutDir(opts.outDir, opts.overwrite ?? false);
  const formats = cohortFormats(opts.cases, pddcaFraction);
  const caseOpts: SynthCaseOptions = {
    size,
    ffsFraction,
    ...(opts.matrix ? { matrix: opts.matrix } : {}),
    ...(opts.sliceMm ? { sliceMm: opts.sliceMm } : {}),
  };
  const cases: CaseTruth[] = [];
  opts.onProgress?.({ done: 0, total: opts.cases });
  for (let i = 0; i < opts.cases; i++) {
    const c = generateCase(opts.seed, i, formats[i]!, caseOpts);
    const tmp = join(opts.outDir, `.partial-${c.caseId}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const truth = writeCase(c, tmp, c.caseId, opts.seed);
    renameSync(tmp, join(opts.outDir, c.caseId));
    cases.push(truth);
    opts.onProgress?.({ done: i + 1, total: opts.cases, caseId: c.caseId, format: c.format });
  }
  const truth: SynthTruth = {
    generator: 'anatomynet-ts synth',
    version: 1,
    seed: opts.seed,
    options: { cases: opts.cases, pddcaFraction, size, ffsFraction, matrix: opts.matrix ?? null, sliceMm: opts.sliceMm ?? null },
    organs: SYNTH_ORGANS,
    cases,
  };
  writeFileAtomic(join(opts.outDir, SYNTH_TRUTH_FILE), JSON.stringify(truth, null, 2) + '\n');
  return truth;
}
