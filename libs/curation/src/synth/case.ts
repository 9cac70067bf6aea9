/**
 * One synthetic case in memory: the patient, its scan geometry, the CT (HU), which organs are
 * annotated, the structure set plan (DICOM cases) and masks computed on demand. Everything is drawn
 * from streams named by (seed, case index), so a case does not depend on the others.
 */
import type { Vec3, Volume } from '@anatomynet/data';
import { renderHu, renderLabels } from './ct';
import { sampleScanGeometry, type ScanGeometry, type SynthSize } from './geometry';
import { samplePatient, type Patient } from './patient';
import { Rng } from './prng';
import { paintShape, rasteriseShapeBox, subGrid, type BoxMask, type Grid } from './raster';
import { drawAnnotated, planRois, type RoiPlan } from './rois';
import { maskWithoutMiddleSlice, maskWithStray, movedMask, plantAnnotationError, shiftedMask, SYNTH_ANNOTATION_ERRORS, type SynthAnnotationError, type SynthAnnotationErrorKind } from './errors';
import type { NamingStyle } from './names';
import type { SynthOrgan } from './tissues';

export type SynthFormat = 'dicom' | 'pddca';

export interface SynthCaseOptions {
  size?: SynthSize;
  /** Probability of a feet-first case among DICOM cases (default 0.15; PDDCA cases are HFS). */
  ffsFraction?: number;
  matrix?: number;
  sliceMm?: number;
  /** An annotation error to plant (DICOM cases; the next kind when this one cannot happen to the case). */
  annotationError?: SynthAnnotationErrorKind;
  /** DICOM cases: write the annotations as a DICOM SEG instead of an RTSTRUCT (point ROIs left out). */
  seg?: boolean;
  /** DICOM cases: write the CT as one Enhanced CT image (multi-frame) instead of a file per slice. */
  enhancedCt?: boolean;
}

export interface SynthCase {
  index: number;
  caseId: string;
  format: SynthFormat;
  patient: Patient;
  geometry: ScanGeometry;
  /** HU, on geometry.grid. */
  ct: Volume<Int16Array>;
  /** Noise standard deviation (HU) of this scan. */
  noiseSdHu: number;
  annotated: Record<SynthOrgan, boolean>;
  /** DICOM cases: the structure set to write; PDDCA cases: empty. */
  rois: RoiPlan[];
  namingStyle: NamingStyle | null;
  patientId: string;
  patientName: string;
  /** undefined: the attribute is left out of the files. */
  patientIdentityRemoved: boolean | undefined;
  /** The annotation error planted in its structure set, if any. */
  annotationError?: SynthAnnotationError;
  /** Annotations written as a DICOM SEG (DICOM cases only). */
  seg?: boolean;
  /** CT written as one Enhanced CT image (DICOM cases only). */
  enhancedCt?: boolean;
}

/** Case folder name: PDDCA-like ids for NRRD cases, pseudonyms for DICOM cases. */
function caseIdOf(rng: Rng, index: number, format: SynthFormat): string {
  return format === 'pddca' ? `0522c${String(index + 1).padStart(4, '0')}` : `HN-${rng.hex(8).toUpperCase()}`;
}

/**
 * Generates case `index` of the cohort drawn from `seed`.
 * @param format 'dicom' (CT series + RTSTRUCT) or 'pddca' (NRRD image + structure masks).
 */
