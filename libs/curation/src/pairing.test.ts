import { describe, expect, it } from 'vitest';
import { pairStructureSets, type CtSeriesRef, type RtStructRef } from './pairing';

const ct = (uid: string, forUid: string, n = 3, z0 = 0): CtSeriesRef => ({
  seriesInstanceUID: uid,
  frameOfReferenceUID: forUid,
  sopInstanceUIDs: Array.from({ length: n }, (_, k) => `${uid}.${k + 1}`),
  extent: { min: [-100, -100, z0], max: [100, 100, z0 + (n - 1) * 2.5] },
});

describe('pairStructureSets', () => {
  it('pairs by referenced series and images', () => {
    const r = pairStructureSets([ct('1.1', '9.1'), ct('1.2', '9.1')], [
      { path: '/a/rs.dcm', frameOfReferenceUID: '9.1', referencedSeriesUIDs: ['1.2'], referencedSopInstanceUIDs: ['1.2.1', '1.2.3'] },
    ]);
    expect(r.pairs).toEqual([{ rtPath: '/a/rs.dcm', seriesInstanceUID: '1.2', method: 'reference', warnings: [] }]);
    expect(r.unpairedCt).toEqual([{ seriesInstanceUID: '1.1', reason: 'no RTSTRUCT or SEG pairs with this CT series' }]);
  });

  it('falls back to frame of reference + geometry when referenced images are absent, with a warning', () => {
    const rt: RtStructRef = {
      path: '/b/rs.dcm', frameOfReferenceUID: '9.2', referencedSeriesUIDs: ['7.7'], referencedSopInstanceUIDs: ['7.7.1'],
      extent: { min: [-10, -10, 101], max: [10, 10, 104] },
    };
    const r = pairStructureSets([ct('2.1', '9.2', 3, 0), ct('2.2', '9.2', 3, 100)], [rt]);
    expect(r.pairs).toHaveLength(1);
    expect(r.pairs[0]).toMatchObject({ seriesInstanceUID: '2.2', method: 'frame-of-reference' });
    expect(r.pairs[0].warnings[0]).toMatch(/paired by frame of reference and geometry: the CT images the RTSTRUCT references are absent/);
  });

  it('reports an RTSTRUCT whose frame of reference matches no CT, and one whose contours lie outside', () => {
    const r = pairStructureSets([ct('3.1', '9.3')], [
      { path: '/c/rs.dcm', frameOfReferenceUID: '9.99', referencedSeriesUIDs: [], referencedSopInstanceUIDs: [] },
      { path: '/d/rs.dcm', frameOfReferenceUID: '9.3', referencedSeriesUIDs: [], referencedSopInstanceUIDs: [], extent: { min: [0, 0, 400], max: [1, 1, 401] } },
    ]);
    expect(r.pairs).toEqual([]);
    expect(r.unpairedRt).toEqual([
      { path: '/c/rs.dcm', reason: 'frame of reference matches no CT series' },
      { path: '/d/rs.dcm', reason: 'contours lie outside every CT series of its frame of reference' },
    ]);
  });

  it('keeps the best-scoring of several RTSTRUCTs for one CT and reports the rest', () => {
    const refs = { frameOfReferenceUID: '9.4', referencedSeriesUIDs: ['4.1'], referencedSopInstanceUIDs: ['4.1.1'] };
    const r = pairStructureSets([ct('4.1', '9.4')], [{ path: '/e/a.dcm', ...refs, score: 3 }, { path: '/e/b.dcm', ...refs, score: 9 }]);
    expect(r.pairs.map((p) => p.rtPath)).toEqual(['/e/b.dcm']);
    expect(r.unpairedRt).toEqual([{ path: '/e/a.dcm', reason: 'another RTSTRUCT for the same CT series was used' }]);
  });
});
