import { describe, expect, it } from 'vitest';
import type { Mat3, Vec3 } from '@anatomynet/data';
import { annotationFindings, BONE_MIN_HU, predictionFindings, SHIFT_MIN_GAIN, SHIFT_MIN_MM, SHIFT_MIN_SHARE, SOFT_TISSUE_HU, STRAY_GAP_MM } from './annotation-checks';
import type { CaseRecord } from './manifest';
import { organMeasures, type OrganMeasures } from './organ-measures';
import { ORGANS, type OrganKey } from './organs';

describe('organMeasures', () => {
  const shape: Vec3 = [20, 10, 8];
  const spacing: Vec3 = [2, 1, 3];
  const origin: Vec3 = [-10, 5, 100];
  // i runs towards the patient's right (a flipped x axis): centres must come out in LPS all the same
  const direction: Mat3 = [-1, 0, 0, 0, 1, 0, 0, 0, 1];
  const n = shape[0] * shape[1] * shape[2];
  // CT numbers that tell voxels apart: 10 i + 100 j + 1000 k
  const image = { data: Int16Array.from({ length: n }, (_, p) => 10 * (p % shape[0]) + 100 * (Math.floor(p / shape[0]) % shape[1]) + 1000 * Math.floor(p / (shape[0] * shape[1]))), shape };
  const measures = (paint: (set: (i: number, j: number, k: number, v: number) => void) => void) => {
    const data = new Uint8Array(n);
    paint((i, j, k, v) => (data[i + shape[0] * (j + shape[1] * k)] = v));
    return organMeasures({ data, shape, spacing, origin, direction }, image);
  };
  const block = (set: (i: number, j: number, k: number, v: number) => void, v: number, lo: Vec3, hi: Vec3) => {
    for (let k = lo[2]; k <= hi[2]; k++) for (let j = lo[1]; j <= hi[1]; j++) for (let i = lo[0]; i <= hi[0]; i++) set(i, j, k, v);
  };

  it('gives each organ its mean HU and its centre in LPS mm through the direction matrix, one piece, nothing stray', () => {
    const g = measures((set) => {
      block(set, 6, [2, 1, 1], [3, 2, 2]); // Parotid_L: index centre (2.5, 1.5, 1.5)
      block(set, 1, [10, 4, 0], [10, 4, 0]); // BrainStem: one voxel
    });
    expect(Object.keys(g).sort()).toEqual(['BrainStem', 'Parotid_L']);
    expect(g.Parotid_L).toEqual({ meanHu: 10 * 2.5 + 100 * 1.5 + 1000 * 1.5, centroidMm: [-10 - 2 * 2.5, 5 + 1.5, 100 + 3 * 1.5], pieces: 1, strayVoxels: 0, strayGapMm: 0, strayChainGapMm: 0, gapSlices: 0 });
    expect(g.BrainStem).toMatchObject({ meanHu: 100 + 400, centroidMm: [-30, 9, 100] });
    expect(() => organMeasures({ data: new Uint8Array(n), shape, spacing, origin, direction }, { ...image, shape: [20, 10, 7] })).toThrow(/image 20x10x7 and label 20x10x8 differ/);
  });

  it('counts pieces (26-connected) and measures how far the farthest lies from the largest', () => {
    const g = measures((set) => {
      block(set, 3, [2, 1, 1], [3, 2, 2]);
      set(4, 3, 3, 3); // touches the block at a corner: the same piece, whose box now ends at i 4, k 3
      set(2, 1, 7, 3); // four slices above that: 12 mm away
      set(9, 2, 1, 3); // five columns across: 10 mm away
    });
    // k 4, 5 and 6 hold none: a run 12 mm across (3 mm slices), the stray piece's gap, not one in the contour
    // the two small pieces reach the block directly better than through each other: the chain's longest step is 12 mm too
    expect(g.Mandible).toMatchObject({ pieces: 3, strayVoxels: 2, strayGapMm: 12, strayChainGapMm: 12, gapSlices: 0 });
  });

  it('counts the slices between an organ\'s first and last that hold none of it, in runs under 10 mm across', () => {
    const g = measures((set) => {
      for (const k of [1, 3, 4, 6]) block(set, 6, [2, 1, k], [3, 2, k]); // Parotid_L on alternate slices, then two, then one
      block(set, 7, [12, 1, 0], [13, 2, 7]); // Parotid_R on every slice
      for (const k of [0, 2, 6]) block(set, 1, [16, 5, k], [17, 6, k]); // BrainStem: a 6 mm gap, then a 12 mm one
    });
    expect(g.Parotid_L).toMatchObject({ pieces: 3, gapSlices: 2, strayGapMm: 6, strayChainGapMm: 6 }); // voxel centres two 3 mm slices apart
    expect(g.Parotid_R).toMatchObject({ pieces: 1, gapSlices: 0 });
    expect(g.BrainStem).toMatchObject({ pieces: 3, gapSlices: 1 });
  });

  it('chains pieces: on alternate slices, the farthest piece is far from the largest but one step from the rest', () => {
    const g = measures((set) => {
      set(2, 1, 0, 6);
      block(set, 6, [2, 1, 2], [3, 2, 2]); // the largest
      for (const k of [4, 6]) set(2, 1, k, 6);
    });
    expect(g.Parotid_L).toMatchObject({ pieces: 4, gapSlices: 3, strayGapMm: 12, strayChainGapMm: 6 }); // 3 mm slices
  });
});

