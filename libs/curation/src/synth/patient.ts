/**
 * One synthetic patient: the head, organs and body drawn for a case and placed in patient space by a
 * rigid pose (small yaw/roll of the whole body, a head pitch about the cranio-cervical junction, a
 * table position). Everything stays analytic, so it can be sampled on any grid.
 */
import type { Vec3 } from '@anatomynet/data';
import { buildBody } from './body';
import { buildHead, STAGE, type Layer } from './head';
import { buildOrgans } from './organs';
import type { Rng } from './prng';
import { applyPose, composePose, Ellipsoid, matMul, Posed, rotX, rotY, rotZ, sub, Union, type Pose, type Shape } from './shapes';
import { drawTissueHu, SYNTH_ORGANS, type SynthOrgan, type Tissue } from './tissues';

/** Structures other than the nine organs, for realistic non-target ROIs. */
export type ExtraStructure = 'External' | 'Eye_L' | 'Eye_R' | 'SpinalCord' | 'GTV' | 'PTV70' | 'PTV56' | 'Lung_L' | 'Lung_R';

export interface Patient {
  /** Tissue layers in painting order (LPS, placed). */
  layers: Layer[];
  /** The nine organs (LPS, placed), mutually exclusive. */
  organs: Record<SynthOrgan, Shape>;
  extras: Record<ExtraStructure, Shape>;
  /** Case's HU per tissue id. */
  tissueHu: Float32Array;
  /** Target volumes the organ sizes were fitted to (mL). */
  targetMl: Partial<Record<SynthOrgan, number>>;
  landmarks: {
    /** Top of the head (LPS mm). */
    vertex: Vec3;
    /** Highest z of the lungs (mm). */
    lungApexZ: number;
    /** A point on the neck axis at the level of the mandible angle, to centre the field of view. */
    neckCentre: Vec3;
  };
  pose: { yawDeg: number; rollDeg: number; pitchDeg: number; headPitchDeg: number; translationMm: Vec3 };
}

const ORGAN_TISSUE: Record<SynthOrgan, Tissue> = {
  BrainStem: 'brainStem',
  Chiasm: 'chiasm',
  Mandible: 'mandibleCortex',
  OpticNerve_L: 'opticNerve',
  OpticNerve_R: 'opticNerve',
  Parotid_L: 'parotid',
  Parotid_R: 'parotid',
  Submandibular_L: 'submandibular',
  Submandibular_R: 'submandibular',
};

/** Draws one patient from `rng` (all randomness of the anatomy comes from this stream). */
export function samplePatient(rng: Rng): Patient {
  const headScale = rng.uniform(0.94, 1.06);
  const organs = buildOrgans(rng.fork('organs'), headScale);
  const head = buildHead(rng.fork('head'), headScale, organs, rng.uniform(2.5, 5));
  const body = buildBody(rng.fork('body'), rng.uniform(0.9, 1.1), rng.uniform(0.76, 0.9), rng.uniform(4, 12));

  // Tumour and planning targets near the oropharynx (contours only for the PTVs; the GTV is visible).
  const gtvCentre: Vec3 = [rng.uniform(-10, 10), rng.uniform(-20, -6), rng.uniform(-100, -80)];
  const gtvSemi: Vec3 = [rng.uniform(7, 13), rng.uniform(7, 13), rng.uniform(9, 16)];
  const gtv = new Ellipsoid(gtvCentre, gtvSemi);
  const grow = (mm: number) => new Ellipsoid(gtvCentre, [gtvSemi[0] + mm, gtvSemi[1] + mm, gtvSemi[2] + mm]);

  // Pose: the body on the table, the head pitched about the cranio-cervical junction.
  const pose = {
    yawDeg: rng.normalIn(0, 2, -5, 5),
    rollDeg: rng.normalIn(0, 1.5, -4, 4),
    pitchDeg: rng.normalIn(0, 1.5, -4, 4),
    headPitchDeg: rng.normalIn(0, 4, -10, 10),
    translationMm: [rng.uniform(-12, 12), rng.uniform(-30, 30), Math.round(rng.uniform(-450, 250))] as Vec3,
  };
  const bodyPose: Pose = { R: matMul(rotZ(pose.yawDeg), matMul(rotY(pose.rollDeg), rotX(pose.pitchDeg))), t: pose.translationMm };
  const pivot: Vec3 = [0, 25, -60];
  const pitch = rotX(pose.headPitchDeg);
  const headPose = composePose(bodyPose, { R: pitch, t: sub(pivot, applyPose({ R: pitch, t: [0, 0, 0] }, pivot)) });
  const inHead = (s: Shape) => new Posed(s, headPose);
  const inBody = (s: Shape) => new Posed(s, bodyPose);

  const layers: Layer[] = [
    ...head.layers.map((l) => ({ ...l, shape: inHead(l.shape) })),
    ...body.layers.map((l) => ({ ...l, shape: inBody(l.shape) })),
    { stage: STAGE.tumour, tissue: 'tumour' as Tissue, shape: inHead(gtv) },
  ];
  const placed = {} as Record<SynthOrgan, Shape>;
  for (const name of SYNTH_ORGANS) {
    placed[name] = inHead(organs.organs[name]);
    layers.push({ stage: STAGE.organs, tissue: ORGAN_TISSUE[name], shape: placed[name] });
  }
  layers.push({ stage: STAGE.organInner, tissue: 'mandibleMarrow', shape: inHead(organs.mandibleMarrow) });
  // Stable sort keeps each builder's order within a stage.
  layers.sort((a, b) => a.stage - b.stage);

  const extras: Record<ExtraStructure, Shape> = {
    External: new Union([...head.outline.map(inHead), ...body.outline.map(inBody)]),
    Eye_L: inHead(organs.eyeL),
    Eye_R: inHead(organs.eyeR),
    SpinalCord: inBody(body.spinalCord),
    GTV: inHead(gtv),
    PTV70: inHead(grow(5)),
    PTV56: inHead(grow(15)),
    Lung_L: inBody(body.lungs[0]),
    Lung_R: inBody(body.lungs[1]),
  };

  const apex = applyPose(bodyPose, [60, 25, body.lungApexZ]);
  return {
    layers,
    organs: placed,
    extras,
    tissueHu: drawTissueHu(rng.fork('hu')),
    targetMl: organs.targetMl,
    landmarks: {
      vertex: applyPose(headPose, head.vertex),
      lungApexZ: apex[2],
      neckCentre: applyPose(bodyPose, [0, 10 * headScale, -90 * headScale]),
    },
    pose,
  };
}
