/**
 * Plausibility checks of the published annotations, for the physicist who prepares the data: the
 * errors that curating by name cannot see and that public head-and-neck collections are known to hold
 * (left and right structures swapped, a contour drawn on a slice far from its organ, contours moved off
 * their image or drawn on another scan, a whole structure set a few millimetres off its scan, another
 * structure under an organ's name). Each finding names
 * the case, the organs and the measurement; nothing is changed or left out because of one (a names file
 * section for the case is how a physicist answers it). Pure functions of the manifest's case records.
 */
import type { CaseRecord } from './manifest';
import { ORGANS, type OrganKey } from './organs';
import { compareStrings } from './names';
import { BONE_VOXEL_HU } from './bone-alignment';

export type AnnotationCheck = 'sides' | 'stray-piece' | 'gap' | 'hu' | 'shift' | 'volume';

export interface AnnotationFinding {
  caseId: string;
  check: AnnotationCheck;
  organs: OrganKey[];
  message: string;
}

/** A sided organ's centre this far on the wrong side of the midline organs' is flagged (mm). */
export const MIDLINE_TOLERANCE_MM = 5;
/** A piece this far from the organ's largest piece is flagged (mm): farther than a slice or two missed. */
export const STRAY_GAP_MM = 10;
/** The mandible is bone: a mean CT number below this inside its contour puts the contour off the bone. */
export const BONE_MIN_HU = 300;
/**
 * The other eight are soft tissue (brainstem and glands 20-60 HU, parotids down to about -50 with fat,
 * optic nerves partly in orbital fat): a mean outside this range is mostly air, fat or bone.
 */
export const SOFT_TISSUE_HU = [-250, 250] as const;
/**
 * The mandible's contour is flagged as shifted when a translation of at least SHIFT_MIN_MM (within the
 * search, bone-alignment.ts) puts at least SHIFT_MIN_GAIN more of it on bone, and at least
 * SHIFT_MIN_SHARE in all: the bone is right there, beside the contour. A contour drawn on this scan
 * gains nothing from moving (the synthetic cohort: 0.000); 5 mm off, it gains 0.3.
 */
export const SHIFT_MIN_MM = 2;
export const SHIFT_MIN_GAIN = 0.1;
export const SHIFT_MIN_SHARE = 0.5;
/** Volumes are judged against the cohort from this many annotated cases of the organ. */
export const VOLUME_MIN_CASES = 8;
/**
 * A volume is flagged when its modified z-score (Iglewicz and Hoaglin's, on log volume) is beyond 3.5
 * and it is at least twice or at most half the median: the second rule keeps a tight cohort (the
 * synthetic one) from flagging ordinary variation.
 */
export const VOLUME_MODIFIED_Z = 3.5;
export const VOLUME_RATIO = 2;

type CheckedCase = Pick<CaseRecord, 'caseId' | 'availability' | 'volumeMl' | 'voxels' | 'spacing' | 'measures'>;
/** One case's contours as the per-case checks see them: a curated case's, or a model's segmentation of a scan. */
type CheckedContours = Pick<CaseRecord, 'caseId' | 'voxels' | 'spacing' | 'measures'>;

/**
 * Whose contours are judged, which decides what a finding suggests: a structure set's errors come from
 * people and exports (sides swapped, a contour on a wrong slice or another scan), a model's from the
 * model (confused sides, a false positive away from the organ, a contour on the wrong tissue).
 */
export type ContourSource = 'annotation' | 'prediction';

const CAUSES: Record<'swapped' | 'far-side' | 'stray' | 'hu', Record<ContourSource, string>> = {
  swapped: { annotation: 'sides swapped?', prediction: 'the model confused the sides?' },
  'far-side': { annotation: 'the wrong side?', prediction: 'the wrong side: the model confused it?' },
  stray: { annotation: 'a contour on a wrong slice?', prediction: 'a false positive away from the organ?' },
  hu: { annotation: 'the contour off the organ (moved, or drawn on another scan)?', prediction: 'the contour off the organ (a scan unlike those the model learned from)?' },
};

