/**
 * Tissue layers of the head (canonical head frame, LPS mm, origin near the ear canals): skin and fat,
 * skull and skull base, brain, orbits, sinuses, teeth, pharynx, facial muscles. Painted in stage
 * order, later layers over earlier ones; organs come last (see patient.ts).
 */
import type { Vec3 } from '@anatomynet/data';
import type { OrganModel } from './organs';
import type { Rng } from './prng';
import { AxisBox, Difference, Ellipsoid, EllipticCylinder, HalfSpace, Intersection, rotX, rotZ, SweptTube, Union, type Shape } from './shapes';
import type { Tissue } from './tissues';

/** A tissue painted over a shape; lower stages first. */
export interface Layer {
  stage: number;
  tissue: Tissue;
  shape: Shape;
}

/** Paint stages (lower first). */
export const STAGE = { outline: 0, outlineInner: 1, softParts: 2, lungs: 3, bone: 4, boneInner: 5, contents: 6, tumour: 7, organs: 8, organInner: 9 } as const;

const inflate = (e: Ellipsoid, by: number): Ellipsoid => new Ellipsoid(e.center, [e.semi[0] + by, e.semi[1] + by, e.semi[2] + by], e.axes);

export interface HeadModel {
  layers: Layer[];
  /** Outer skin of the head (for the body outline / External ROI). */
  outline: Shape[];
  /** Highest point of the skull (canonical frame). */
  vertex: Vec3;
}

/**
 * @param h head scale (isotropic, about the origin).
 * @param fatMm subcutaneous fat thickness of the face and scalp.
 */
