/**
 * The nine organs at risk (and the eyes they hang on), as analytic shapes in the canonical head frame:
 * LPS mm, x = patient left, y = posterior, z = superior, origin near the ear canals, before the case's
 * pose. Sizes are drawn from target volumes (mL) and fitted numerically, positions and rotations jitter
 * per case. The shapes are made mutually exclusive, as in PDDCA's label maps.
 */
import type { Vec3 } from '@anatomynet/data';
import type { Rng } from './prng';
import { shapeVolumeMm3 } from './raster';
import { Difference, Ellipsoid, matMul, rotX, rotY, rotZ, SweptTube, Union, type Shape, type TubeNode } from './shapes';
import type { SynthOrgan } from './tissues';

export interface OrganModel {
  /** Canonical-frame shapes, mutually exclusive. */
  organs: Record<SynthOrgan, Shape>;
  /** Inner part of the mandible painted as marrow (inside organs.Mandible). */
  mandibleMarrow: Shape;
  eyeL: Ellipsoid;
  eyeR: Ellipsoid;
  lensL: Ellipsoid;
  lensR: Ellipsoid;
  /** The mandible grown by ~2 mm (for the fat and muscle that must stay clear of it). */
  mandibleDilated: Shape;
  /** The target volumes the sizes were fitted to (mL). */
  targetMl: Partial<Record<SynthOrgan, number>>;
}

type Side = 1 | -1;
const SIDES: ReadonlyArray<[Side, 'L' | 'R']> = [[1, 'L'], [-1, 'R']];

function jitter(rng: Rng, p: Vec3, sd: number): Vec3 {
  return [p[0] + rng.normalIn(0, sd, -2.5 * sd, 2.5 * sd), p[1] + rng.normalIn(0, sd, -2.5 * sd, 2.5 * sd), p[2] + rng.normalIn(0, sd, -2.5 * sd, 2.5 * sd)];
}

const mirror = (p: Vec3, s: Side): Vec3 => [p[0] * s, p[1], p[2]];

/**
 * Scales a shape family to a target volume: `build(s)` must grow with s like s³. Two secant steps
 * on a volume estimate with `stepMm` resolution; returns the final shape.
 */
function fitToVolume(build: (s: number) => Shape, targetMm3: number, stepMm: number): Shape {
  let s = 1;
  let shape = build(s);
  for (let it = 0; it < 2; it++) {
    const v = shapeVolumeMm3(shape, stepMm);
    if (v <= 0) break;
    s *= Math.cbrt(targetMm3 / v);
    shape = build(s);
  }
  return shape;
}

function mandibleNodes(side: Side, grow: number, radiusScale: number, k: number, centre: Vec3): TubeNode[] {
  // Ramus from the condylar neck down to the angle (cross-section wide AP, thin LR), then the body
  // forward to the midline (tall in z, thin across).
  const ramus: Array<[Vec3, number, number]> = [
    [[48, -9, -40], 8, 4.2],
    [[47, -8, -62], 13, 4.5],
    [[45, -11, -90], 11, 5],
  ];
  const body: Array<[Vec3, number, number]> = [
    [[41, -25, -100], 11.5, 5.5],
    [[34, -45, -103], 12, 5.5],
    [[23, -63, -104], 12, 5.5],
    [[11, -74, -105], 12.5, 6],
    [[0, -78, -105], 13, 6.5],
  ];
  const place = (p: Vec3): Vec3 => {
    const q = mirror(p, side);
    return [centre[0] + (q[0] - 0) * k, centre[1] + (q[1] + 35) * k, centre[2] + (q[2] + 90) * k];
  };
  const nodes: TubeNode[] = [];
  for (const [p, ru, rv] of ramus) nodes.push({ p: place(p), ru: ru * radiusScale * k + grow, rv: rv * radiusScale * k + grow, u: [0, 1, 0] });
  for (const [p, ru, rv] of body) nodes.push({ p: place(p), ru: ru * radiusScale * k + grow, rv: rv * radiusScale * k + grow, u: [0, 0, 1] });
  return nodes;
}

/**
 * Mandible: one swept tube from condyle to condyle, plus condylar heads, coronoid processes and the
 * chin; `k` scales it about `centre`, `grow` (mm) dilates it, `radiusScale` < 1 gives the marrow core.
 */