export function generateCase(seed: number | string, index: number, format: SynthFormat, opts: SynthCaseOptions = {}): SynthCase {
  const rng = Rng.from('anatomynet-synth', seed, 'case', index);
  const patient = samplePatient(rng.fork('patient'));
  const geometry = sampleScanGeometry(rng.fork('geometry'), patient, {
    size: opts.size ?? 'small',
    ffsFraction: format === 'pddca' ? 0 : opts.ffsFraction ?? 0.15,
    ...(opts.matrix ? { matrix: opts.matrix } : {}),
    ...(opts.sliceMm ? { sliceMm: opts.sliceMm } : {}),
  });
  const meta = rng.fork('meta');
  const noiseSdHu = meta.uniform(8, 20);
  const labels = renderLabels(patient, geometry.grid);
  const ct = renderHu(labels, geometry.grid, patient.tissueHu, noiseSdHu, rng.fork('noise'));
  const annotated = drawAnnotated(rng.fork('annotated'), format);
  const plan = format === 'dicom' ? planRois(rng.fork('rois'), annotated, patient.landmarks.neckCentre) : null;
  const caseId = caseIdOf(meta, index, format);
  const planted = plan && opts.annotationError ? plantError(plan.rois, opts.annotationError) : null;
  return {
    index,
    caseId,
    format,
    patient,
    geometry,
    ct,
    noiseSdHu,
    annotated,
    rois: planted?.rois ?? plan?.rois ?? [],
    namingStyle: plan?.style ?? null,
    patientId: caseId,
    patientName: `SYNTH^${meta.hex(6).toUpperCase()}`,
    patientIdentityRemoved: meta.chance(0.2) ? undefined : true,
    ...(planted ? { annotationError: planted.error } : {}),
    ...(format === 'dicom' && opts.seg ? { seg: true } : {}),
    ...(format === 'dicom' && opts.enhancedCt ? { enhancedCt: true } : {}),
  };
}

/** The kind asked for, or the next that can happen to this structure set. */
function plantError(rois: RoiPlan[], kind: SynthAnnotationErrorKind): ReturnType<typeof plantAnnotationError> {
  const start = SYNTH_ANNOTATION_ERRORS.indexOf(kind);
  for (let i = 0; i < SYNTH_ANNOTATION_ERRORS.length; i++) {
    const planted = plantAnnotationError(rois, SYNTH_ANNOTATION_ERRORS[(start + i) % SYNTH_ANNOTATION_ERRORS.length]!);
    if (planted) return planted;
  }
  return null;
}

/** The true mask of one organ on the case's grid (0/1 over the organ's index box). */
export function organMask(c: SynthCase, organ: SynthOrgan): BoxMask {
  return rasteriseShapeBox(c.geometry.grid, c.patient.organs[organ]);
}

/**
 * Grows a box mask by `mm` (ellipsoidal structuring element in voxels, so anisotropic spacing is
 * honoured); the box grows with it, clipped to the grid. Stamps the element at every boundary voxel.
 */
export function dilateMask(m: BoxMask, grid: Grid, mm: number): BoxMask {
  const r = grid.spacing.map((s) => mm / s) as Vec3;
  const ext = r.map((x) => Math.floor(x)) as Vec3;
  const lo = [0, 1, 2].map((a) => Math.max(0, m.lo[a]! - ext[a]!)) as Vec3;
  const hi = [0, 1, 2].map((a) => Math.min(grid.shape[a]! - 1, m.lo[a]! + m.shape[a]! - 1 + ext[a]!)) as Vec3;
  if (m.shape[0] === 0) return m;
  const size = [0, 1, 2].map((a) => hi[a]! - lo[a]! + 1) as Vec3;
  const out = new Uint8Array(size[0] * size[1] * size[2]);
  const offsets: Vec3[] = [];
  for (let dk = -ext[2]; dk <= ext[2]; dk++) {
    for (let dj = -ext[1]; dj <= ext[1]; dj++) {
      for (let di = -ext[0]; di <= ext[0]; di++) {
        if ((di / r[0]) ** 2 + (dj / r[1]) ** 2 + (dk / r[2]) ** 2 <= 1) offsets.push([di, dj, dk]);
      }
    }
  }
  const [bx, by, bz] = m.shape;
  const at = (i: number, j: number, k: number) => (i < 0 || j < 0 || k < 0 || i >= bx || j >= by || k >= bz ? 0 : m.data[i + bx * (j + by * k)]!);
  for (let k = 0; k < bz; k++) {
    for (let j = 0; j < by; j++) {
      for (let i = 0; i < bx; i++) {
        if (!m.data[i + bx * (j + by * k)]) continue;
        // Position in the output box.
        const oi = i + m.lo[0] - lo[0], oj = j + m.lo[1] - lo[1], ok = k + m.lo[2] - lo[2];
        const interior = at(i - 1, j, k) && at(i + 1, j, k) && at(i, j - 1, k) && at(i, j + 1, k) && at(i, j, k - 1) && at(i, j, k + 1);
        if (interior) {
          out[oi + size[0] * (oj + size[1] * ok)] = 1;
          continue;
        }
        for (const [di, dj, dk] of offsets) {
          const a = oi + di, b = oj + dj, cc = ok + dk;
          if (a >= 0 && a < size[0] && b >= 0 && b < size[1] && cc >= 0 && cc < size[2]) out[a + size[0] * (b + size[1] * cc)] = 1;
        }
      }
    }
  }
  return { lo, shape: size, data: out };
}