const geometry = (x: number, over: Partial<OrganMeasures> = {}): OrganMeasures => ({ meanHu: 40, centroidMm: [x, 0, 0], pieces: 1, strayVoxels: 0, strayGapMm: 0, ...over });

function record(caseId: string, g: Partial<Record<OrganKey, OrganMeasures>>, volumeMl: Partial<Record<OrganKey, number>> = {}): CaseRecord {
  const all = <T,>(f: (k: OrganKey) => T) => Object.fromEntries(ORGANS.map((o) => [o.key, f(o.key)])) as Record<OrganKey, T>;
  return {
    caseId,
    availability: all((k) => (g[k] || volumeMl[k] ? 'annotated' : 'not-annotated')),
    volumeMl: all((k) => volumeMl[k] ?? (g[k] ? 1 : 0)),
    voxels: all((k) => (g[k] ? 1000 : 0)),
    spacing: [1, 1, 2],
    // geometry()'s 40 HU is soft tissue; the mandible is bone
    measures: Object.fromEntries(Object.entries(g).map(([k, m]) => [k, k === 'Mandible' && m.meanHu === 40 ? { ...m, meanHu: 900 } : m])),
  } as unknown as CaseRecord;
}

describe('annotationFindings', () => {
  it('flags a left organ lying to the right of its partner (LPS: the left is +x), once for the pair', () => {
    const found = annotationFindings([
      record('hn_0001', { BrainStem: geometry(0), Parotid_L: geometry(-45), Parotid_R: geometry(44) }),
      record('hn_0002', { BrainStem: geometry(0), Parotid_L: geometry(45), Parotid_R: geometry(-44) }),
    ]);
    expect(found).toEqual([
      { caseId: 'hn_0001', check: 'sides', organs: ['Parotid_L', 'Parotid_R'], message: expect.stringContaining('Parotid_L lies to the patient\'s right of Parotid_R (centres at x -45.0 mm and 44.0 mm') },
    ]);
  });

  it('flags one organ across the midline organs beyond the tolerance, and none without a midline organ', () => {
    const found = annotationFindings([
      // the right optic nerve drawn on the left; the left submandibular 4 mm across the midline (within 5)
      record('hn_0003', { BrainStem: geometry(2), Mandible: geometry(-2), OpticNerve_L: geometry(15), OpticNerve_R: geometry(12), Submandibular_L: geometry(-4) }),
      record('hn_0004', { Parotid_R: geometry(40) }),
    ]);
    expect(found.map((f) => [f.caseId, f.organs])).toEqual([['hn_0003', ['OpticNerve_R']]]);
    expect(found[0]!.message).toBe("OpticNerve_R lies 12.0 mm to the patient's left of the midline (BrainStem, Mandible): the wrong side?");
  });

  it('a structure set\'s pieces chained by short steps are no stray piece; a model\'s are judged from the largest', () => {
    const alternate = { Parotid_L: geometry(10, { pieces: 6, strayVoxels: 40, strayGapMm: 20, strayChainGapMm: 6, gapSlices: 5 }), Mandible: geometry(0) };
    expect(annotationFindings([record('hn_0007', alternate)]).map((f) => f.check)).toEqual(['gap']);
    expect(predictionFindings(record('x', alternate)).map((f) => f.check)).toEqual(['stray-piece']);
    const farther = { Parotid_L: geometry(10, { pieces: 6, strayVoxels: 40, strayGapMm: 30, strayChainGapMm: 15, gapSlices: 5 }), Mandible: geometry(0) };
    expect(annotationFindings([record('hn_0008', farther)]).map((f) => f.message)).toEqual([
      'Parotid_L: 40 of its 1000 voxels (0.08 mL) lie in 5 other pieces, parted from the rest by up to 15.0 mm: a contour on a wrong slice?',
      'Parotid_L: 5 slices between its first and last hold no contour: a slice left out, or contours drawn on alternate slices and exported without their interpolation?',
    ]);
  });

  it('flags slices left out inside an organ, beside a stray piece when it has one too', () => {
    const found = annotationFindings([
      record('hn_0006', {
        Parotid_L: geometry(10, { pieces: 3, strayVoxels: 40, strayGapMm: 6, gapSlices: 2 }),
        Parotid_R: geometry(-10, { pieces: 6, strayVoxels: 40, strayGapMm: 20, gapSlices: 4 }), // alternate slices over 40 mm
        BrainStem: geometry(0, { gapSlices: 0 }),
        Mandible: geometry(0),
      }),
    ]);
    expect(found.map((f) => [f.check, f.organs])).toEqual([['stray-piece', ['Parotid_R']], ['gap', ['Parotid_L']], ['gap', ['Parotid_R']]]);
    expect(found[1]!.message).toBe('Parotid_L: 2 slices between its first and last hold no contour: a slice left out, or contours drawn on alternate slices and exported without their interpolation?');
  });

  it('flags a piece from the stray-gap threshold on', () => {
    const found = annotationFindings([
      record('hn_0005', { Mandible: geometry(0, { pieces: 2, strayVoxels: 30, strayGapMm: STRAY_GAP_MM }), BrainStem: geometry(0, { pieces: 3, strayVoxels: 5, strayGapMm: STRAY_GAP_MM - 0.1 }) }),
    ]);
    expect(found).toEqual([
      { caseId: 'hn_0005', check: 'stray-piece', organs: ['Mandible'], message: 'Mandible: 30 of its 1000 voxels (0.06 mL) lie in 1 other piece, up to 10.0 mm from the largest: a contour on a wrong slice?' },
    ]);
  });

  it('flags volumes far from the cohort median on both sides, only from 8 annotated cases and twice or half the median', () => {
    const usual = [24, 25, 26, 24.5, 25.5, 23, 27, 25];
    const cohort = (extra: number[]) => [...usual, ...extra].map((ml, i) => record(`hn_${String(i + 1).padStart(4, '0')}`, {}, { Parotid_L: ml }));
    const found = annotationFindings(cohort([61, 40, 11]));
    expect(found.map((f) => [f.caseId, f.check])).toEqual([['hn_0009', 'volume'], ['hn_0011', 'volume']]);
    expect(found[0]!.message).toBe('Parotid_L: 61.00 mL, 2.4 times the median of 25.00 mL over 11 cases: another structure under its name, or contours on extra slices?');
    expect(found[1]!.message).toMatch(/^Parotid_L: 11.00 mL, 1\/2.3 of the median .*contours missing on some slices\?$/);
    // 40 mL is far out by z but under twice the median; 7 cases are too few to judge by
    expect(annotationFindings(cohort([]).slice(0, 6).concat(record('hn_0099', {}, { Parotid_L: 80 })))).toEqual([]);
  });

  it('flags a mandible contour off the bone and soft-tissue organs on air, fat or bone, from the thresholds on', () => {
    const found = annotationFindings([
      record('hn_0006', { Mandible: geometry(0, { meanHu: BONE_MIN_HU - 0.1 }), BrainStem: geometry(0, { meanHu: SOFT_TISSUE_HU[1] + 0.1 }), Chiasm: geometry(0, { meanHu: SOFT_TISSUE_HU[0] }) }),
      record('hn_0007', { Mandible: geometry(0, { meanHu: BONE_MIN_HU }), Parotid_R: geometry(-40, { meanHu: -612 }) }),
    ]);
    expect(found.map((f) => `${f.caseId} ${f.check} ${f.organs[0]}`)).toEqual(['hn_0006 hu BrainStem', 'hn_0006 hu Mandible', 'hn_0007 hu Parotid_R']);
    expect(found[1]!.message).toBe('Mandible: mean 299.9 HU inside its contour, where bone is above 300: the contour off the organ (moved, or drawn on another scan)?');
    expect(found[2]!.message).toBe('Parotid_R: mean -612.0 HU inside its contour, where soft tissue lies between -250 and 250: the contour off the organ (moved, or drawn on another scan)?');
  });

  it('flags a mandible that a translation of 2 mm or more seats on at least 0.1 more bone, and at least half', () => {
    const aligned = (fraction: number, shiftMm: Vec3, shiftedFraction: number) => geometry(0, { boneAlignment: { fraction, shiftMm, shiftedFraction } });
    const found = annotationFindings([
      record('hn_0010', { Mandible: aligned(0.654, [3, -4, 0], 0.999) }),
      // the thresholds: 0.1 gained, 2 mm, half on bone
      record('hn_0011', { Mandible: aligned(0.5, [0, 0, -SHIFT_MIN_MM], 0.5 + SHIFT_MIN_GAIN) }),
      record('hn_0012', { Mandible: aligned(0.9, [1.2, 1.5, 0], 1) }),
      record('hn_0013', { Mandible: aligned(0.9, [0, 0, 5], 0.999) }),
      record('hn_0014', { Mandible: aligned(0.2, [0, 8, 0], SHIFT_MIN_SHARE - 0.01) }),
      record('hn_0015', { Mandible: aligned(1, [0, 0, 0], 1) }),
    ]);
    expect(found.map((f) => `${f.caseId} ${f.check} ${f.organs.join()}`)).toEqual(['hn_0010 shift Mandible', 'hn_0011 shift Mandible']);
    expect(found[0]!.message).toBe('Mandible: 65% of its contour lies on bone (above 200 HU), 100% when moved 5.0 mm (3.0 mm left, 4.0 mm anterior): the structure set shifted against this scan (drawn on another scan, or registered with an offset)? Every organ of the case may be off by as much');
    expect(found[1]!.message).toContain('50% of its contour lies on bone (above 200 HU), 60% when moved 2.0 mm (2.0 mm inferior)');
  });

  it('sorts by case, then check, then organ', () => {
    const found = annotationFindings([
      record('hn_0002', { BrainStem: geometry(0, { pieces: 2, strayVoxels: 1, strayGapMm: 30 }), Parotid_L: geometry(-40), Parotid_R: geometry(40) }),
      record('hn_0001', { Submandibular_R: geometry(0, { pieces: 2, strayVoxels: 1, strayGapMm: 30 }), Mandible: geometry(0, { pieces: 2, strayVoxels: 1, strayGapMm: 30 }) }),
    ]);
    expect(found.map((f) => `${f.caseId} ${f.check} ${f.organs[0]}`)).toEqual([
      'hn_0001 stray-piece Mandible',
      'hn_0001 stray-piece Submandibular_R',
      'hn_0002 sides Parotid_L',
      'hn_0002 stray-piece BrainStem',
    ]);
  });
});