function buildMandible(k: number, centre: Vec3, grow: number, radiusScale: number): Shape {
  // Left condyle -> left angle -> chin -> right angle -> right condyle.
  const left = mandibleNodes(1, grow, radiusScale, k, centre);
  const right = mandibleNodes(-1, grow, radiusScale, k, centre).reverse();
  const tube = new SweptTube([...left, ...right.slice(1)]);
  if (radiusScale < 1) return tube;
  const place = (p: Vec3): Vec3 => [centre[0] + p[0] * k, centre[1] + (p[1] + 35) * k, centre[2] + (p[2] + 90) * k];
  const parts: Shape[] = [tube];
  for (const [side] of SIDES) {
    parts.push(new Ellipsoid(place(mirror([48, -6, -35], side)), [9 * k + grow, 5 * k + grow, 5.5 * k + grow]));
    // coronoid process
    parts.push(new SweptTube([
      { p: place(mirror([45, -18, -60], side)), ru: 4.5 * k + grow, rv: 2.8 * k + grow, u: [0, 1, 0] },
      { p: place(mirror([43, -27, -44], side)), ru: 3.5 * k + grow, rv: 2.4 * k + grow, u: [0, 1, 0] },
    ]));
  }
  parts.push(new Ellipsoid(place([0, -80, -111]), [13 * k + grow, 6 * k + grow, 7 * k + grow]));
  return new Union(parts);
}

/**
 * Draws one case's organs.
 * @param headScale isotropic scale of the head (positions), ~0.93-1.07.
 */
