/**
 * Which organs a case has annotated (at about the rates of the paper's 261 CTs), and the structure
 * set a clinic would have sent with it: the organs under messy names, planning structures that look
 * like organs (PRVs, avoidance structures, copies), targets, the body outline, other organs, POINT
 * markers, and now and then an organ ROI declared with no contours.
 */
import type { Vec3 } from '@anatomynet/data';
import { drawHabit, organRoiName, type NamingStyle } from './names';
import type { ExtraStructure } from './patient';
import type { Rng } from './prng';
import { SYNTH_ORGANS, type SynthOrgan } from './tissues';

export type AnnotationSource = 'dicom' | 'pddca';

/**
 * Draws which organs are annotated. DICOM cases follow the paper's counts over 261 CTs (brainstem 196,
 * chiasm 129, mandible 227, optic nerves 133, parotids 257/256, submandibular 135/130), with the optic
 * structures and the two glands usually missing together; PDDCA cases are nearly complete.
 */
export function drawAnnotated(rng: Rng, source: AnnotationSource): Record<SynthOrgan, boolean> {
  if (source === 'pddca') {
    const p: Record<SynthOrgan, number> = {
      BrainStem: 0.97, Chiasm: 0.92, Mandible: 0.98, OpticNerve_L: 0.95, OpticNerve_R: 0.95,
      Parotid_L: 1, Parotid_R: 1, Submandibular_L: 0.9, Submandibular_R: 0.9,
    };
    return Object.fromEntries(SYNTH_ORGANS.map((o) => [o, rng.chance(p[o])])) as Record<SynthOrgan, boolean>;
  }
  const optic = rng.chance(0.51);
  const glands = rng.chance(0.52);
  return {
    BrainStem: rng.chance(0.75),
    Chiasm: optic ? rng.chance(0.93) : rng.chance(0.04),
    Mandible: rng.chance(0.87),
    OpticNerve_L: optic && rng.chance(0.99),
    OpticNerve_R: optic && rng.chance(0.99),
    Parotid_L: rng.chance(0.985),
    Parotid_R: rng.chance(0.981),
    Submandibular_L: glands && rng.chance(0.99),
    Submandibular_R: glands && rng.chance(0.95),
  };
}

/** Where an ROI's voxels come from. */
export type RoiSource =
  | { kind: 'organ'; organ: SynthOrgan }
  | { kind: 'extra'; structure: ExtraStructure }
  | { kind: 'dilated'; organ: SynthOrgan | 'SpinalCord'; mm: number }
  | { kind: 'minusPtv'; organ: SynthOrgan }
  | { kind: 'union'; organs: SynthOrgan[] }
  | { kind: 'point'; at: Vec3 }
  | { kind: 'empty' }
  /** Planted annotation errors (errors.ts): the organ with a stray slice, or moved towards the feet, or every ROI moved a little. */
  | { kind: 'stray'; organ: SynthOrgan; beyondMm: number }
  | { kind: 'moved'; organ: SynthOrgan; inferiorMm: number }
  | { kind: 'skipped'; organ: SynthOrgan }
  /** A whole structure set's ROIs translated by `mm` (LPS), off their scan. */
  | { kind: 'shifted'; of: RoiSource; mm: Vec3 };

export type RoiRole = 'organ' | 'distractor' | 'point' | 'empty';

export interface RoiPlan {
  name: string;
  role: RoiRole;
  /** The organ an 'organ' ROI holds, or the organ an 'empty' ROI names. */
  organ: SynthOrgan | null;
  source: RoiSource;
  /** RTROIInterpretedType. */
  interpretedType: 'ORGAN' | 'AVOIDANCE' | 'PTV' | 'CTV' | 'GTV' | 'EXTERNAL' | 'MARKER' | 'ISOCENTER';
}

/**
 * The structure set of one DICOM case, in the order it will be written (organs and distractors shuffled
 * together, as planning systems list them in creation order).
 * @param pointNear LPS point around which POINT markers are placed (the neck centre).
 */
