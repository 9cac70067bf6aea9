import { describe, expect, it } from 'vitest';
import { indexToPoint, pointToIndex, type Mat3, type Vec3 } from '@anatomynet/data';
import { rasteriseRoi, type RtContour } from './rasterise';
import type { SliceGeometry } from './geometry';
import { axialContour, countOnes, grid, mulMat, mulVec, pointInPolygon, rectangle, regularPolygon, rotation } from './test-helpers';

const at = (g: SliceGeometry, i: number, j: number, k: number) => i + g.shape[0] * (j + g.shape[1] * k);

describe('rasteriseRoi: analytic shapes', () => {
  it('fills a square contour with exactly the voxel centres inside it (1 mm grid)', () => {
    const g = grid([20, 20, 3], [1, 1, 2]);
    // x 2.5..7.5 holds centres 3..7 (5), y 3.5..9.5 holds 4..9 (6): 30 voxels on slice z = 2 (k = 1).
    const { mask, stats } = rasteriseRoi([axialContour(rectangle(2.5, 3.5, 7.5, 9.5), 2)], g);
    expect(countOnes(mask)).toBe(30);
    expect(stats).toMatchObject({ contours: 1, rasterised: 1, slices: 1, voxels: 30, offVolume: 0, tooFewPoints: 0 });
    for (let j = 0; j < 20; j++)
      for (let i = 0; i < 20; i++) expect(mask[at(g, i, j, 1)]).toBe(i >= 3 && i <= 7 && j >= 4 && j <= 9 ? 1 : 0);
  });

  it('fills a square on an anisotropic grid with an offset origin', () => {
    // Centres x = 10 + 0.5 i, y = -5 + 0.8 j. x in [11.1, 14.1] -> i = 3..8 (6); y in [-4.5, -2] -> j = 1..3 (3).
    const g = grid([16, 10, 1], [0.5, 0.8, 3], [10, -5, 40]);
    const { mask } = rasteriseRoi([axialContour(rectangle(11.1, -4.5, 14.1, -2), 40)], g);
    expect(countOnes(mask)).toBe(18);
    expect(mask[at(g, 3, 1, 0)]).toBe(1);
    expect(mask[at(g, 8, 3, 0)]).toBe(1);
    expect(mask[at(g, 9, 3, 0)]).toBe(0);
    expect(mask[at(g, 3, 4, 0)]).toBe(0);
  });

  it('matches an independent point-in-polygon count for a 200-gon circle', () => {
    const g = grid([40, 36, 1], [0.7, 0.9, 2.5], [-3, 1, 0]);
    const circle = regularPolygon(10.2, 16.7, 7.3, 200, 0.1);
    const { mask } = rasteriseRoi([axialContour(circle, 0)], g);
    let expected = 0;
    for (let j = 0; j < g.shape[1]; j++)
      for (let i = 0; i < g.shape[0]; i++) {
        const inside = pointInPolygon(-3 + 0.7 * i, 1 + 0.9 * j, circle);
        expected += inside ? 1 : 0;
        expect(mask[at(g, i, j, 0)]).toBe(inside ? 1 : 0);
      }
    expect(countOnes(mask)).toBe(expected);
    // And the count is the disc's area in voxels, to within its perimeter's worth.
    expect(Math.abs(expected - (Math.PI * 7.3 * 7.3) / (0.7 * 0.9))).toBeLessThan((2 * Math.PI * 7.3) / 0.7);
  });

  it('unites pieces drawn overlapping, and keeps a hole in one of them', () => {
    const g = grid([30, 30, 1], [1, 1, 1]);
    const a = axialContour(rectangle(2.5, 2.5, 12.5, 12.5), 0); // 10 x 10 centres
    const b = axialContour(rectangle(7.5, 7.5, 17.5, 17.5), 0); // 10 x 10, 5 x 5 of them shared
    const both = rasteriseRoi([a, b], g).mask;
    expect(countOnes(both)).toBe(175);
    expect(both[at(g, 10, 10, 0)]).toBe(1); // in the overlap: even-odd across the two would empty it
    // a hole inside b alone (and outside a): b is a ring, a still covers what it covers
    const hole = axialContour(rectangle(13.5, 13.5, 16.5, 16.5), 0); // 3 x 3 centres
    const withHole = rasteriseRoi([a, b, hole], g).mask;
    expect(countOnes(withHole)).toBe(175 - 9);
    expect(withHole[at(g, 15, 15, 0)]).toBe(0);
    // a contour inside both pieces is inside two others: not a hole, as the even count says
    const inBoth = axialContour(rectangle(8.5, 8.5, 11.5, 11.5), 0);
    expect(countOnes(rasteriseRoi([a, b, inBoth], g).mask)).toBe(175);
    // a hole whose corner touches the outline around it is still a hole; a contour exported twice is
    // the contour (even-odd would have emptied it)
    const corner = axialContour(rectangle(2.5, 2.5, 5.5, 5.5), 0); // 3 x 3 centres, its corner on a's
    expect(countOnes(rasteriseRoi([a, corner], g).mask)).toBe(100 - 9);
    expect(countOnes(rasteriseRoi([a, a], g).mask)).toBe(100);
  });

  it('keeps holes (a contour inside one other): a ring, and an island inside the hole', () => {
    const g = grid([30, 30, 1], [1, 1, 1]);
    const outer = axialContour(rectangle(4.5, 4.5, 14.5, 14.5), 0); // 10 x 10 = 100 centres
    const hole = axialContour(rectangle(7.5, 7.5, 11.5, 11.5), 0); // 4 x 4 = 16 centres
    const island = axialContour(rectangle(8.5, 8.5, 10.5, 10.5), 0); // 2 x 2 = 4 centres
    expect(countOnes(rasteriseRoi([outer, hole], g).mask)).toBe(84);
    // Orientation does not matter: the hole listed first, drawn the other way round.
    const holeReversed = axialContour(rectangle(7.5, 7.5, 11.5, 11.5).reverse(), 0);
    const ring = rasteriseRoi([holeReversed, outer], g).mask;
    expect(countOnes(ring)).toBe(84);
    expect(ring[at(g, 9, 9, 0)]).toBe(0);
    expect(ring[at(g, 5, 5, 0)]).toBe(1);
    expect(countOnes(rasteriseRoi([outer, hole, island], g).mask)).toBe(88);
  });

  it('clips shapes that leave the grid, and tolerates a repeated closing point', () => {
    const g = grid([10, 10, 1], [1, 1, 1]);
    const sq = rectangle(-5.5, -5.5, 3.5, 2.5); // centres i 0..3, j 0..2 inside the grid
    const { mask } = rasteriseRoi([axialContour([...sq, sq[0]], 0)], g);
    expect(countOnes(mask)).toBe(12);
  });
});

