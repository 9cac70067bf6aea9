/**
 * Annotation errors a clinic's structure sets hold now and then, planted in chosen DICOM cases so the
 * curator's annotation checks can be tried on realistic anatomy (`curator synth --annotation-errors N`):
 * left and right swapped, a contour copied onto slices far from its organ, the mandible's contours
 * moved off the bone (as when contours are drawn on, or registered from, another scan), the whole
 * structure set a few millimetres off its scan (a registration with an offset), and a slice left out of
 * an organ's contours (drawn on alternate slices, the interpolation not exported).
 */
import type { Vec3 } from '@anatomynet/data';
import type { BoxMask, Grid } from './raster';
import { voxelTranslation } from '../bone-alignment';
import type { RoiPlan } from './rois';
import type { SynthOrgan } from './tissues';

export type SynthAnnotationErrorKind = 'swapped-sides' | 'stray-contour' | 'moved-contour' | 'shifted-set' | 'skipped-slice';
export const SYNTH_ANNOTATION_ERRORS: readonly SynthAnnotationErrorKind[] = ['swapped-sides', 'stray-contour', 'moved-contour', 'shifted-set', 'skipped-slice'];

/** What was planted in a case: its kind and the organs whose ROIs it changed. */
export interface SynthAnnotationError {
  kind: SynthAnnotationErrorKind;
  organs: SynthOrgan[];
}

/**
 * How far the stray copy lies beyond the organ's end, and how far the mandible is moved down (mm): past
 * the height of its rami, so the contours lie in the neck's soft tissue rather than on the bone again.
 */
export const STRAY_CONTOUR_MM = 30;
export const MOVED_CONTOUR_MM = 70;
/** How far a shifted structure set lies off its scan (LPS mm): 3 mm to the patient's left, 4 mm anterior. */
export const SHIFTED_SET_MM: Vec3 = [3, -4, 0];

const PAIRS: readonly (readonly [SynthOrgan, SynthOrgan])[] = [
  ['Parotid_L', 'Parotid_R'],
  ['Submandibular_L', 'Submandibular_R'],
  ['OpticNerve_L', 'OpticNerve_R'],
];

/**
 * The structure set with the error planted (a new array; the plan is not changed), or null when the
 * case has no organ ROI it can happen to (then the cohort plants the next kind).
 */
export function plantAnnotationError(rois: readonly RoiPlan[], kind: SynthAnnotationErrorKind): { rois: RoiPlan[]; error: SynthAnnotationError } | null {
  const organRoi = (o: SynthOrgan) => rois.findIndex((r) => r.role === 'organ' && r.organ === o && r.source.kind === 'organ');
  const out = [...rois];
  if (kind === 'swapped-sides') {
    const pair = PAIRS.find(([l, r]) => organRoi(l) >= 0 && organRoi(r) >= 0);
    if (!pair) return null;
    const [l, r] = pair.map(organRoi) as [number, number];
    // the names stay, the contours change places
    out[l] = { ...rois[l]!, source: rois[r]!.source };
    out[r] = { ...rois[r]!, source: rois[l]!.source };
    return { rois: out, error: { kind, organs: [...pair] } };
  }
  if (kind === 'shifted-set') {
    // the mandible is what the curator can see it by; every ROI with voxels moves
    if (organRoi('Mandible') < 0) return null;
    const moved = rois.map((r) => (r.source.kind === 'point' || r.source.kind === 'empty' ? r : { ...r, source: { kind: 'shifted' as const, of: r.source, mm: SHIFTED_SET_MM } }));
    return { rois: moved, error: { kind, organs: rois.filter((r) => r.role === 'organ' && r.organ).map((r) => r.organ!) } };
  }
  const organ: SynthOrgan | undefined = kind === 'moved-contour'
    ? (organRoi('Mandible') >= 0 ? 'Mandible' : undefined)
    : (kind === 'skipped-slice' ? (['Parotid_L', 'Parotid_R', 'BrainStem'] as const) : (['Parotid_R', 'Parotid_L', 'Mandible', 'BrainStem'] as const)).find((o) => organRoi(o) >= 0);
  if (!organ) return null;
  const i = organRoi(organ);
  out[i] = {
    ...rois[i]!,
    source: kind === 'moved-contour' ? { kind: 'moved', organ, inferiorMm: MOVED_CONTOUR_MM } : kind === 'skipped-slice' ? { kind: 'skipped', organ } : { kind: 'stray', organ, beyondMm: STRAY_CONTOUR_MM },
  };
  return { rois: out, error: { kind, organs: [organ] } };
}

