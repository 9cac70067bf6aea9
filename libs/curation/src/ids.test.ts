import { describe, expect, it } from 'vitest';
import { assignIds } from './ids';

describe('assignIds', () => {
  it('numbers sources in key order and keeps a previous assignment as the cohort changes', () => {
    const first = assignIds(['dicom:b', 'pddca:a', 'dicom:c'], ['p:b', 'p:a', 'p:c']);
    expect(first.cases).toEqual({ 'dicom:b': 'hn_0001', 'dicom:c': 'hn_0002', 'pddca:a': 'hn_0003' });
    // dicom:c gone, dicom:d new: d takes the next free number, c keeps hn_0002 for good
    const second = assignIds(['dicom:b', 'dicom:d', 'pddca:a'], ['p:b', 'p:d', 'p:a'], first);
    expect(second.cases).toEqual({ 'dicom:b': 'hn_0001', 'dicom:c': 'hn_0002', 'dicom:d': 'hn_0004', 'pddca:a': 'hn_0003' });
    expect(second.patients['p:d']).toBe('patient_0004');
    // dicom:c back: its old id
    expect(assignIds(['dicom:c'], ['p:c'], second).cases['dicom:c']).toBe('hn_0002');
  });

  it('fills gaps a hand-edited map left before numbering past them', () => {
    const r = assignIds(['x', 'y'], ['x', 'y'], { cases: { y: 'hn_0002' }, patients: {} });
    expect(r.cases).toEqual({ x: 'hn_0001', y: 'hn_0002' });
  });
});