export function buildOrgans(rng: Rng, headScale: number): OrganModel {
  const h = headScale;
  const H = (p: Vec3): Vec3 => [p[0] * h, p[1] * h, p[2] * h];
  const targetMl: Partial<Record<SynthOrgan, number>> = {};

  // Eyes (not organs here, but the optic nerves start at their back).
  const eyeR0 = rng.uniform(11, 12.5);
  const eyes = SIDES.map(([side]) => {
    const c = jitter(rng, H(mirror([32, -71, -22], side)), 1);
    return { eye: new Ellipsoid(c, [eyeR0, eyeR0 * 1.02, eyeR0]), lens: new Ellipsoid([c[0], c[1] - eyeR0 + 2.2, c[2]], [4.5, 1.8, 4.5]) };
  });

  // Mandible (bone): size factor on top of the head scale.
  const mk = h * rng.uniform(0.93, 1.08);
  const mCentre = jitter(rng, H([0, -35, -90]), 1.5);
  const mandible = buildMandible(mk, mCentre, 0, 1);
  const mandibleMarrow = buildMandible(mk, mCentre, 0, 0.5);
  const mandibleDilated = buildMandible(mk, mCentre, 2, 1);

  // Chiasm: a flat ellipsoid over 1-3 slices, 0.2-0.5 mL.
  targetMl.Chiasm = rng.uniform(0.24, 0.45);
  const chiasmC = jitter(rng, H([0, -15, -12]), 1.2);
  const chiasmAxes = matMul(rotX(rng.uniform(-6, 6)), rotZ(rng.uniform(-4, 4)));
  const ratio: Vec3 = [1, rng.uniform(0.55, 0.65), rng.uniform(0.24, 0.3)];
  const a = Math.cbrt((targetMl.Chiasm * 1000 * 3) / (4 * Math.PI * ratio[1] * ratio[2]));
  const chiasm = new Ellipsoid(chiasmC, [a, a * ratio[1], a * ratio[2]], chiasmAxes);

  // Optic nerves: thin tubes from the back of each globe, through the optic canal, to the chiasm.
  const nerveR = rng.uniform(1.7, 2.2);
  const nerves = SIDES.map(([side], idx) => {
    const eye = eyes[idx]!.eye;
    const start: Vec3 = [eye.center[0] - side * 1.5, eye.center[1] + eye.semi[1] - 1.5, eye.center[2]];
    const end: Vec3 = [chiasmC[0] + side * a * 0.6, chiasmC[1] - a * ratio[1] * 0.3, chiasmC[2]];
    const lerp = (t: number, bend: Vec3): Vec3 => [
      start[0] + (end[0] - start[0]) * t + bend[0],
      start[1] + (end[1] - start[1]) * t + bend[1],
      start[2] + (end[2] - start[2]) * t + bend[2],
    ];
    const r = nerveR * rng.uniform(0.92, 1.08);
    const sag = rng.uniform(-1.5, 1.5);
    const tube = new SweptTube([
      { p: start, ru: r * 1.1, rv: r * 1.1 },
      { p: lerp(0.35, [side * 1.5, 0, sag]), ru: r, rv: r },
      { p: lerp(0.7, [side * 0.8, 0, sag * 0.5]), ru: r * 0.95, rv: r * 0.95 },
      { p: end, ru: r * 0.9, rv: r * 0.9 },
    ]);
    return new Difference(tube, [eye, chiasm]);
  });

  // Brainstem: a tilted ellipsoid, 20-30 mL.
  targetMl.BrainStem = rng.uniform(21, 29);
  const bsRatio: Vec3 = [1, rng.uniform(0.85, 0.95), rng.uniform(1.9, 2.2)];
  const bsA = Math.cbrt((targetMl.BrainStem * 1000 * 3) / (4 * Math.PI * bsRatio[1] * bsRatio[2]));
  const brainStem = new Ellipsoid(jitter(rng, H([0, 15, -31]), 1.5), [bsA, bsA * bsRatio[1], bsA * bsRatio[2]], matMul(rotX(rng.uniform(14, 22)), rotY(rng.uniform(-3, 3))));

  // Parotids: superficial lobe over the ramus plus a deep lobe behind it, minus the mandible; 20-30 mL.
  const parotids = SIDES.map(([side]) => {
    const target = rng.uniform(21.5, 28.5);
    targetMl[side === 1 ? 'Parotid_L' : 'Parotid_R'] = target;
    const sup = jitter(rng, H(mirror([51, 4, -58], side)), 1.5);
    const deep = jitter(rng, H(mirror([40, 11, -64], side)), 1.2);
    const supAxes = matMul(rotZ(side * rng.uniform(8, 20)), rotY(side * rng.uniform(-8, 8)));
    const supSemi: Vec3 = [rng.uniform(10, 12), rng.uniform(16, 19), rng.uniform(21, 25)];
    const deepSemi: Vec3 = [rng.uniform(6, 8), rng.uniform(8, 10), rng.uniform(11, 14)];
    return fitToVolume(
      (s) =>
        new Difference(
          new Union([new Ellipsoid(sup, [supSemi[0] * s, supSemi[1] * s, supSemi[2] * s], supAxes), new Ellipsoid(deep, [deepSemi[0] * s, deepSemi[1] * s, deepSemi[2] * s])]),
          [mandibleDilated],
        ),
      target * 1000,
      0.75,
    );
  });

  // Submandibular glands: under the mandible body, minus the mandible; 7-10 mL.
  const glands = SIDES.map(([side]) => {
    const target = rng.uniform(7.3, 9.7);
    targetMl[side === 1 ? 'Submandibular_L' : 'Submandibular_R'] = target;
    const c = jitter(rng, H(mirror([30, -23, -118], side)), 1.5);
    const axes = matMul(rotZ(side * rng.uniform(12, 28)), rotX(rng.uniform(-10, 10)));
    const semi: Vec3 = [rng.uniform(9, 11), rng.uniform(12, 14), rng.uniform(9.5, 11.5)];
    return fitToVolume((s) => new Difference(new Ellipsoid(c, [semi[0] * s, semi[1] * s, semi[2] * s], axes), [mandibleDilated]), target * 1000, 0.5);
  });

  const raw: Record<SynthOrgan, Shape> = {
    Mandible: mandible,
    Chiasm: chiasm,
    OpticNerve_L: nerves[0]!,
    OpticNerve_R: nerves[1]!,
    BrainStem: brainStem,
    Parotid_L: parotids[0]!,
    Parotid_R: parotids[1]!,
    Submandibular_L: glands[0]!,
    Submandibular_R: glands[1]!,
  };
  // Exclusive by priority (the order above): a later organ loses voxels it shares with an earlier one.
  const order = Object.keys(raw) as SynthOrgan[];
  const organs = {} as Record<SynthOrgan, Shape>;
  order.forEach((name, i) => {
    organs[name] = i === 0 ? raw[name] : new Difference(raw[name], order.slice(0, i).map((n) => raw[n]));
  });
  return {
    organs,
    mandibleMarrow,
    mandibleDilated,
    eyeL: eyes[0]!.eye,
    eyeR: eyes[1]!.eye,
    lensL: eyes[0]!.lens,
    lensR: eyes[1]!.lens,
    targetMl,
  };
}