/** Voxels of one planned ROI (null for POINT and empty ROIs). */
export function roiMask(c: SynthCase, roi: RoiPlan, organMasks: Partial<Record<SynthOrgan, BoxMask>> = {}): BoxMask | null {
  const grid = c.geometry.grid;
  const organ = (o: SynthOrgan) => organMasks[o] ?? organMask(c, o);
  const s = roi.source;
  switch (s.kind) {
    case 'organ':
      return organ(s.organ);
    case 'extra':
      return rasteriseShapeBox(grid, c.patient.extras[s.structure]);
    case 'dilated':
      return dilateMask(s.organ === 'SpinalCord' ? rasteriseShapeBox(grid, c.patient.extras.SpinalCord) : organ(s.organ), grid, s.mm);
    case 'minusPtv': {
      const m = organ(s.organ);
      if (m.shape[0] === 0) return m;
      const ptv = new Uint8Array(m.data.length);
      paintShape(subGrid(grid, m.lo, m.shape), c.patient.extras.PTV70, ptv, 1);
      const data = m.data.slice();
      for (let i = 0; i < data.length; i++) if (ptv[i]) data[i] = 0;
      return { lo: [...m.lo], shape: [...m.shape], data };
    }
    case 'union': {
      const parts = s.organs.map(organ).filter((m) => m.shape[0] > 0);
      if (parts.length === 0) return { lo: [0, 0, 0], shape: [0, 0, 0], data: new Uint8Array(0) };
      const lo = [0, 1, 2].map((a) => Math.min(...parts.map((p) => p.lo[a]!))) as Vec3;
      const hi = [0, 1, 2].map((a) => Math.max(...parts.map((p) => p.lo[a]! + p.shape[a]! - 1))) as Vec3;
      const size = [0, 1, 2].map((a) => hi[a]! - lo[a]! + 1) as Vec3;
      const data = new Uint8Array(size[0] * size[1] * size[2]);
      for (const p of parts) {
        const [bx, by, bz] = p.shape;
        for (let k = 0; k < bz; k++) {
          for (let j = 0; j < by; j++) {
            for (let i = 0; i < bx; i++) {
              if (p.data[i + bx * (j + by * k)]) data[i + p.lo[0] - lo[0] + size[0] * (j + p.lo[1] - lo[1] + size[1] * (k + p.lo[2] - lo[2]))] = 1;
            }
          }
        }
      }
      return { lo, shape: size, data };
    }
    case 'stray':
      return maskWithStray(organ(s.organ), grid, s.beyondMm);
    case 'moved':
      return movedMask(organ(s.organ), grid, s.inferiorMm);
    case 'skipped':
      return maskWithoutMiddleSlice(organ(s.organ));
    case 'shifted': {
      const m = roiMask(c, { ...roi, source: s.of }, organMasks);
      return m && m.shape[0] > 0 ? shiftedMask(m, grid, s.mm) : m;
    }
    case 'point':
    case 'empty':
      return null;
  }
}
