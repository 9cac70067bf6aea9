import { describe, expect, it } from 'vitest';
import type { Vec3 } from '@anatomynet/data';
import { generateCase, organMask, dilateMask } from './case';
import { planRois, drawAnnotated } from './rois';
import { samplePatient } from './patient';
import { Rng } from './prng';
import { forEachVoxelIn, rasteriseShape, shapeVolumeMm3, type Grid } from './raster';
import { Difference, Ellipsoid, EllipticCylinder, Intersection, Posed, rotX, rotZ, matMul, SweptTube, Union, AxisBox, type Shape } from './shapes';
import { SYNTH_ORGANS, type SynthOrgan } from './tissues';

const IDENTITY_GRID = (shape: Vec3, spacing: Vec3, origin: Vec3): Grid => ({ shape, spacing, origin, direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] });

describe('Rng', () => {
  it('gives the same stream for the same name and different streams for different names', () => {
    const a = Rng.from(1, 'x'), b = Rng.from(1, 'x'), c = Rng.from(1, 'y');
    const sa = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(sa);
  });
  it('draws uniform numbers with the right mean and normal numbers with the right spread', () => {
    const r = Rng.from('stats');
    let s = 0, s2 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) s += r.next();
    expect(s / n).toBeCloseTo(0.5, 1);
    s = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.sqrt(s2 / n)).toBeGreaterThan(0.97);
    expect(Math.sqrt(s2 / n)).toBeLessThan(1.03);
  });
});

describe('shapes', () => {
  it('an ellipsoid sampled on a fine grid has its analytic volume', () => {
    const e = new Ellipsoid([3, -2, 5], [10, 6, 4], rotX(30));
    expect(shapeVolumeMm3(e, 0.25)).toBeCloseTo(e.volumeMm3, -1); // 1005.3 mm³ within ±5
    expect(Math.abs(shapeVolumeMm3(e, 0.25) / e.volumeMm3 - 1)).toBeLessThan(0.01);
  });

  it('a straight swept tube has the volume of a cylinder with hemispherical caps', () => {
    const t = new SweptTube([{ p: [0, 0, 0], ru: 2, rv: 2 }, { p: [30, 0, 0], ru: 2, rv: 2 }]);
    const expected = Math.PI * 4 * 30 + (4 / 3) * Math.PI * 8;
    expect(Math.abs(shapeVolumeMm3(t, 0.2) / expected - 1)).toBeLessThan(0.02);
  });

  it('lineRange covers exactly the inside of convex shapes and a superset for the others', () => {
    const shapes: Shape[] = [
      new Ellipsoid([1, 2, 3], [8, 5, 3], matMul(rotZ(20), rotX(-35))),
      new EllipticCylinder([0, 1], [7, 4], -3, 5),
      new AxisBox([-2, -3, -4], [5, 1, 2]),
      new Posed(new Ellipsoid([0, 0, 0], [6, 3, 2]), { R: rotZ(40), t: [2, -1, 0.5] }),
      new Intersection([new Ellipsoid([0, 0, 0], [9, 9, 9]), new AxisBox([-20, -20, -2], [20, 20, 20])]),
      new Difference(new Ellipsoid([0, 0, 0], [9, 6, 6]), [new Ellipsoid([3, 0, 0], [3, 3, 3])]),
      new Union([new Ellipsoid([-6, 0, 0], [3, 3, 3]), new Ellipsoid([6, 0, 0], [3, 3, 3])]),
      new SweptTube([{ p: [-8, 0, 0], ru: 2, rv: 1, u: [0, 0, 1] }, { p: [0, 5, 1], ru: 3, rv: 1.5, u: [0, 0, 1] }, { p: [8, 0, 2], ru: 2, rv: 1, u: [0, 0, 1] }]),
    ];
    const rng = Rng.from('lines');
    for (const s of shapes) {
      for (let n = 0; n < 200; n++) {
        const o: Vec3 = [rng.uniform(-12, 12), rng.uniform(-12, 12), rng.uniform(-12, 12)];
        const d: Vec3 = [rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)];
        const r = s.lineRange(o, d);
        for (let t = -30; t <= 30; t += 0.37) {
          const p: Vec3 = [o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]];
          const inRange = r !== null && t >= r[0] - 1e-9 && t <= r[1] + 1e-9;
          const inside = s.contains(p[0], p[1], p[2]);
          if (inside) expect(inRange).toBe(true);
          if (s.convex && inRange && r && t > r[0] + 1e-6 && t < r[1] - 1e-6) expect(inside).toBe(true);
        }
      }
    }
  });

  it('rasterising on a rotated (FFS-like) grid finds the same voxels as testing every voxel centre', () => {
    const e = new Posed(new Ellipsoid([0, 0, 0], [7, 4, 3]), { R: rotZ(25), t: [1, 2, 3] });
    const grid: Grid = { shape: [20, 18, 9], spacing: [0.9, 0.9, 2], origin: [9, -8, 10], direction: [-1, 0, 0, 0, 1, 0, 0, 0, -1] };
    const mask = rasteriseShape(grid, e);
    let brute = 0, same = 0;
    for (let k = 0; k < 9; k++) {
      for (let j = 0; j < 18; j++) {
        for (let i = 0; i < 20; i++) {
          const p: Vec3 = [9 - 0.9 * i, -8 + 0.9 * j, 10 - 2 * k];
          const inside = e.contains(...p);
          brute += inside ? 1 : 0;
          if (inside === (mask[i + 20 * (j + 18 * k)] === 1)) same++;
        }
      }
    }
    expect(brute).toBeGreaterThan(50);
    expect(same).toBe(20 * 18 * 9);
    let visited = 0;
    forEachVoxelIn(grid, e, () => visited++);
    expect(visited).toBe(brute);
  });
});