const PAIRS = [
  ['OpticNerve_L', 'OpticNerve_R'],
  ['Parotid_L', 'Parotid_R'],
  ['Submandibular_L', 'Submandibular_R'],
] as const satisfies readonly (readonly [OrganKey, OrganKey])[];
const MIDLINE: readonly OrganKey[] = ['BrainStem', 'Chiasm', 'Mandible'];

const mm = (x: number) => `${x.toFixed(1)} mm`;
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};

/**
 * Left and right: in patient coordinates (LPS) the patient's left is +x, so a left organ's centre must
 * lie at larger x than its right partner's, and neither on the far side of the midline organs' centres.
 */
function sideFindings(c: CheckedContours, source: ContourSource): AnnotationFinding[] {
  const g = c.measures ?? {};
  const mid = MIDLINE.filter((o) => g[o]);
  const midX = mid.length ? mid.reduce((s, o) => s + g[o]!.centroidMm[0], 0) / mid.length : undefined;
  const found: AnnotationFinding[] = [];
  for (const [left, right] of PAIRS) {
    const l = g[left], r = g[right];
    if (l && r && l.centroidMm[0] < r.centroidMm[0]) {
      found.push({
        caseId: c.caseId, check: 'sides', organs: [left, right],
        message: `${left} lies to the patient's right of ${right} (centres at x ${mm(l.centroidMm[0])} and ${mm(r.centroidMm[0])}, LPS): ${CAUSES.swapped[source]}`,
      });
      continue;
    }
    if (midX === undefined) continue;
    for (const [organ, sign] of [[left, 1], [right, -1]] as const) {
      const x = g[organ]?.centroidMm[0];
      if (x === undefined || sign * (x - midX) >= -MIDLINE_TOLERANCE_MM) continue;
      found.push({
        caseId: c.caseId, check: 'sides', organs: [organ],
        message: `${organ} lies ${mm(Math.abs(x - midX))} to the patient's ${sign > 0 ? 'right' : 'left'} of the midline (${mid.join(', ')}): ${CAUSES['far-side'][source]}`,
      });
    }
  }
  return found;
}

function strayFindings(c: CheckedContours, source: ContourSource): AnnotationFinding[] {
  return ORGANS.flatMap(({ key }) => {
    const g = c.measures?.[key];
    // a structure set's pieces chained by short steps (contours on alternate slices) are the gap check's
    const gapMm = source === 'annotation' ? g?.strayChainGapMm ?? g?.strayGapMm : g?.strayGapMm;
    if (!g || gapMm === undefined || gapMm < STRAY_GAP_MM) return [];
    const ml = (g.strayVoxels * c.spacing[0] * c.spacing[1] * c.spacing[2]) / 1000;
    return [{
      caseId: c.caseId, check: 'stray-piece' as const, organs: [key],
      message: `${key}: ${g.strayVoxels} of its ${c.voxels[key]} voxels (${ml.toFixed(2)} mL) lie in ${g.pieces - 1} other piece${g.pieces > 2 ? 's' : ''}, ${gapMm === g.strayGapMm ? `up to ${mm(gapMm)} from the largest` : `parted from the rest by up to ${mm(gapMm)}`}: ${CAUSES.stray[source]}`,
    }];
  });
}

/**
 * Slices left out inside an organ, in short runs (annotations only: a model's pieces are the stray
 * check's); a long run parts a stray piece, which the stray check judges.
 */
function gapFindings(c: CheckedContours): AnnotationFinding[] {
  return ORGANS.flatMap(({ key }) => {
    const g = c.measures?.[key];
    if (!g?.gapSlices) return [];
    return [{
      caseId: c.caseId, check: 'gap' as const, organs: [key],
      message: `${key}: ${g.gapSlices} slice${g.gapSlices === 1 ? '' : 's'} between its first and last hold${g.gapSlices === 1 ? 's' : ''} no contour: a slice left out, or contours drawn on alternate slices and exported without their interpolation?`,
    }];
  });
}

