/**
 * The scan geometry of a synthetic case: patient position (HFS mostly, some FFS), in-plane matrix and
 * spacing, slice thickness, field of view and scan range (from above or at the vertex down into the
 * upper chest).
 */
import type { Mat3, Vec3 } from '@anatomynet/data';
import type { Patient } from './patient';
import type { Rng } from './prng';
import type { Grid } from './raster';

export type PatientPosition = 'HFS' | 'FFS';

/** Size presets: 'small' keeps cohorts quick (matrix 208-288, 0.69-1.0 mm), 'full' is the clinical 512x512 (0.53-1.0 mm). */
export type SynthSize = 'small' | 'full';

export interface ScanGeometryOptions {
  size?: SynthSize;
  /** Probability of a feet-first supine case (default 0.15). */
  ffsFraction?: number;
  /** Force one in-plane matrix (columns = rows). */
  matrix?: number;
  /** Force one slice spacing (mm). */
  sliceMm?: number;
}

export interface ScanGeometry {
  grid: Grid;
  patientPosition: PatientPosition;
  /** Field of view across (mm). */
  fovMm: number;
}

/** Image axes in LPS for each position: columns of the direction matrix are i (row), j (column), k. */
const DIRECTIONS: Record<PatientPosition, Mat3> = {
  HFS: [1, 0, 0, 0, 1, 0, 0, 0, 1],
  // ImageOrientationPatient -1\0\0\0\1\0: i runs to the patient's right, k (row x column) to the feet.
  FFS: [-1, 0, 0, 0, 1, 0, 0, 0, -1],
};

const round = (x: number, step: number) => Math.round(x / step) * step;

/** Draws the scan geometry of one case around `patient`. */
export function sampleScanGeometry(rng: Rng, patient: Patient, opts: ScanGeometryOptions = {}): ScanGeometry {
  const size = opts.size ?? 'small';
  const patientPosition: PatientPosition = rng.chance(opts.ffsFraction ?? 0.15) ? 'FFS' : 'HFS';
  let matrix: number, spacing: number;
  if (size === 'full') {
    matrix = opts.matrix ?? 512;
    spacing = round(rng.uniform(Math.max(0.5, 270 / matrix), 1.0), 0.0001);
  } else if (opts.matrix) {
    // A forced (test-sized) matrix: the 200-240 mm field of view still holds the head and neck; spacing follows.
    matrix = opts.matrix;
    spacing = round(rng.uniform(200, 240) / matrix, 0.0001);
  } else {
    // Clinical in-plane spacing (0.5-1.0 mm) over a 200-240 mm head-and-neck field of view, on matrices
    // smaller than 512 so that a cohort stays quick; the shoulders are cut at the edge, as in many real scans.
    matrix = rng.pick([208, 224, 240, 256, 288]);
    spacing = round(rng.uniform(Math.max(0.5, 200 / matrix), Math.min(1.0, 240 / matrix)), 0.0001);
  }
  const sliceMm = opts.sliceMm ?? (size === 'full'
    ? rng.weighted<number>([[1.25, 1], [1.5, 1], [2, 2], [2.5, 3], [3, 3]])
    : rng.weighted<number>([[1.25, 0.5], [1.5, 0.5], [2, 1], [2.5, 3], [3, 3]]));

  // Scan range: from a little above the vertex (or cutting it) down below the lung apices.
  const top = patient.landmarks.vertex[2] + rng.uniform(-18, 12);
  const bottom = patient.landmarks.lungApexZ - rng.uniform(25, 70);
  const nz = Math.max(8, Math.round((top - bottom) / sliceMm) + 1);

  const c = patient.landmarks.neckCentre;
  const centre: Vec3 = [round(c[0] + rng.normal(0, 4), 0.1), round(c[1] + rng.normal(0, 6), 0.1), 0];
  const half = ((matrix - 1) / 2) * spacing;
  const direction = DIRECTIONS[patientPosition];
  const zStart = round(patientPosition === 'HFS' ? bottom : bottom + (nz - 1) * sliceMm, 0.01);
  const origin: Vec3 = [
    round(centre[0] - direction[0] * half, 0.0001),
    round(centre[1] - half, 0.0001),
    zStart,
  ];
  return {
    grid: { shape: [matrix, matrix, nz], spacing: [spacing, spacing, sliceMm], origin, direction: [...direction] as Mat3 },
    patientPosition,
    fovMm: matrix * spacing,
  };
}
