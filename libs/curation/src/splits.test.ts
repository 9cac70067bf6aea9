import { describe, expect, it } from 'vitest';
import { makeSplits, MICCAI2015_OFFSITE_TEST, splitContinuity } from './splits';

describe('makeSplits', () => {
  it('uses the MICCAI 2015 offsite cases as the test set where PDDCA ids are present', () => {
    const ids = ['0522c0001', '0522c0002', '0522c0003', '0522c0555', '0522c0576', '0522c0598', '0522c0659', '0522c0661', '0522c0667', '0522c0669', '0522c0708', '0522c0727', '0522c0746', '0522c0878'];
    const cases = ids.map((p, n) => ({ caseId: `hn_${String(n + 1).padStart(4, '0')}`, patientId: `patient_${n}`, pddcaId: p }));
    const s = makeSplits(cases);
    expect(s.method).toBe('miccai2015-offsite');
    expect(s.test).toEqual(cases.filter((c) => MICCAI2015_OFFSITE_TEST.includes(c.pddcaId)).map((c) => c.caseId));
    expect(s.test).toHaveLength(10);
    expect(s.train.length + s.validation.length).toBe(4);
    expect(s.validation).toHaveLength(1);
  });

  it('splits by patient, deterministically, every case once', () => {
    const cases = Array.from({ length: 30 }, (_, n) => ({ caseId: `hn_${String(n + 1).padStart(4, '0')}`, patientId: `patient_${Math.floor(n / 2)}` }));
    const a = makeSplits(cases), b = makeSplits([...cases].reverse());
    expect(a).toEqual(b);
    expect([...a.train, ...a.validation, ...a.test].sort()).toEqual(cases.map((c) => c.caseId));
    expect(a.test).toHaveLength(6); // 15 patients * 0.2 = 3 patients, 2 scans each
    const setOf = new Map<string, string>();
    for (const set of ['train', 'validation', 'test'] as const) for (const id of a[set]) {
      const p = cases.find((c) => c.caseId === id)!.patientId;
      expect(setOf.get(p) ?? set).toBe(set);
      setOf.set(p, set);
    }
  });

  it('falls back to the hash split when PDDCA ids are present but no offsite case is', () => {
    const cases = ['0522c0001', '0522c0002', '0522c0003', '0522c0004', '0522c0005'].map((p, n) => ({ caseId: `hn_000${n + 1}`, patientId: `patient_${n}`, pddcaId: p }));
    const s = makeSplits(cases);
    expect(s.method).toBe('hash');
    expect(s.test).toHaveLength(1);
    expect(s.validation).toHaveLength(1);
  });

  it('keeps every patient of the previous version in its set as the cohort grows and shrinks; new patients fill the fractions', () => {
    const cohort = (patients: number[]) => patients.flatMap((p) => [0, 1].map((k) => ({ caseId: `hn_${p}_${k}`, patientId: `patient_${p}` })));
    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
    const v1 = makeSplits(cohort(range(0, 15)));
    // 15 -> 40 patients: recomputed from scratch, earlier patients would change sets (the cut points move)
    const grown = cohort(range(0, 40));
    expect(splitContinuity(makeSplits(grown), v1).moved.length).toBeGreaterThan(0);
    const v2 = makeSplits(grown, { previous: v1 });
    expect(splitContinuity(v2, v1)).toEqual({ kind: 'kept', moved: [] });
    // the fractions of the whole: 8 test patients (0.2 of 40), 4 validation, 2 scans each
    expect([v2.test.length, v2.validation.length, v2.train.length]).toEqual([16, 8, 56]);
    // patients 0-9 leave: the others stay put, and no one is moved into test to make up for it
    const v3 = makeSplits(cohort(range(10, 40)), { previous: v2 });
    expect(splitContinuity(v3, v2)).toEqual({ kind: 'kept', moved: [] });
    expect(v3.test.every((id) => v2.test.includes(id))).toBe(true);
    // the same call again gives the same splits (a re-run changes nothing)
    expect(makeSplits(cohort(range(10, 40)), { previous: v3 })).toEqual(v3);
  });

  it('places everyone afresh when the method changes (the offsite cases appear), and says who moved', () => {
    const plain = Array.from({ length: 10 }, (_, n) => ({ caseId: `hn_${n}`, patientId: `patient_${n}` }));
    const v1 = makeSplits(plain);
    const v2 = makeSplits([...plain, { caseId: 'hn_pddca', patientId: 'patient_pddca', pddcaId: '0522c0555' }], { previous: v1 });
    expect(v2).toMatchObject({ method: 'miccai2015-offsite', test: ['hn_pddca'] });
    const c = splitContinuity(v2, v1);
    expect(c.kind).toBe('recomputed');
    // the previous test patients cannot stay in test (only the offsite cases are): named as moved
    expect(c.moved.filter((m) => m.from === 'test').map((m) => m.caseId)).toEqual([...v1.test].sort());
    expect(splitContinuity(v1, undefined)).toEqual({ kind: 'first', moved: [] });
  });
});
