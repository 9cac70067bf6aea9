import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { foldCases, openDataset, runCases, trainingCases, type Dataset } from './dataset';
import { writeTinyDataset } from './testing/tiny-dataset';

const root = mkdtempSync(join(tmpdir(), 'folds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The tiny dataset with `patients` patients over `cases` cases (consecutive cases share a patient). */
function dataset(cases: number, casesPerPatient = 1): Dataset {
  const dir = join(root, `ds-${cases}-${casesPerPatient}`);
  writeTinyDataset(dir, { cases, shape: [6, 6, 4] });
  const ds = openDataset(dir);
  const byId = new Map([...ds.cases].map(([id, c], n) => [id, { ...c, patientId: `p${Math.floor(n / casesPerPatient)}` }]));
  return { ...ds, cases: byId };
}

describe('cross-validation folds', () => {
  it('partition the training and validation splits by patient, round-robin in hash order; the test split never enters', () => {
    const ds = dataset(14, 2); // 7 patients; splits: 12 train, 1 validation, 1 test
    const pool = [...ds.splits.train, ...ds.splits.validation].sort();
    const folds = [1, 2, 3].map((index) => foldCases(ds, { k: 3, index }));
    // every pool case validates in exactly one fold and trains in the others
    expect(folds.flatMap((f) => f.validation).sort()).toEqual(pool);
    for (const f of folds) {
      expect([...f.train, ...f.validation].sort()).toEqual(pool);
      expect(f.train.some((id) => f.validation.includes(id))).toBe(false);
      expect(f.validation).not.toContain(ds.splits.test[0]);
    }
    // a patient's cases share a fold; fold sizes differ by one patient at most (7 patients: 3, 2, 2)
    const patientOf = (id: string) => ds.cases.get(id)!.patientId;
    for (const f of folds) for (const id of f.validation) expect(f.train.map(patientOf)).not.toContain(patientOf(id));
    expect(folds.map((f) => new Set(f.validation.map(patientOf)).size).sort()).toEqual([2, 2, 3]);
    // the same folds whatever the order of the split files
    const shuffled = { ...ds, splits: { ...ds.splits, train: [...ds.splits.train].reverse() } };
    expect(foldCases(shuffled, { k: 3, index: 2 })).toEqual(folds[1]);
  });

  it('keep the subset for training only; without a fold the dataset splits are used; too few patients is an error', () => {
    const ds = dataset(6); // sourceKind alternates pddca / dicom
    const f = foldCases(ds, { k: 2, index: 1 }, 'pddca');
    expect(f.train.every((id) => ds.cases.get(id)!.sourceKind === 'pddca')).toBe(true);
    expect(runCases(ds, { subset: 'pddca', fold: { k: 2, index: 1 } })).toEqual(f);
    expect(runCases(ds, { subset: 'all' })).toEqual({ train: trainingCases(ds, 'all'), validation: ds.splits.validation });
    expect(() => foldCases(ds, { k: 6, index: 1 })).toThrow(/5 patients in the training and validation splits cannot make 6 folds/);
  });
});
