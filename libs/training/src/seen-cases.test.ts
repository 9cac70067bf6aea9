import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import type { Dataset } from './dataset';
import { readTrainingCases, seenCases, TRAINING_CASES_FILE, trainingCasesOf, trainingVolumes, writeTrainingCases } from './seen-cases';

const root = mkdtempSync(join(tmpdir(), 'seen-cases-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A dataset as the trainer opens it, reduced to what the check reads; `ml`: each case's annotated organs' volumes. */
function dataset(
  digest: string, cases: [id: string, input: string, image: string | undefined][], splits: { train: string[]; validation: string[]; test: string[] },
  ml: Record<string, Record<string, number>> = {},
): Dataset {
  const organs = ['BrainStem', 'Chiasm', 'Mandible', 'OpticNerve_L', 'OpticNerve_R', 'Parotid_L', 'Parotid_R', 'Submandibular_L', 'Submandibular_R'];
  const record = (caseId: string) => ({
    availability: Object.fromEntries(organs.map((o) => [o, ml[caseId]?.[o] !== undefined ? 'annotated' : 'not-annotated'])),
    volumeMl: Object.fromEntries(organs.map((o) => [o, ml[caseId]?.[o] ?? 0])),
  });
  return {
    manifestDigest: digest,
    cases: new Map(cases.map(([caseId, inputDigest, imageDigest]) => [caseId, { caseId, inputDigest, ...(imageDigest ? { imageDigest } : {}), ...record(caseId) }])),
    splits,
  } as unknown as Dataset;
}

test('a run folder records its training and validation cases; another dataset finds them by source files or scan, whatever their ids', () => {
  const trained = dataset('v1', [['hn_0001', 'in-1', 'img-1'], ['hn_0002', 'in-2', 'img-2'], ['hn_0003', 'in-3', 'img-3'], ['hn_0004', 'in-4', 'img-4']], {
    train: ['hn_0002', 'hn_0001'], validation: ['hn_0003'], test: ['hn_0004'],
  });
  const runDir = join(root, 'run-a');
  mkdirSync(runDir, { recursive: true });
  writeTrainingCases(runDir, trained);
  expect(readTrainingCases(runDir)).toEqual(trainingCasesOf(trained));
  expect(trainingCasesOf(trained)).toEqual({
    manifestDigest: 'v1',
    train: [{ caseId: 'hn_0001', inputDigest: 'in-1', imageDigest: 'img-1', volumeMl: {} }, { caseId: 'hn_0002', inputDigest: 'in-2', imageDigest: 'img-2', volumeMl: {} }],
    validation: [{ caseId: 'hn_0003', inputDigest: 'in-3', imageDigest: 'img-3', volumeMl: {} }],
  });

  // a run trained on part of the split (data.subset) records that part
  expect(trainingCasesOf(trained, { train: ['hn_0002'], validation: ['hn_0003'] }).train.map((c) => c.caseId)).toEqual(['hn_0002']);

  // a clinic's export: hn_0001's files again as c1, hn_0002's scan recontoured as c2, the validation case as
  // c3, the test case as c4, and a new patient c5; an old dataset without image digests as c6
  const elsewhere = dataset('other', [['c1', 'in-1', 'img-1'], ['c2', 'in-2b', 'img-2'], ['c3', 'in-3', 'img-3'], ['c4', 'in-4', 'img-4'], ['c5', 'in-5', 'img-5'], ['c6', 'in-6', undefined]], {
    train: [], validation: [], test: ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'],
  });
  const noRecord = join(root, 'run-old');
  mkdirSync(noRecord);
  const check = seenCases(elsewhere, ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'], [runDir, noRecord]);
  expect([...check.seen.values()]).toEqual([
    { caseId: 'c1', split: 'train', runDir, asCase: 'hn_0001', by: 'input' },
    { caseId: 'c2', split: 'train', runDir, asCase: 'hn_0002', by: 'image' },
    { caseId: 'c3', split: 'validation', runDir, asCase: 'hn_0003', by: 'input' },
  ]);
  expect(check.unknown).toEqual([noRecord]);

  // a damaged record is no record
  writeFileSync(join(noRecord, TRAINING_CASES_FILE), '{ "train": ');
  expect(readTrainingCases(noRecord)).toBeUndefined();
});

test('a run folder records its cases\' annotated organ volumes; trainingVolumes gathers the training splits\' per organ, a shared case once', () => {
  const ml = { a: { Parotid_L: 10, BrainStem: 2 }, b: { Parotid_L: 12 }, c: { Parotid_L: 30 }, d: { Mandible: 50 } };
  const one = dataset('v1', [['a', 'in-a', undefined], ['b', 'in-b', undefined], ['c', 'in-c', undefined], ['d', 'in-d', undefined]], { train: ['a', 'b'], validation: ['c'], test: ['d'] }, ml);
  const two = dataset('v1', [['a', 'in-a', undefined], ['d', 'in-d', undefined], ['c', 'in-c', undefined]], { train: ['a', 'd'], validation: ['c'], test: [] }, ml);
  const [r1, r2, old] = ['run-1', 'run-2', 'run-old-volumes'].map((n) => join(root, n));
  for (const [dir, ds] of [[r1, one], [r2, two]] as const) {
    mkdirSync(dir, { recursive: true });
    writeTrainingCases(dir, ds);
  }
  expect(readTrainingCases(r1)!.train.map((c) => c.volumeMl)).toEqual([{ BrainStem: 2, Parotid_L: 10 }, { Parotid_L: 12 }]);
  // not the validation case's 30 mL; case a once though both runs trained on it
  expect(trainingVolumes([r1, r2])).toEqual({ BrainStem: [2], Parotid_L: [10, 12], Mandible: [50] });
  // a record from before the volumes, or none: nothing to judge by
  mkdirSync(old);
  writeFileSync(join(old, TRAINING_CASES_FILE), JSON.stringify({ manifestDigest: 'v0', train: [{ caseId: 'a', inputDigest: 'in-a' }], validation: [] }));
  expect(trainingVolumes([old, join(root, 'no-such-run')])).toEqual({});
});