/** What each organ's contour holds: bone for the mandible, soft tissue for the others. */
function huFindings(c: CheckedContours, source: ContourSource): AnnotationFinding[] {
  return ORGANS.flatMap(({ key }) => {
    const hu = c.measures?.[key]?.meanHu;
    if (hu === undefined) return [];
    const bone = key === 'Mandible';
    if (bone ? hu >= BONE_MIN_HU : hu >= SOFT_TISSUE_HU[0] && hu <= SOFT_TISSUE_HU[1]) return [];
    const expected = bone ? `bone is above ${BONE_MIN_HU}` : `soft tissue lies between ${SOFT_TISSUE_HU[0]} and ${SOFT_TISSUE_HU[1]}`;
    return [{
      caseId: c.caseId, check: 'hu' as const, organs: [key],
      message: `${key}: mean ${hu.toFixed(1)} HU inside its contour, where ${expected}: ${CAUSES.hu[source]}`,
    }];
  });
}

/** The mandible against the bone beside it: the whole structure set a few millimetres off this scan. */
function shiftFindings(c: CheckedContours): AnnotationFinding[] {
  const a = c.measures?.Mandible?.boneAlignment;
  if (!a) return [];
  // to the manifest's 0.1 mm and 0.001, so that 0.6 - 0.5 is 0.1
  const length = Math.round(Math.hypot(...a.shiftMm) * 10) / 10;
  const gain = Math.round((a.shiftedFraction - a.fraction) * 1000) / 1000;
  if (length < SHIFT_MIN_MM || gain < SHIFT_MIN_GAIN || a.shiftedFraction < SHIFT_MIN_SHARE) return [];
  const pct = (x: number) => `${Math.round(100 * x)}%`;
  const [x, y, z] = a.shiftMm;
  const towards = [[x, 'left', 'right'], [y, 'posterior', 'anterior'], [z, 'superior', 'inferior']] as const;
  const where = towards.filter(([v]) => Math.abs(v) >= 0.05).map(([v, plus, minus]) => `${mm(Math.abs(v))} ${v > 0 ? plus : minus}`).join(', ');
  return [{
    caseId: c.caseId, check: 'shift', organs: ['Mandible'],
    message: `Mandible: ${pct(a.fraction)} of its contour lies on bone (above ${BONE_VOXEL_HU} HU), ${pct(a.shiftedFraction)} when moved ${mm(length)} (${where}): the structure set shifted against this scan (drawn on another scan, or registered with an offset)? Every organ of the case may be off by as much`,
  }];
}

/**
 * A volume against a cohort's (log scale, median and MAD; Iglewicz and Hoaglin's modified z-score): how
 * far off it is, or null when within bounds or the cohort has fewer than VOLUME_MIN_CASES volumes.
 */
function volumeOutlier(ml: number, cohortMl: readonly number[]): { ratio: number; medianMl: number } | null {
  if (cohortMl.length < VOLUME_MIN_CASES || !(ml > 0)) return null;
  const logs = cohortMl.map((v) => Math.log(v));
  const centre = median(logs);
  const mad = median(logs.map((x) => Math.abs(x - centre)));
  const ratio = Math.exp(Math.log(ml) - centre);
  const z = mad > 0 ? (0.6745 * (Math.log(ml) - centre)) / mad : Infinity;
  if (Math.abs(z) <= VOLUME_MODIFIED_Z || (ratio < VOLUME_RATIO && ratio > 1 / VOLUME_RATIO)) return null;
  return { ratio, medianMl: Math.exp(centre) };
}

const VOLUME_CAUSES: Record<ContourSource, { larger: string; smaller: string; over: (n: number) => string }> = {
  annotation: { larger: 'another structure under its name, or contours on extra slices?', smaller: 'contours missing on some slices?', over: (n) => `${n} cases` },
  prediction: { larger: 'a neighbouring structure taken for it, or a false positive joined to it?', smaller: 'the organ partly missed?', over: (n) => `the model's ${n} training cases` },
};

