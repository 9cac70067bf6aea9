/**
 * Tissue layers below the skull (canonical frame, LPS mm): neck, cervical and upper thoracic spine with
 * canal and cord, larynx, trachea, thyroid, great vessels, shoulders and upper chest (lungs, clavicles,
 * first ribs, sternum, scapulae, humeral heads), so that a chest crop has something to remove.
 */
import type { Vec3 } from '@anatomynet/data';
import { STAGE, type Layer } from './head';
import type { Rng } from './prng';
import { Difference, Ellipsoid, EllipticCylinder, rotZ, SweptTube, type Shape, type TubeNode } from './shapes';
import type { Tissue } from './tissues';

export interface BodyModel {
  layers: Layer[];
  outline: Shape[];
  spinalCord: Shape;
  /** Top of the lungs (canonical z, mm). */
  lungApexZ: number;
  lungs: [Shape, Shape];
}

/**
 * @param width scale of the neck and chest across (x, y).
 * @param neckLength scale of z below the skull base.
 * @param fatMm subcutaneous fat thickness of the neck and chest.
 */
export function buildBody(rng: Rng, width: number, neckLength: number, fatMm: number): BodyModel {
  const B = (p: Vec3): Vec3 => [p[0] * width, p[1] * width, p[2] < -60 ? -60 + (p[2] + 60) * neckLength : p[2]];
  const Z = (z: number) => B([0, 0, z])[2];
  const E = (c: Vec3, semi: Vec3, axes?: Ellipsoid['axes']) => new Ellipsoid(B(c), [semi[0] * width, semi[1] * width, semi[2] * neckLength], axes);
  const C = (cx: number, cy: number, sx: number, sy: number, z0: number, z1: number) =>
    new EllipticCylinder([cx * width, cy * width], [sx * width, sy * width], Z(z0), Z(z1));
  const T = (pts: Array<[number, number, number]>, r: number, rv = r, u?: Vec3): Shape =>
    new SweptTube(pts.map((p): TubeNode => ({ p: B(p), ru: r * width, rv: rv * width, ...(u ? { u } : {}) })));
  const layers: Layer[] = [];
  const add = (stage: number, tissue: Tissue, shape: Shape) => layers.push({ stage, tissue, shape });

  // --- outline: neck, trapezius slope, shoulders, chest (fat shell over soft tissue)
  const outline: Shape[] = [];
  const shells: Array<[Shape, Shape]> = [
    [C(0, 15, 56, 56, -235, -30), C(0, 15, 56 - fatMm, 56 - fatMm, -235, -30)],
    [E([0, 35, -215], [140, 62, 45]), E([0, 35, -215], [140 - fatMm, 62 - fatMm, 45 - fatMm])],
    [E([0, 25, -275], [185, 105, 75]), E([0, 25, -275], [185 - fatMm, 105 - fatMm, 75 - fatMm])],
    [C(0, 25, 165, 105, -560, -275), C(0, 25, 165 - fatMm, 105 - fatMm, -560, -275)],
  ];
  for (const [outer, inner] of shells) {
    outline.push(outer);
    add(STAGE.outline, 'fat', outer);
    add(STAGE.outlineInner, 'soft', inner);
  }

  // --- muscles, glands, vessels
  for (const s of [1, -1]) {
    add(STAGE.softParts, 'muscle', T([[s * 50, 30, -45], [s * 38, -10, -130], [s * 18, -55, -225]], 10, 6)); // sternocleidomastoid
    add(STAGE.softParts, 'muscle', E([s * 22, 55, -150], [17, 18, 110])); // paraspinal
    add(STAGE.softParts, 'thyroid', E([s * 16, -8, -190], [9, 10, 20]));
    add(STAGE.lungs, 'blood', T([[s * 22, -5, -300], [s * 24, -2, -160], [s * 26, 4, -90]], 4)); // carotid
    add(STAGE.lungs, 'blood', T([[s * 30, 0, -290], [s * 32, 5, -150], [s * 34, 12, -75]], 6)); // jugular
  }
  add(STAGE.lungs, 'blood', T([[0, -25, -345], [12, -15, -305], [22, 15, -300], [22, 38, -345]], 13)); // aortic arch

  // --- lungs
  const lungs: [Shape, Shape] = [E([72, 25, -335], [58, 68, 125]), E([-72, 25, -335], [58, 68, 125])];
  for (const l of lungs) add(STAGE.lungs, 'lung', l);
  const lungApexZ = Z(-335 + 125);

  // --- larynx and trachea
  const thyroidCart = E([0, -14, -158], [20, 16, 18]);
  add(STAGE.bone, 'cartilage', new Difference(thyroidCart, [E([0, -14, -158], [17, 13, 19])]));
  add(STAGE.contents, 'air', T([[0, -11, -112], [0, -14, -150], [0, -12, -172], [0, -4, -230], [0, 8, -300], [0, 14, -400]], 9, 8, [1, 0, 0]));

  // --- spine: vertebral bodies (cortex + cancellous), arches, processes; canal and cord
  const levels = 18;
  const cordPts: Array<[number, number, number]> = [[0, 24, -50]];
  for (let k = 0; k < levels; k++) {
    const zc = -72 - 19 * k;
    const yb = 14 + 0.0003 * (zc + 72) ** 2;
    cordPts.push([0, yb + 21, zc]);
    const sx = 9 + 0.3 * k, sy = 8 + 0.2 * k;
    add(STAGE.bone, 'cortical', C(0, yb, sx, sy, zc - 7.5, zc + 7.5));
    add(STAGE.boneInner, 'cancellous', C(0, yb, sx - 1.6, sy - 1.6, zc - 6.5, zc + 6.5));
    add(STAGE.bone, 'cortical', C(0, yb + 21, 14, 12.5, zc - 5, zc + 5));
    add(STAGE.bone, 'cortical', T([[0, yb + 31, zc], [0, yb + 44 + 0.8 * k, zc - 10]], 3.5));
    for (const s of [1, -1]) add(STAGE.bone, 'cortical', T([[s * 9, yb + 6, zc], [s * (26 + 0.8 * k), yb + 10, zc]], 3.5));
  }
  const canal = T(cordPts, 8);
  add(STAGE.boneInner, 'csf', canal);
  const spinalCord = T(cordPts, rng.uniform(4.5, 5.5));
  add(STAGE.contents, 'soft', spinalCord);

  // --- shoulder girdle and upper ribs
  for (const s of [1, -1]) {
    add(STAGE.bone, 'cortical', T([[s * 14, -58, -222], [s * 60, -55, -216], [s * 110, -35, -208], [s * 150, 0, -205]], 7, 6)); // clavicle
    for (const [z0, grow] of [[-238, 1], [-262, 1.15]] as const) {
      add(
        STAGE.bone,
        'cortical',
        T([[s * 14, 55, z0], [s * 45 * grow, 64, z0 - 4], [s * 85 * grow, 30, z0 - 10], [s * 90 * grow, -10, z0 - 18], [s * 60 * grow, -50, z0 - 25], [s * 26, -62, z0 - 28]], 4.5, 4),
      );
    }
    add(STAGE.bone, 'diploe', E([s * 105, 78, -290], [55, 7, 65], rotZ(-s * 30))); // scapula
    add(STAGE.bone, 'diploe', E([s * 172, 30, -240], [24, 24, 24])); // humeral head
    add(STAGE.bone, 'cortical', T([[s * 175, 30, -250], [s * 185, 35, -480]], 13)); // humeral shaft
  }
  add(STAGE.bone, 'diploe', E([0, -62, -252], [26, 7, 26])); // manubrium

  return { layers, outline, spinalCord, lungApexZ, lungs };
}