/** The mask without its middle slice (one of three or more: a gap inside the organ, not at its end). */
export function maskWithoutMiddleSlice(m: BoxMask): BoxMask {
  const [bx, by, bz] = m.shape;
  if (bz < 3) return m;
  const data = m.data.slice();
  const k = bz >> 1;
  data.fill(0, k * bx * by, (k + 1) * bx * by);
  return { lo: [...m.lo], shape: [...m.shape], data };
}

/** The mask moved `inferiorMm` towards the feet (LPS -z), along the grid's slice axis (kept inside the grid). */
export function movedMask(m: BoxMask, grid: Grid, inferiorMm: number): BoxMask {
  const steps = Math.round(inferiorMm / grid.spacing[2]) * -Math.sign(grid.direction[8]!);
  const lo: Vec3 = [m.lo[0], m.lo[1], Math.min(grid.shape[2] - m.shape[2], Math.max(0, m.lo[2] + steps))];
  return { lo, shape: [...m.shape], data: m.data };
}

/**
 * The mask translated by `mm` (LPS), to the nearest voxel along each index axis; voxels moved off the
 * grid are lost (its box may reach the grid's edge, so moving the box alone would not do).
 */
export function shiftedMask(m: BoxMask, grid: Grid, mm: Vec3): BoxMask {
  const d = voxelTranslation(mm, grid);
  const lo = [0, 1, 2].map((a) => Math.max(0, m.lo[a]! + d[a]!)) as Vec3;
  const hi = [0, 1, 2].map((a) => Math.min(grid.shape[a]!, m.lo[a]! + d[a]! + m.shape[a]!)) as Vec3;
  const shape = [0, 1, 2].map((a) => Math.max(0, hi[a]! - lo[a]!)) as Vec3;
  if (shape.some((n) => n === 0)) return { lo: [0, 0, 0], shape: [0, 0, 0], data: new Uint8Array(0) };
  const data = new Uint8Array(shape[0] * shape[1] * shape[2]);
  const [bx, by] = m.shape;
  for (let k = 0; k < shape[2]; k++) {
    for (let j = 0; j < shape[1]; j++) {
      for (let i = 0; i < shape[0]; i++) {
        const si = i + lo[0] - d[0] - m.lo[0], sj = j + lo[1] - d[1] - m.lo[1], sk = k + lo[2] - d[2] - m.lo[2];
        data[i + shape[0] * (j + shape[1] * k)] = m.data[si + bx * (sj + by * sk)]!;
      }
    }
  }
  return { lo, shape, data };
}

/**
 * The mask and a copy of its largest axial slice `beyondMm` past its superior end (or past its inferior
 * end when the scan stops first): a contour pasted onto the wrong slice.
 */
export function maskWithStray(m: BoxMask, grid: Grid, beyondMm: number): BoxMask {
  const [bx, by, bz] = m.shape;
  if (bx === 0) return m;
  const plane = bx * by;
  let best = 0, bestCount = -1;
  for (let k = 0; k < bz; k++) {
    let n = 0;
    for (let p = k * plane; p < (k + 1) * plane; p++) n += m.data[p]!;
    if (n > bestCount) [best, bestCount] = [k, n];
  }
  const gap = Math.round(beyondMm / grid.spacing[2]);
  const superiorUp = grid.direction[8]! > 0;
  const above = superiorUp ? m.lo[2] + bz - 1 + gap : m.lo[2] - gap;
  const below = superiorUp ? m.lo[2] - gap : m.lo[2] + bz - 1 + gap;
  const k = [above, below].find((z) => z >= 0 && z < grid.shape[2]);
  if (k === undefined) return m;
  const lo: Vec3 = [m.lo[0], m.lo[1], Math.min(m.lo[2], k)];
  const nz = Math.max(m.lo[2] + bz, k + 1) - lo[2];
  const data = new Uint8Array(plane * nz);
  data.set(m.data, (m.lo[2] - lo[2]) * plane);
  data.set(m.data.subarray(best * plane, (best + 1) * plane), (k - lo[2]) * plane);
  return { lo, shape: [bx, by, nz], data };
}