describe('rasteriseRoi: skipped contours are counted, never fatal', () => {
  it('counts POINT, OPEN_PLANAR, short, off-volume and tilted contours', () => {
    const g = grid([10, 10, 4], [1, 1, 2]);
    const sq = rectangle(1.5, 1.5, 4.5, 4.5);
    const contours: RtContour[] = [
      axialContour(sq, 2),
      axialContour([[1, 1]], 2, 'POINT'),
      axialContour(sq, 2, 'OPEN_PLANAR'),
      axialContour(sq, 2, 'OPEN_NONPLANAR'),
      axialContour([[1, 1], [2, 2]], 2),
      axialContour(sq, 7.1), // last plane z = 6, half gap 1: off
      axialContour(sq, -1.2), // first plane z = 0: off
      { geometricType: 'CLOSED_PLANAR', points: Float64Array.from([1, 1, 0, 5, 1, 0, 5, 5, 4]) }, // spans two slices
      { geometricType: '', points: new Float64Array(0) },
    ];
    const { mask, stats } = rasteriseRoi(contours, g);
    expect(stats).toEqual({
      contours: 9, rasterised: 1, skippedByType: { POINT: 1, OPEN_PLANAR: 1, OPEN_NONPLANAR: 1, '(missing)': 1 },
      tooFewPoints: 1, offVolume: 2, notInSlicePlane: 1, referencesUnknownImage: 0, referencesOtherSlice: 0, slices: 1, voxels: 9,
    });
    expect(countOnes(mask)).toBe(9);
  });

  it('counts contours whose image reference disagrees with their plane, and still places them by geometry', () => {
    const g = grid([10, 10, 3], [1, 1, 2]);
    const sops = ['1.1', '1.2', '1.3'];
    const sq = rectangle(1.5, 1.5, 3.5, 3.5);
    const contours: RtContour[] = [
      { ...axialContour(sq, 0), referencedSOPInstanceUID: '1.1' }, // right
      { ...axialContour(sq, 2), referencedSOPInstanceUID: '1.3' }, // names slice 2, lies on slice 1
      { ...axialContour(sq, 4), referencedSOPInstanceUID: '9.9' }, // names no slice of the series
      axialContour(rectangle(5.5, 5.5, 7.5, 7.5), 4), // no reference: nothing to check
    ];
    const { mask, stats } = rasteriseRoi(contours, g, { sopInstanceUIDs: sops });
    expect(stats).toMatchObject({ rasterised: 4, referencesUnknownImage: 1, referencesOtherSlice: 1, slices: 3 });
    expect([0, 1, 2].map((k) => countOnes(mask.subarray(k * 100, (k + 1) * 100)))).toEqual([4, 4, 8]);
    expect(rasteriseRoi(contours, g).stats).toMatchObject({ referencesUnknownImage: 0, referencesOtherSlice: 0 });
  });
});

