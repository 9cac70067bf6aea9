/**
 * Prints timings of the RT hot paths on a CT-sized grid (512 x 512 x 160, 0.98 x 0.98 x 2.5 mm) with
 * nine organ-sized shapes: rasterising contours, tracing masks, building the RTSTRUCT and merging;
 * building a DICOM SEG, its bytes, and reading it back onto the grid.
 * Run: npx tsx libs/rt/bench.ts   (figures only; no test depends on them)
 */
import { performance } from 'node:perf_hooks';
import { encodeDicom, parseDicomBuffer, type Vec3 } from '@anatomynet/data';
import { buildDicomSeg, buildRtStruct, mergeLabels, parseDicomSeg, parseRtStruct, rasteriseRoi, segmentsOnGrid, type RtContour } from './src/index';
import { countOnes, grid } from './src/test-helpers';

const shape: Vec3 = [512, 512, 160];
const g = grid(shape, [0.9765625, 0.9765625, 2.5], [-250, -250, -200]);
const [nx, ny, nz] = shape;

/** Ellipsoids of organ-like sizes (semi-axes in voxels), a few of them hollow. */
const organs = [
  [256, 300, 80, 60, 45, 30, false], [256, 200, 100, 8, 4, 2, false], [256, 360, 50, 90, 40, 20, true],
  [200, 180, 100, 20, 3, 2, false], [312, 180, 100, 20, 3, 2, false], [170, 300, 60, 25, 30, 12, false],
  [342, 300, 60, 25, 30, 12, false], [200, 380, 40, 12, 12, 8, false], [312, 380, 40, 12, 12, 8, true],
] as const;
const masks = organs.map(([cx, cy, cz, a, b, c, hollow], index) => {
  const mask = new Uint8Array(nx * ny * nz);
  for (let k = Math.max(0, cz - c); k <= Math.min(nz - 1, cz + c); k++)
    for (let j = Math.max(0, cy - b); j <= Math.min(ny - 1, cy + b); j++)
      for (let i = Math.max(0, cx - a); i <= Math.min(nx - 1, cx + a); i++) {
        const r = ((i - cx) / a) ** 2 + ((j - cy) / b) ** 2 + ((k - cz) / c) ** 2;
        if (r <= 1 && !(hollow && r < 0.4)) mask[i + nx * (j + ny * k)] = 1;
      }
  return { label: index + 1, mask, voxels: countOnes(mask) };
});
const ct = { volume: g, seriesInstanceUID: '2.25.1', studyInstanceUID: '2.25.2', frameOfReferenceUID: '2.25.3', sopInstanceUIDs: Array.from({ length: nz }, (_, k) => `2.25.4.${k}`) };
const rois = masks.map((m) => ({ label: m.label, name: `Organ${m.label}`, color: [255, 0, 0] as [number, number, number] }));

function time<T>(label: string, f: () => T): T {
  const t0 = performance.now();
  const out = f();
  console.log(`${label.padEnd(48)} ${(performance.now() - t0).toFixed(0).padStart(6)} ms`);
  return out;
}

console.log(`grid ${shape.join(' x ')}, ${masks.length} organs, ${masks.reduce((n, m) => n + m.voxels, 0)} voxels in all`);
const merged = time('mergeLabels (9 masks)', () => mergeLabels(masks));
const ds = time('buildRtStruct (trace + LPS + DS strings)', () => buildRtStruct({ labelmap: merged.labelmap }, ct, rois));
let contours = 0, points = 0;
for (const rc of ds.ROIContourSequence as any[]) {
  for (const c of rc.ContourSequence ?? []) {
    contours++;
    points += c.NumberOfContourPoints;
  }
}
console.log(`  ${contours} contours, ${points} points`);
const parsed = time('parseRtStruct (in memory)', () => parseRtStruct(ds, 'bench'));
const all: RtContour[][] = parsed.rois.map((r) => r.contours);
const back = time('rasteriseRoi x 9', () => all.map((c) => rasteriseRoi(c, g)));
const exact = back.every((b, index) => b.mask.every((v, p) => v === (merged.labelmap[p] === index + 1 ? 1 : 0)));
console.log(`round trip exact: ${exact}`);

const specs = rois.map((r) => ({ ...r, type: { value: '123037004', scheme: 'SCT', meaning: 'Anatomical Structure' } }));
const seg = time('buildDicomSeg (frames, bit packing)', () => buildDicomSeg({ labelmap: merged.labelmap }, ct, specs));
const bytes = time('  encode (dcmjs)', () => encodeDicom(seg));
console.log(`  ${seg.NumberOfFrames} frames, ${(bytes.length / 2 ** 20).toFixed(1)} MiB`);
const read = time('  parse (dcmjs) + parseDicomSeg', () => {
  const f = parseDicomBuffer('bench.dcm', bytes);
  return parseDicomSeg(f.dataset, 'bench.dcm', f.transferSyntaxUID);
});
const onGrid = time('segmentsOnGrid x 9', () => segmentsOnGrid(read, g, ct));
console.log(`SEG round trip exact: ${onGrid.every((o, index) => o.mask.every((v, p) => v === (merged.labelmap[p] === index + 1 ? 1 : 0)))}`);