describe('synthetic anatomy', () => {
  const patients = [0, 1, 2, 3, 4, 5].map((i) => samplePatient(Rng.from('anatomy-test', i)));

  it('draws organ volumes in the stated ranges (analytic, grid-free)', () => {
    const ranges: Record<SynthOrgan, [number, number]> = {
      BrainStem: [20, 30],
      Chiasm: [0.2, 0.5],
      Mandible: [40, 110],
      OpticNerve_L: [0.25, 1.2],
      OpticNerve_R: [0.25, 1.2],
      Parotid_L: [20, 30],
      Parotid_R: [20, 30],
      Submandibular_L: [7, 10],
      Submandibular_R: [7, 10],
    };
    for (const p of patients) {
      for (const o of SYNTH_ORGANS) {
        const step = o === 'Mandible' ? 1 : o === 'Chiasm' || o.startsWith('Optic') ? 0.3 : 0.6;
        const ml = shapeVolumeMm3(p.organs[o], step) / 1000;
        expect(ml, `${o}`).toBeGreaterThanOrEqual(ranges[o][0]);
        expect(ml, `${o}`).toBeLessThanOrEqual(ranges[o][1]);
      }
    }
  });

  it('varies size and position between patients and keeps organs on their side', () => {
    const centre = (s: Shape) => s.bounds.min.map((v, a) => (v + s.bounds.max[a]!) / 2);
    const xs = patients.map((p) => centre(p.organs.Parotid_L)[0]!);
    expect(Math.max(...xs) - Math.min(...xs)).toBeGreaterThan(3);
    for (const p of patients) {
      // LPS: +x is the patient's left.
      expect(centre(p.organs.Parotid_L)[0]).toBeGreaterThan(centre(p.organs.Parotid_R)[0]!);
      expect(centre(p.organs.OpticNerve_L)[0]).toBeGreaterThan(centre(p.organs.OpticNerve_R)[0]!);
      expect(centre(p.organs.Submandibular_L)[0]).toBeGreaterThan(centre(p.organs.Submandibular_R)[0]!);
      // Superior to inferior: chiasm above brainstem centre above parotids above submandibular glands.
      expect(centre(p.organs.Chiasm)[2]).toBeGreaterThan(centre(p.organs.BrainStem)[2]!);
      expect(centre(p.organs.BrainStem)[2]).toBeGreaterThan(centre(p.organs.Parotid_L)[2]!);
      expect(centre(p.organs.Parotid_L)[2]).toBeGreaterThan(centre(p.organs.Submandibular_L)[2]!);
      // Chest below the head: the lung apex lies well below the mandible.
      expect(p.landmarks.lungApexZ).toBeLessThan(p.organs.Mandible.bounds.min[2] - 40);
    }
  });

  it('makes the nine organs mutually exclusive', () => {
    const p = patients[0]!;
    const b = p.organs.Mandible.bounds;
    const grid = IDENTITY_GRID([150, 170, 200], [1, 1, 1], [b.min[0] - 20, b.min[1] - 60, b.min[2] - 30]);
    const count = new Uint8Array(150 * 170 * 200);
    for (const o of SYNTH_ORGANS) forEachVoxelIn(grid, p.organs[o], (off) => count[off]++);
    let overlap = 0, any = 0;
    for (const c of count) {
      if (c > 1) overlap++;
      if (c > 0) any++;
    }
    expect(any).toBeGreaterThan(100_000);
    expect(overlap).toBe(0);
  });
});