export function buildHead(rng: Rng, h: number, organs: OrganModel, fatMm: number): HeadModel {
  const H = (p: Vec3): Vec3 => [p[0] * h, p[1] * h, p[2] * h];
  const E = (c: Vec3, semi: Vec3, axes?: Ellipsoid['axes']) => new Ellipsoid(H(c), [semi[0] * h, semi[1] * h, semi[2] * h], axes);
  const layers: Layer[] = [];
  const add = (stage: number, tissue: Tissue, shape: Shape) => layers.push({ stage, tissue, shape });

  // --- outline: cranium, mid-face, nose, cheeks and jaw, chin, floor of mouth
  const cranium = E([0, 8, 10], [76, 98, 90]);
  const outlineEllipsoids: Array<[Ellipsoid, Shape | null]> = [
    [cranium, new HalfSpace([0, 0, -1], 40 * h)],
    [E([0, -45, -30], [68, 46, 40]), null],
    [E([0, -93, -36], [11, 13, 21], rotX(-15)), null],
    [E([0, -10, -58], [69, 62, 48]), null],
    [E([0, -55, -93], [50, 34, 26]), null],
    [E([0, -30, -112], [50, 40, 22]), null],
  ];
  const outline: Shape[] = [];
  for (const [e, clip] of outlineEllipsoids) {
    const outer = clip ? new Intersection([e, clip]) : e;
    const inner = clip ? new Intersection([inflate(e, -fatMm), clip]) : inflate(e, -fatMm);
    outline.push(outer);
    add(STAGE.outline, 'fat', outer);
    add(STAGE.outlineInner, 'soft', inner);
  }

  // --- muscles and fat pads of the face and upper neck
  for (const s of [1, -1]) {
    add(STAGE.softParts, 'muscle', E([s * 55, -24, -72], [8, 14, 24], rotZ(s * 10))); // masseter
    add(STAGE.softParts, 'muscle', E([s * 34, -14, -78], [7, 11, 20])); // medial pterygoid
    add(STAGE.softParts, 'fat', E([s * 24, -4, -68], [6, 9, 15])); // parapharyngeal fat
    add(STAGE.softParts, 'fat', new Difference(E([s * 30, -23, -118], [15, 18, 15]), [organs.mandibleDilated])); // submandibular fat
  }
  add(STAGE.softParts, 'muscle', E([0, -40, -84], [25, 31, 13])); // tongue
  if (rng.chance(0.5)) add(STAGE.contents, 'air', E([0, -42, -71], [16, 22, 1.8])); // air above the tongue

  // --- skull: outer table, diploe, inner table, clipped above a stepped skull base
  const floors: Array<[number, number, number, number, number, number]> = [
    // [x from, x to, y from, y to, z of the cranial floor, relative thickness of the bone below it]:
    // anterior, middle and posterior fossae;
    // lateral to the posterior fossa the temporal bones sit higher (above the ear canals and parotids).
    [-Infinity, Infinity, -Infinity, -30, -5, 0.4],
    [-Infinity, Infinity, -30, -2, -25, 0.7],
    [-42, 42, -2, Infinity, -48, 1],
    [42, Infinity, -2, Infinity, -24, 1],
    [-Infinity, -42, -2, Infinity, -24, 1],
  ];
  // Each region above the floor (lowered by `drop`) is convex: an ellipsoid cut by a box.
  const above = (e: Shape, drop: number): Shape[] =>
    floors.map(([x0, x1, y0, y1, z, t]) => new Intersection([e, new AxisBox([x0 * h, y0 * h, (z - drop * t) * h], [x1 * h, y1 * h, Infinity])]));
  const skullOuter = E([0, 8, 10], [70, 92, 84]);
  for (const s of above(skullOuter, 9)) add(STAGE.bone, 'cortical', s);
  for (const s of above(inflate(skullOuter, -2 * h), 7)) add(STAGE.bone, 'diploe', s);
  for (const s of above(inflate(skullOuter, -4.2 * h), 2.5)) add(STAGE.bone, 'cortical', s);
  // foramen magnum: a hole through the occipital floor
  add(STAGE.boneInner, 'csf', new Intersection([new EllipticCylinder([0, 27 * h], [14 * h, 17 * h], -60 * h, -45 * h), skullOuter]));
  const cavityParts = above(inflate(skullOuter, -6 * h), 0);
  const cavity = new Union(cavityParts);
  for (const s of cavityParts) add(STAGE.boneInner, 'greyMatter', s);
  for (const s of cavityParts) add(STAGE.contents, 'whiteMatter', new Intersection([E([0, 10, 18], [50, 66, 46]), s]));
  for (const s of cavityParts) add(STAGE.contents, 'whiteMatter', new Intersection([E([0, 45, -30], [40, 28, 15]), s])); // cerebellar white matter
  for (const s of [1, -1]) add(STAGE.contents, 'csf', E([s * 10, 6, 28], [6, 30, 10], rotZ(s * 8))); // lateral ventricles
  add(STAGE.contents, 'csf', E([0, -13, -13], [17, 12, 7])); // suprasellar cistern (the chiasm sits in it)
  add(STAGE.contents, 'csf', new Intersection([E([0, 8, -34], [14, 10, 22], rotX(18)), cavity])); // prepontine cistern

  // --- skull base: clivus, petrous bones, mastoids, ear canals, sphenoid sinus
  add(STAGE.bone, 'cortical', new SweptTube([{ p: H([0, -9, -24]), ru: 11 * h, rv: 4 * h, u: [1, 0, 0] }, { p: H([0, 4, -50]), ru: 9 * h, rv: 4 * h, u: [1, 0, 0] }]));
  for (const s of [1, -1]) {
    add(STAGE.bone, 'denseBone', E([s * 36, 13, -30], [10, 26, 8], rotZ(-s * 40)));
    add(STAGE.contents, 'mastoidAir', E([s * 50, 24, -40], [8, 10, 10]));
    add(STAGE.contents, 'air', new SweptTube([{ p: H([s * 68, 2, -30]), ru: 3.5 * h, rv: 3.5 * h }, { p: H([s * 49, 2, -30]), ru: 3 * h, rv: 3 * h }]));
  }
  add(STAGE.contents, 'air', E([0, -20, -38], [11, 10, 9]));

  // --- orbits: bony walls, fat, globes and lenses
  for (const [s, eye, lens] of [[1, organs.eyeL, organs.lensL], [-1, organs.eyeR, organs.lensR]] as const) {
    const orbit = E([s * 30, -57, -22], [18, 28, 17]);
    add(STAGE.bone, 'cortical', orbit);
    add(STAGE.boneInner, 'orbitalFat', inflate(orbit, -1.6 * h));
    add(STAGE.contents, 'vitreous', eye);
    add(STAGE.contents, 'lens', lens);
  }

  // --- nose and paranasal sinuses, hard palate, zygomatic arches, teeth
  const nasal = E([0, -62, -44], [17, 30, 23]);
  add(STAGE.bone, 'cortical', nasal);
  add(STAGE.boneInner, 'air', inflate(nasal, -1.3 * h));
  add(STAGE.contents, 'soft', new AxisBox(H([-1.2, -90, -66]), H([1.2, -36, -24]))); // septum
  for (const s of [1, -1]) {
    const sinus = E([s * 30, -54, -46], [15, 18, 16]);
    add(STAGE.bone, 'cortical', sinus);
    add(STAGE.boneInner, 'air', inflate(sinus, -1.3 * h));
    add(STAGE.bone, 'cortical', new SweptTube([
      { p: H([s * 42, -62, -32]), ru: 5 * h, rv: 3 * h, u: [0, 0, 1] },
      { p: H([s * 58, -30, -34]), ru: 5 * h, rv: 3 * h, u: [0, 0, 1] },
      { p: H([s * 60, -4, -30]), ru: 4 * h, rv: 3 * h, u: [0, 0, 1] },
    ]));
  }
  add(STAGE.contents, 'air', E([0, -76, 12], [12, 5, 9])); // frontal sinus
  add(STAGE.bone, 'cortical', E([0, -48, -65], [22, 26, 3.5])); // hard palate
  const arch = (z: number, ru: number, scaleXY: number): Shape =>
    new SweptTube(
      ([[34, -38], [28, -58], [14, -72], [0, -76], [-14, -72], [-28, -58], [-34, -38]] as const).map(([x, y]) => ({
        p: H([x * scaleXY, -35 + (y + 35) * scaleXY, z]),
        ru: ru * h,
        rv: 4.2 * h,
        u: [0, 0, 1] as Vec3,
      })),
    );
  add(STAGE.bone, 'teeth', arch(-76, 5.5, 1.0));
  add(STAGE.bone, 'teeth', new Difference(arch(-87, 5, 0.97), [organs.organs.Mandible]));

  // --- pharynx (upper airway; the larynx and trachea belong to the neck)
  add(STAGE.contents, 'air', new SweptTube([
    { p: H([0, -34, -46]), ru: 10 * h, rv: 6 * h, u: [1, 0, 0] },
    { p: H([0, -18, -50]), ru: 13 * h, rv: 7 * h, u: [1, 0, 0] },
    { p: H([0, -6, -62]), ru: 12 * h, rv: 6.5 * h, u: [1, 0, 0] },
    { p: H([0, -4, -82]), ru: 11 * h, rv: 5.5 * h, u: [1, 0, 0] },
    { p: H([0, -7, -100]), ru: 12 * h, rv: 6 * h, u: [1, 0, 0] },
    { p: H([0, -11, -116]), ru: 11 * h, rv: 6 * h, u: [1, 0, 0] },
  ]));
  // hyoid bone
  add(STAGE.bone, 'cortical', new SweptTube(([[20, -16], [15, -32], [0, -37], [-15, -32], [-20, -16]] as const).map(([x, y]) => ({ p: H([x, y, -119]), ru: 3 * h, rv: 3 * h }))));

  return { layers, outline, vertex: [cranium.center[0], cranium.center[1], cranium.center[2] + cranium.semi[2]] };
}
