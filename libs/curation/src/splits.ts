/**
 * Train / validation / test split by patient (all cases of a patient fall in one set). Where any of the
 * MICCAI 2015 offsite PDDCA cases is present, those cases are the test set, as in the paper; otherwise patients are
 * ordered by a hash of their pseudonym and cut by fractions: deterministic.
 *
 * Across versions of a dataset (a cohort curated again into its folder) a patient keeps its set: given
 * the previous version's splits, its patients stay where they were and only new patients are placed, in
 * hash order, test and validation first until each holds its fraction of the whole cohort. A case once
 * tested on is never trained on later, and runs of two versions are tested on what they share. Only a
 * change of method (the offsite cases appearing or going) places everyone afresh, and says so.
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
  /** The previous version's splits: their patients keep their sets (same method only). */
  previous?: Splits;
}

type SplitSet = 'train' | 'validation' | 'test';
const SETS: readonly SplitSet[] = ['test', 'validation', 'train'];

/** How a version's splits relate to the previous version's. */
export interface SplitContinuity {
  /** kept: every previous patient still present stayed in its set; recomputed: the method changed; first: no previous. */
  kind: 'first' | 'kept' | 'recomputed';
  /** Cases present in both versions that changed set (only when recomputed). */
  moved: { caseId: string; from: SplitSet; to: SplitSet }[];
}

export function makeSplits(cases: readonly SplitCase[], opts: SplitOptions = {}): Splits {
  const seed = opts.seed ?? 'anatomynet';
  const byPatient = new Map<string, SplitCase[]>();
  for (const c of cases) byPatient.set(c.patientId, [...(byPatient.get(c.patientId) ?? []), c]);
  const rank = (p: string) => sha256Hex(`${seed}:${p}`);
  const patients = [...byPatient.keys()].sort((a, b) => compareStrings(rank(a), rank(b)) || compareStrings(a, b));
  const offsite = new Set(MICCAI2015_OFFSITE_TEST);
  const method: Splits['method'] = cases.some((c) => c.pddcaId !== undefined && offsite.has(c.pddcaId)) ? 'miccai2015-offsite' : 'hash';

  // a patient's set in the previous version (test first, should a hand-edited file disagree with itself)
  const before = new Map<string, SplitSet>();
  if (opts.previous?.method === method) {
    const setOfCase = new Map<string, SplitSet>();
    for (const set of [...SETS].reverse()) for (const id of opts.previous[set]) setOfCase.set(id, set);
    for (const [p, cs] of byPatient) {
      const sets = cs.map((c) => setOfCase.get(c.caseId)).filter((x): x is SplitSet => x !== undefined);
      const set = SETS.find((x) => sets.includes(x));
      if (set) before.set(p, set);
    }
  }

  const assigned = new Map<string, SplitSet>();
  const count = (set: SplitSet) => [...assigned.values()].filter((x) => x === set).length;
  // the fixed sets first: the offsite test patients, then whoever kept its set
  const isOffsite = (p: string) => byPatient.get(p)!.some((c) => c.pddcaId !== undefined && offsite.has(c.pddcaId));
  if (method === 'miccai2015-offsite') for (const p of patients.filter(isOffsite)) assigned.set(p, 'test');
  for (const p of patients) if (!assigned.has(p) && before.has(p) && !(method === 'miccai2015-offsite' && before.get(p) === 'test')) assigned.set(p, before.get(p)!);
  const rest = patients.filter((p) => !assigned.has(p));
  const n = method === 'hash' ? patients.length : patients.filter((p) => !isOffsite(p)).length;
  const want: Record<SplitSet, number> = {
    test: method === 'hash' && n >= 3 ? Math.max(1, Math.round(n * (opts.testFraction ?? 0.2))) : 0,
    validation: n >= 2 ? Math.max(1, Math.round(n * (opts.validationFraction ?? 0.1))) : 0,
    train: Infinity,
  };
  for (const p of rest) assigned.set(p, SETS.find((set) => set === 'train' || ((method === 'hash' || set !== 'test') && count(set) < want[set]))!);
  const ids = (set: SplitSet) => patients.filter((p) => assigned.get(p) === set).flatMap((p) => byPatient.get(p)!.map((c) => c.caseId)).sort(compareStrings);
  return { method, train: ids('train'), validation: ids('validation'), test: ids('test') };
}

/** Whether `now` kept `previous`'s sets for the cases both hold ({@link makeSplits} with `previous`). */
export function splitContinuity(now: Splits, previous: Splits | undefined): SplitContinuity {
  if (!previous) return { kind: 'first', moved: [] };
  const setOf = (s: Splits) => new Map(SETS.flatMap((set) => s[set].map((id) => [id, set] as const)));
  const [a, b] = [setOf(previous), setOf(now)];
  const moved = [...b].filter(([id, set]) => a.has(id) && a.get(id) !== set).map(([caseId, to]) => ({ caseId, from: a.get(caseId)!, to })).sort((x, y) => compareStrings(x.caseId, y.caseId));
  return { kind: previous.method === now.method ? 'kept' : 'recomputed', moved };
}
