/** Views of a label volume other than one slice. */
import type { Voxels } from './orientation';

/**
 * A coronal view through the organ's mean row (the anterior-posterior index j), superior up, with every
 * voxel of the organ projected along j onto it: all its pieces show, wherever they lie. Arrays in the
 * radiological order of `toRadiologicalView`; the result is a [nx, nz, 1] "slice" for `renderOverlay`.
 * @param superiorAtHighK whether k runs towards the head (LPS direction[8] > 0), so row 0 is superior.
 */
export function coronalProjection(ct: Voxels, labels: Voxels, shape: [number, number, number], label: number, superiorAtHighK: boolean): { ct: Int16Array; mask: Uint8Array; shape: [number, number, number] } | null {
  const [nx, ny, nz] = shape;
  let sumJ = 0, n = 0;
  for (let p = 0; p < labels.length; p++) if (labels[p] === label) { sumJ += Math.floor(p / nx) % ny; n++; }
  if (!n) return null;
  const row = Math.round(sumJ / n);
  const out = new Int16Array(nx * nz), mask = new Uint8Array(nx * nz);
  for (let k = 0; k < nz; k++) {
    const v = superiorAtHighK ? nz - 1 - k : k;
    for (let i = 0; i < nx; i++) {
      out[i + nx * v] = ct[i + nx * (row + ny * k)]!;
      for (let j = 0; j < ny && !mask[i + nx * v]; j++) if (labels[i + nx * (j + ny * k)] === label) mask[i + nx * v] = 1;
    }
  }
  return { ct: out, mask, shape: [nx, nz, 1] };
}
