/** Views of a label volume other than one slice. */
import type { Voxels } from './orientation';

/**
 * A coronal view through the mean row (the anterior-posterior index j) of the voxels of `label` (or of
 * every label, 'all'), superior up, with those voxels projected along j onto it, the most anterior
 * label where several lie behind one another: all pieces show, wherever they lie. Arrays in the
 * radiological order of `toRadiologicalView`; the result is a [nx, nz, 1] "slice" for `renderOverlay`
 * and `renderLabelSlice`. Null when no voxel holds the label.
 * @param superiorAtHighK whether k runs towards the head (LPS direction[8] > 0), so row 0 is superior.
 */
export function coronalProjection(ct: Voxels, labels: Voxels, shape: [number, number, number], label: number | 'all', superiorAtHighK: boolean): { ct: Int16Array; labels: Uint8Array; shape: [number, number, number] } | null {
  const [nx, ny, nz] = shape;
  const kept = (v: number) => (label === 'all' ? v > 0 : v === label);
  let sumJ = 0, n = 0;
  for (let p = 0; p < labels.length; p++) if (kept(labels[p]!)) { sumJ += Math.floor(p / nx) % ny; n++; }
  if (!n) return null;
  const row = Math.round(sumJ / n);
  const out = new Int16Array(nx * nz), projected = new Uint8Array(nx * nz);
  for (let k = 0; k < nz; k++) {
    const v = superiorAtHighK ? nz - 1 - k : k;
    for (let i = 0; i < nx; i++) {
      out[i + nx * v] = ct[i + nx * (row + ny * k)]!;
      for (let j = 0; j < ny; j++) {
        const value = labels[i + nx * (j + ny * k)]!;
        if (kept(value)) { projected[i + nx * v] = value; break; }
      }
    }
  }
  return { ct: out, labels: projected, shape: [nx, nz, 1] };
}