describe('rasteriseRoi: per-slice positions', () => {
  it('assigns contours by the real slice positions, not an averaged spacing', () => {
    // Planes at z = 100, 101, 102, 104, 107, 107.5 (only differences of slicePositionsMm matter).
    const positions = [0, 1, 2, 4, 7, 7.5];
    const g = grid([8, 8, 6], [1, 1, 1.5], [0, 0, 100], undefined, positions.map((p) => p + 250));
    const sq = rectangle(0.5, 0.5, 2.5, 2.5); // 4 voxels
    const cases: [number, number][] = [
      [104, 3], [105.4, 3], [105.6, 4], [106.9, 4], [107.5, 5], [107.74, 5], [99.6, 0],
    ];
    for (const [z, k] of cases) {
      const { mask, stats } = rasteriseRoi([axialContour(sq, z)], g);
      expect(stats.offVolume, `z = ${z}`).toBe(0);
      expect(countOnes(mask.subarray(k * 64, (k + 1) * 64)), `z = ${z} -> slice ${k}`).toBe(4);
    }
    for (const z of [107.76, 99.4]) expect(rasteriseRoi([axialContour(sq, z)], g).stats.offVolume, `z = ${z}`).toBe(1);
    // An averaged spacing (1.5 mm from z = 100) would put slice 4 at 106 and slice 5 at 107.5, sending
    // z = 106.9 to slice 5; the real plane of slice 4 is at 107.
    const { mask } = rasteriseRoi([axialContour(sq, 106.9)], g);
    expect(countOnes(mask.subarray(5 * 64))).toBe(0);
  });

  it('rejects positions that do not increase', () => {
    expect(() => rasteriseRoi([], grid([2, 2, 3], [1, 1, 1], [0, 0, 0], undefined, [0, 2, 1]))).toThrow(RangeError);
    expect(() => rasteriseRoi([], grid([2, 2, 3], [1, 1, 1], [0, 0, 0], undefined, [0, 1]))).toThrow(/2 slice positions for 3/);
  });
});

describe('rasteriseRoi: patient orientations', () => {
  // Asymmetric anatomy (an L and a disc) on axial planes z = 2, 4, 6 mm.
  const L: [number, number][] = [[1.3, 1.2], [9.7, 1.2], [9.7, 4.4], [4.6, 4.4], [4.6, 12.3], [1.3, 12.3]];
  const disc = regularPolygon(13.1, 9.2, 3.7, 48, 0.3);
  const anatomy = (transform: (p: Vec3) => Vec3 = (p) => p): RtContour[] =>
    [2, 4, 6].flatMap((z) => [L, disc].map((poly) => {
      const c = axialContour(poly, z);
      const pts = new Float64Array(c.points.length);
      for (let p = 0; p < pts.length; p += 3) pts.set(transform([c.points[p], c.points[p + 1], c.points[p + 2]]), p);
      return { ...c, points: pts };
    }));
  const shape: Vec3 = [20, 16, 5], spacing: Vec3 = [0.8, 0.9, 2];
  const hfs = grid(shape, spacing, [0.2, 0.1, 0], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const reference = rasteriseRoi(anatomy(), hfs).mask;

  /** Each voxel of `g` must carry the value of the HFS voxel at the same place in the patient. */
  function expectSamePhysicalMask(g: SliceGeometry, mask: Uint8Array) {
    for (let k = 0; k < shape[2]; k++)
      for (let j = 0; j < shape[1]; j++)
        for (let i = 0; i < shape[0]; i++) {
          const [a, b, c] = pointToIndex(hfs, indexToPoint(g, [i, j, k])).map((x) => Math.round(x));
          expect(mask[at(g, i, j, k)]).toBe(reference[at(hfs, a, b, c)]);
        }
  }

  it('HFS reference is sane', () => {
    expect(countOnes(reference)).toBeGreaterThan(100);
    expect(countOnes(reference.subarray(0, 320))).toBe(0); // z = 0: no contours
  });

  it('FFS (IOP -1 0 0 0 1 0, slices stacked feet to head) gives the same physical mask', () => {
    const ffs = grid(shape, spacing, [0.2 + 19 * 0.8, 0.1, 8], [-1, 0, 0, 0, 1, 0, 0, 0, -1]);
    const { mask } = rasteriseRoi(anatomy(), ffs);
    expect(countOnes(mask)).toBe(countOnes(reference));
    expectSamePhysicalMask(ffs, mask);
  });

  it('HFP (IOP -1 0 0 0 -1 0) gives the same physical mask', () => {
    const hfp = grid(shape, spacing, [0.2 + 19 * 0.8, 0.1 + 15 * 0.9, 0], [-1, 0, 0, 0, -1, 0, 0, 0, 1]);
    const { mask } = rasteriseRoi(anatomy(), hfp);
    expect(countOnes(mask)).toBe(countOnes(reference));
    expectSamePhysicalMask(hfp, mask);
  });

  it('an oblique grid and anatomy rotated together give the identical mask', () => {
    const R = rotation([1, 2, 3], 0.4);
    const centre: Vec3 = [8, 7, 4];
    const move = (p: Vec3): Vec3 => {
      const r = mulVec(R, [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]]);
      return [r[0] + centre[0], r[1] + centre[1], r[2] + centre[2]];
    };
    const oblique = grid(shape, spacing, move(hfs.origin), mulMat(R, hfs.direction as Mat3));
    const { mask, stats } = rasteriseRoi(anatomy(move), oblique);
    expect(stats.rasterised).toBe(6);
    expect(Array.from(mask)).toEqual(Array.from(reference));
  });
});