function volumeFinding(caseId: string, key: OrganKey, ml: number, cohortMl: readonly number[], source: ContourSource): AnnotationFinding[] {
  const off = volumeOutlier(ml, cohortMl);
  if (!off) return [];
  const causes = VOLUME_CAUSES[source];
  const [times, why] = off.ratio >= 1 ? [`${off.ratio.toFixed(1)} times`, causes.larger] : [`1/${(1 / off.ratio).toFixed(1)} of`, causes.smaller];
  return [{ caseId, check: 'volume', organs: [key], message: `${key}: ${ml.toFixed(2)} mL, ${times} the median of ${off.medianMl.toFixed(2)} mL over ${causes.over(cohortMl.length)}: ${why}` }];
}

/** Each organ's volume against the other annotated cases' (log scale, median and MAD). */
function volumeFindings(cases: readonly CheckedCase[]): AnnotationFinding[] {
  return ORGANS.flatMap(({ key }) => {
    const annotated = cases.filter((c) => c.availability[key] === 'annotated' && c.volumeMl[key] > 0);
    const cohort = annotated.map((c) => c.volumeMl[key]);
    return annotated.flatMap((c) => volumeFinding(c.caseId, key, c.volumeMl[key], cohort, 'annotation'));
  });
}

const CHECK_ORDER: readonly AnnotationCheck[] = ['sides', 'stray-piece', 'gap', 'hu', 'shift', 'volume'];

/** Every finding of the cohort, sorted by case, check and organ. */
export function annotationFindings(cases: readonly CheckedCase[]): AnnotationFinding[] {
  return [...cases.flatMap((c) => [...sideFindings(c, 'annotation'), ...strayFindings(c, 'annotation'), ...gapFindings(c), ...huFindings(c, 'annotation'), ...shiftFindings(c)]), ...volumeFindings(cases)].sort(byCaseCheckOrgan);
}

/**
 * The checks of one scan's automatic contours (`trainer segment`): sides, stray pieces, CT numbers and,
 * given the volumes of each organ in the model's training cases (`trainingMl`), volumes against those.
 * Not the shift, which asks whether contours were drawn on this scan (a model's were). Sorted by check
 * and organ.
 */
export function predictionFindings(c: CheckedContours, trainingMl: Partial<Record<OrganKey, readonly number[]>> = {}): AnnotationFinding[] {
  const voxelMl = (c.spacing[0] * c.spacing[1] * c.spacing[2]) / 1000;
  const volumes = ORGANS.flatMap(({ key }) => (c.voxels[key] > 0 ? volumeFinding(c.caseId, key, c.voxels[key] * voxelMl, trainingMl[key] ?? [], 'prediction') : []));
  return [...sideFindings(c, 'prediction'), ...strayFindings(c, 'prediction'), ...huFindings(c, 'prediction'), ...volumes].sort(byCaseCheckOrgan);
}

/**
 * The checks among `findings` that flag `organ`, each once, ';'-separated ('' when none do): how a
 * result row records them (metrics.csv's annotation_finding and contour_finding, a test row's contourFinding).
 */
export function checksFlagging(findings: readonly Pick<AnnotationFinding, 'check' | 'organs'>[], organ: string): string {
  return [...new Set(findings.filter((f) => (f.organs as readonly string[]).includes(organ)).map((f) => f.check))].join(';');
}

function byCaseCheckOrgan(a: AnnotationFinding, b: AnnotationFinding): number {
  const organIndex = (k: OrganKey) => ORGANS.findIndex((o) => o.key === k);
  return compareStrings(a.caseId, b.caseId) || CHECK_ORDER.indexOf(a.check) - CHECK_ORDER.indexOf(b.check) || organIndex(a.organs[0]!) - organIndex(b.organs[0]!);
}
