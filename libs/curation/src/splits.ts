/**
 * Train / validation / test split by patient (all cases of a patient fall in one set). Where any of the
 * MICCAI 2015 offsite PDDCA cases is present, those cases are the test set, as in the paper; otherwise patients are
 * ordered by a hash of their pseudonym and cut by fractions: deterministic, and stable as a cohort grows.
 */
import { sha256Hex } from './hashing';
import { compareStrings } from './names';

export const MICCAI2015_OFFSITE_TEST: readonly string[] = Object.freeze(
  ['0555', '0576', '0598', '0659', '0661', '0667', '0669', '0708', '0727', '0746'].map((n) => `0522c${n}`),
);

export interface SplitCase {
  caseId: string;
  patientId: string;
  /** PDDCA case id (e.g. 0522c0555) when the case came from PDDCA. */
  pddcaId?: string;
}

export interface Splits {
  method: 'miccai2015-offsite' | 'hash';
  train: string[];
  validation: string[];
  test: string[];
}

export interface SplitOptions {
  testFraction?: number;
  validationFraction?: number;
  seed?: string;
}

export function makeSplits(cases: readonly SplitCase[], opts: SplitOptions = {}): Splits {
  const seed = opts.seed ?? 'anatomynet';
  const byPatient = new Map<string, SplitCase[]>();
  for (const c of cases) byPatient.set(c.patientId, [...(byPatient.get(c.patientId) ?? []), c]);
  const rank = (p: string) => sha256Hex(`${seed}:${p}`);
  const patients = [...byPatient.keys()].sort((a, b) => compareStrings(rank(a), rank(b)) || compareStrings(a, b));
  const ids = (ps: string[]) => ps.flatMap((p) => byPatient.get(p)!.map((c) => c.caseId)).sort(compareStrings);

  const offsite = new Set(MICCAI2015_OFFSITE_TEST);
  if (cases.some((c) => c.pddcaId !== undefined && offsite.has(c.pddcaId))) {
    const isTest = (p: string) => byPatient.get(p)!.some((c) => c.pddcaId !== undefined && offsite.has(c.pddcaId));
    const test = patients.filter(isTest);
    const rest = patients.filter((p) => !isTest(p));
    const nVal = rest.length >= 2 ? Math.max(1, Math.round(rest.length * (opts.validationFraction ?? 0.1))) : 0;
    return { method: 'miccai2015-offsite', train: ids(rest.slice(nVal)), validation: ids(rest.slice(0, nVal)), test: ids(test) };
  }
  const n = patients.length;
  const nTest = n >= 3 ? Math.max(1, Math.round(n * (opts.testFraction ?? 0.2))) : 0;
  const nVal = n >= 2 ? Math.max(1, Math.round(n * (opts.validationFraction ?? 0.1))) : 0;
  return {
    method: 'hash',
    test: ids(patients.slice(0, nTest)),
    validation: ids(patients.slice(nTest, nTest + nVal)),
    train: ids(patients.slice(nTest + nVal)),
  };
}
