/**
 * Prints how long whole-volume metrics take for 9 organs on a 200x300x300 label map (run with
 * `npx tsx libs/metrics/bench/evaluate.bench.ts`). Organs are ellipsoids of head-and-neck sizes; the
 * prediction is each organ shifted by a voxel or two.
 */
import { evaluateLabels, largestConnectedComponent } from '../src/index.js';

const shape = [200, 300, 300] as const;
const spacingMm = [1.0, 1.0, 2.5] as const;
const [nx, ny, nz] = shape;
// centre (voxels) and radii (mm) of 9 organs
const organs: [number, number, number, number, number, number][] = [
  [100, 150, 150, 12, 14, 30], [100, 120, 170, 6, 4, 4], [95, 110, 180, 4, 6, 3], [60, 160, 120, 15, 20, 25],
  [140, 160, 120, 15, 20, 25], [100, 200, 100, 35, 30, 20], [70, 170, 90, 10, 12, 15], [130, 170, 90, 10, 12, 15],
  [100, 140, 190, 3, 25, 3],
];
function paint(shift: number): Uint8Array {
  const m = new Uint8Array(nx * ny * nz);
  organs.forEach(([cx, cy, cz, rx, ry, rz], idx) => {
    const label = idx + 1;
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
      const x = (i - cx - shift) * spacingMm[0], y = (j - cy) * spacingMm[1], z = (k - cz) * spacingMm[2];
      if ((x / rx) ** 2 + (y / ry) ** 2 + (z / rz) ** 2 <= 1) m[i + nx * (j + ny * k)] = label;
    }
  });
  return m;
}
const gt = paint(0), pred = paint(2);
for (const method of ['surfels', 'surfels', 'surfels', 'voxelFaces'] as const) {
  const t0 = performance.now();
  const rows = evaluateLabels(pred, gt, shape, spacingMm, 10, { method });
  const t1 = performance.now();
  console.log(`evaluateLabels (${method}) 9 organs ${shape.join('x')}: ${(t1 - t0).toFixed(0)} ms; mean Dice ${(rows.reduce((s, r) => s + r.dice, 0) / 9).toFixed(3)}, HD95 organ 6 ${rows[5]!.hd95Mm.toFixed(2)} mm, surface Dice ${rows[5]!.surfaceDice.toFixed(3)}`);
}
const organ6 = pred.map((v) => (v === 6 ? 1 : 0));
const t2 = performance.now();
largestConnectedComponent(organ6, shape);
console.log(`largestConnectedComponent of one organ in ${shape.join('x')}: ${(performance.now() - t2).toFixed(0)} ms`);