describe('predictionFindings: the checks of a model\'s contours of one scan', () => {
  it('judges sides, stray pieces and CT numbers as for annotations, with what a model gets wrong as the cause', () => {
    const c = record('seg', {
      BrainStem: geometry(0), Mandible: geometry(0, { boneAlignment: { fraction: 0.6, shiftMm: [3, -4, 0], shiftedFraction: 1 } }),
      Parotid_L: geometry(-40), Parotid_R: geometry(40, { pieces: 2, strayVoxels: 20, strayGapMm: 25 }), Submandibular_L: geometry(20, { meanHu: -700 }),
    });
    const asAnnotation = annotationFindings([c]);
    const asPrediction = predictionFindings(c);
    // no shift: a model's contours are drawn on this scan whatever their bone
    expect(asAnnotation.map((f) => f.check)).toEqual(['sides', 'stray-piece', 'hu', 'shift']);
    expect(asPrediction.map((f) => [f.check, f.organs])).toEqual(asAnnotation.filter((f) => f.check !== 'shift').map((f) => [f.check, f.organs]));
    expect(asPrediction.map((f) => f.message.slice(f.message.lastIndexOf(': ') + 2))).toEqual([
      'the model confused the sides?', 'a false positive away from the organ?', 'the contour off the organ (a scan unlike those the model learned from)?',
    ]);
    asPrediction.forEach((f, i) => expect(f.message.slice(0, f.message.lastIndexOf(': '))).toBe(asAnnotation[i]!.message.slice(0, asAnnotation[i]!.message.lastIndexOf(': '))));
  });

  it('judges volumes against the model\'s training cases when given them, as the curator judges a cohort', () => {
    // 1000 voxels of 2 mm3: 2 mL; the training cases' parotids about 10 mL, their brainstems about 2 mL
    const c = record('seg', { Parotid_L: geometry(40), Parotid_R: geometry(-40), BrainStem: geometry(0) });
    const around = (ml: number) => [0.9, 0.95, 1, 1, 1.02, 1.05, 1.1, 0.97].map((f) => f * ml);
    const found = predictionFindings(c, { Parotid_L: around(10), Parotid_R: around(10).slice(0, 7), BrainStem: around(2) });
    expect(found).toEqual([{
      caseId: 'seg', check: 'volume', organs: ['Parotid_L'],
      message: "Parotid_L: 2.00 mL, 1/5.0 of the median of 10.00 mL over the model's 8 training cases: the organ partly missed?",
    }]);
    // fewer than 8 training volumes (Parotid_R) judge nothing; without them, no volume check at all
    expect(predictionFindings(c)).toEqual([]);
    const big = predictionFindings(c, { BrainStem: around(0.4) });
    expect(big.map((f) => f.message)).toEqual(["BrainStem: 2.00 mL, 5.0 times the median of 0.40 mL over the model's 8 training cases: a neighbouring structure taken for it, or a false positive joined to it?"]);
  });
});