export function planRois(rng: Rng, annotated: Record<SynthOrgan, boolean>, pointNear: Vec3): { rois: RoiPlan[]; style: NamingStyle } {
  const style = rng.weighted<NamingStyle>([['clinical', 5], ['tg263', 3], ['pddca', 2]]);
  const habit = drawHabit(rng);
  const rois: RoiPlan[] = [];
  const taken = new Set<string>();
  const push = (r: RoiPlan) => {
    if (taken.has(r.name.toLowerCase())) return;
    taken.add(r.name.toLowerCase());
    rois.push(r);
  };
  const organName: Partial<Record<SynthOrgan, string>> = {};
  for (const organ of SYNTH_ORGANS) {
    if (annotated[organ]) {
      organName[organ] = organRoiName(rng, organ, style, habit);
      push({ name: organName[organ]!, role: 'organ', organ, source: { kind: 'organ', organ }, interpretedType: 'ORGAN' });
    } else if (rng.chance(0.08)) {
      push({ name: organRoiName(rng, organ, style, habit), role: 'empty', organ, source: { kind: 'empty' }, interpretedType: 'ORGAN' });
    }
  }
  const named = (o: SynthOrgan) => organName[o] ?? organRoiName(rng, o, style, habit);

  // Distractors: each candidate appears with its own probability.
  const candidates: Array<[number, () => RoiPlan | null]> = [
    [0.9, () => ({ name: rng.pick(['External', 'BODY', 'Body', 'EXTERNAL', 'Skin', 'Outline']), role: 'distractor', organ: null, source: { kind: 'extra', structure: 'External' }, interpretedType: 'EXTERNAL' })],
    [0.8, () => ({ name: rng.pick(['PTV70', 'PTV_70', 'PTV 70Gy', 'PTV_7000']), role: 'distractor', organ: null, source: { kind: 'extra', structure: 'PTV70' }, interpretedType: 'PTV' })],
    [0.5, () => ({ name: rng.pick(['PTV56', 'PTV_56', 'CTV_56', 'PTV 56Gy']), role: 'distractor', organ: null, source: { kind: 'extra', structure: 'PTV56' }, interpretedType: 'PTV' })],
    [0.5, () => ({ name: rng.pick(['GTV', 'GTVp', 'GTV_primary']), role: 'distractor', organ: null, source: { kind: 'extra', structure: 'GTV' }, interpretedType: 'GTV' })],
    [0.7, () => ({ name: rng.pick(['SpinalCord', 'Cord', 'Spinal Cord', 'SPINAL_CORD']), role: 'distractor', organ: null, source: { kind: 'extra', structure: 'SpinalCord' }, interpretedType: 'ORGAN' })],
    [0.4, () => ({ name: rng.pick(['SpinalCord_PRV5', 'PRV_Cord', 'Cord+5mm']), role: 'distractor', organ: null, source: { kind: 'dilated', organ: 'SpinalCord', mm: 5 }, interpretedType: 'AVOIDANCE' })],
    [0.5, () => ({ name: rng.pick(['Eye_L', 'Globe_L', 'Eye Lt']), role: 'distractor', organ: null, source: { kind: 'extra', structure: 'Eye_L' }, interpretedType: 'ORGAN' })],
    [0.5, () => ({ name: rng.pick(['Eye_R', 'Globe_R', 'Eye Rt']), role: 'distractor', organ: null, source: { kind: 'extra', structure: 'Eye_R' }, interpretedType: 'ORGAN' })],
    [0.3, () => ({ name: 'Lung_L', role: 'distractor', organ: null, source: { kind: 'extra', structure: 'Lung_L' }, interpretedType: 'ORGAN' })],
    [0.3, () => ({ name: 'Lung_R', role: 'distractor', organ: null, source: { kind: 'extra', structure: 'Lung_R' }, interpretedType: 'ORGAN' })],
    [0.5, () => (annotated.BrainStem ? { name: rng.pick(['BrainStem_PRV', 'PRV_Brainstem', 'Brainstem+3mm', 'Brainstem_PRV03', 'brain stem PRV']), role: 'distractor', organ: null, source: { kind: 'dilated', organ: 'BrainStem', mm: 3 }, interpretedType: 'AVOIDANCE' } : null)],
    [0.3, () => (annotated.Chiasm ? { name: rng.pick(['Chiasm_PRV', 'PRV_Chiasm', 'OpticChiasm_PRV03']), role: 'distractor', organ: null, source: { kind: 'dilated', organ: 'Chiasm', mm: 3 }, interpretedType: 'AVOIDANCE' } : null)],
    [0.3, () => (annotated.OpticNerve_L ? { name: rng.pick(['OpticNrv_L_PRV03', 'PRV_OpticNerve_L', 'Optic Nerve Lt+3mm']), role: 'distractor', organ: null, source: { kind: 'dilated', organ: 'OpticNerve_L', mm: 3 }, interpretedType: 'AVOIDANCE' } : null)],
    [0.4, () => (annotated.Parotid_L ? { name: rng.pick([`${named('Parotid_L')}_avoid`, 'Parotid_L_avoid', 'Parotid_L-PTV', 'avoid_Parotid_Lt']), role: 'distractor', organ: null, source: { kind: 'minusPtv', organ: 'Parotid_L' }, interpretedType: 'AVOIDANCE' } : null)],
    [0.4, () => (annotated.Parotid_R ? { name: rng.pick([`${named('Parotid_R')}_avoid`, 'Parotid_R_avoid', 'Parotid_R-PTV', 'avoid_Parotid_Rt']), role: 'distractor', organ: null, source: { kind: 'minusPtv', organ: 'Parotid_R' }, interpretedType: 'AVOIDANCE' } : null)],
    [0.25, () => ({ name: rng.pick(['Parotids', 'Parotid_Both', 'Parotids_Total']), role: 'distractor', organ: null, source: { kind: 'union', organs: ['Parotid_L', 'Parotid_R'] }, interpretedType: 'ORGAN' })],
    [0.3, () => (annotated.Mandible ? { name: rng.pick(['z_Mandible', 'Mandible_old', 'zz_Mandible', 'Mandible_copy']), role: 'distractor', organ: null, source: { kind: 'organ', organ: 'Mandible' }, interpretedType: 'ORGAN' } : null)],
    [0.2, () => (annotated.Submandibular_L ? { name: rng.pick(['Submand_L_PRV', 'PRV_Submandibular_L']), role: 'distractor', organ: null, source: { kind: 'dilated', organ: 'Submandibular_L', mm: 3 }, interpretedType: 'AVOIDANCE' } : null)],
  ];
  for (const [p, make] of candidates) {
    if (!rng.chance(p)) continue;
    const r = make();
    if (r) push(r);
  }
  // POINT markers (isocentre, skin marks) in some cases.
  const nPoints = rng.weighted<number>([[0, 5], [1, 3], [2, 1], [3, 1]]);
  for (let i = 0; i < nPoints; i++) {
    const at: Vec3 = [pointNear[0] + rng.uniform(-30, 30), pointNear[1] + rng.uniform(-30, 30), pointNear[2] + rng.uniform(-40, 40)];
    push({ name: i === 0 ? rng.pick(['Iso', 'ISO', 'REF', 'Isocenter']) : `Marker${i}`, role: 'point', organ: null, source: { kind: 'point', at }, interpretedType: i === 0 ? 'ISOCENTER' : 'MARKER' });
  }
  // Planning systems list ROIs in creation order, not organ order.
  rng.shuffle(rois);
  return { rois, style };
}