describe('synthetic CT', () => {
  const c = generateCase('hu-test', 0, 'dicom', { matrix: 160, sliceMm: 2 });

  it('renders plausible CT numbers: air outside, soft tissue, bone, lungs', () => {
    const d = c.ct.data;
    expect(d[0]).toBeLessThan(-900); // corner voxel: air
    let bone = 0, lung = 0, soft = 0;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v > 700) bone++;
      else if (v < -700 && v > -900) lung++;
      else if (v > 0 && v < 80) soft++;
    }
    expect(bone / d.length).toBeGreaterThan(0.01);
    expect(lung / d.length).toBeGreaterThan(0.005);
    expect(soft / d.length).toBeGreaterThan(0.15);
  });

  it('gives every organ a mean HU different from its 3 mm surroundings', () => {
    const grid = c.geometry.grid;
    const [nx, ny] = grid.shape;
    const mean = (m: ReturnType<typeof organMask>, exclude?: ReturnType<typeof organMask>) => {
      let s = 0, n = 0;
      for (let k = 0; k < m.shape[2]; k++) for (let j = 0; j < m.shape[1]; j++) for (let i = 0; i < m.shape[0]; i++) {
        if (!m.data[i + m.shape[0] * (j + m.shape[1] * k)]) continue;
        const gi = i + m.lo[0], gj = j + m.lo[1], gk = k + m.lo[2];
        if (exclude) {
          const a = gi - exclude.lo[0], b = gj - exclude.lo[1], cc = gk - exclude.lo[2];
          if (a >= 0 && b >= 0 && cc >= 0 && a < exclude.shape[0] && b < exclude.shape[1] && cc < exclude.shape[2] && exclude.data[a + exclude.shape[0] * (b + exclude.shape[1] * cc)]) continue;
        }
        s += c.ct.data[gi + nx * (gj + ny * gk)]!;
        n++;
      }
      return s / n;
    };
    const diffs: Record<string, number> = {};
    for (const o of SYNTH_ORGANS) {
      const m = organMask(c, o);
      const inside = mean(m), around = mean(dilateMask(m, grid, 3), m);
      diffs[o] = inside - around;
      expect(Math.abs(inside - around), `${o}: ${inside.toFixed(1)} vs ${around.toFixed(1)}`).toBeGreaterThan(5);
    }
    expect(diffs.Parotid_L).toBeLessThan(0); // fatty parotids are darker than the tissue around them
    expect(diffs.Submandibular_L).toBeGreaterThan(0);
    expect(diffs.Mandible).toBeGreaterThan(300);
  });
});

describe('annotations and names', () => {
  it('leaves organs unannotated at about the paper rates (261 CTs)', () => {
    const rng = Rng.from('rates');
    const n = 3000;
    const counts = Object.fromEntries(SYNTH_ORGANS.map((o) => [o, 0])) as Record<SynthOrgan, number>;
    for (let i = 0; i < n; i++) {
      const a = drawAnnotated(rng, 'dicom');
      for (const o of SYNTH_ORGANS) counts[o] += a[o] ? 1 : 0;
    }
    const paper: Record<SynthOrgan, number> = { BrainStem: 196, Chiasm: 129, Mandible: 227, OpticNerve_L: 133, OpticNerve_R: 133, Parotid_L: 257, Parotid_R: 256, Submandibular_L: 135, Submandibular_R: 130 };
    for (const o of SYNTH_ORGANS) expect(Math.abs(counts[o] / n - paper[o] / 261), o).toBeLessThan(0.04);
  });

  it('plans structure sets with organ names in several spellings, planning distractors and POINT markers', () => {
    const all = Object.fromEntries(SYNTH_ORGANS.map((o) => [o, true])) as Record<SynthOrgan, boolean>;
    const names = new Map<SynthOrgan, Set<string>>(SYNTH_ORGANS.map((o) => [o, new Set<string>()]));
    const distractors = new Set<string>();
    let points = 0;
    for (let i = 0; i < 60; i++) {
      const { rois } = planRois(Rng.from('plan', i), all, [0, 0, -80]);
      const lower = rois.map((r) => r.name.toLowerCase());
      expect(new Set(lower).size).toBe(lower.length); // unique names within a structure set
      for (const r of rois) {
        if (r.role === 'organ') names.get(r.organ!)!.add(r.name);
        if (r.role === 'distractor') distractors.add(r.name);
        if (r.role === 'point') points++;
      }
    }
    for (const o of SYNTH_ORGANS) expect(names.get(o)!.size, o).toBeGreaterThanOrEqual(4);
    expect(names.get('Parotid_L')).toContain('Parotid_L');
    expect(names.get('OpticNerve_L')).toContain('OpticNrv_L');
    for (const d of ['External', 'PTV70']) expect(distractors).toContain(d);
    expect([...distractors].some((d) => /prv|\+3mm/i.test(d) && /brain/i.test(d))).toBe(true);
    expect([...distractors].some((d) => /avoid/i.test(d))).toBe(true);
    expect(points).toBeGreaterThan(10);
  });
});
