import { describe, expect, it } from 'vitest';
import { makeSplits, MICCAI2015_OFFSITE_TEST } from './splits';

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
});
