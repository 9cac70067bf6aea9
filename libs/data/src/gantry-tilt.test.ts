/**
 * Gantry-tilted CT series: slices whose origins drift in-plane off the slice normal are shifted back onto
 * an orthogonal grid, so that every voxel holds the CT number of the patient point the volume's geometry
 * says it is at (where contours drawn in patient coordinates lie).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readCtSeries, writeCtSeries } from './ct-series';
import { readDicomFile, uidFromSeed, writeDicomFile } from './dicom';
import { shiftSlice } from './slice-shift';
import { tempDir } from './test-helpers';
import type { Vec3 } from './volume';

const tmp = tempDir('tilt');
afterAll(tmp.cleanup);

describe('shiftSlice', () => {
  const src = Int16Array.from({ length: 12 }, (_, p) => 10 * p); // 4 x 3, i fastest
  it('moves by whole voxels exactly, filling what comes from outside', () => {
    const out = new Int16Array(12);
    shiftSlice(src, 4, 3, 1, 0, -1000, out);
    expect(Array.from(out)).toEqual([-1000, 0, 10, 20, -1000, 40, 50, 60, -1000, 80, 90, 100]);
    shiftSlice(src, 4, 3, 0, -1, -1000, out);
    expect(Array.from(out)).toEqual([40, 50, 60, 70, 80, 90, 100, 110, -1000, -1000, -1000, -1000]);
  });
  it('interpolates between pixels for a fraction of a voxel', () => {
    const out = new Int16Array(12);
    shiftSlice(src, 4, 3, 0.5, 0.25, -1000, out);
    // out(i, j) = src(i - 0.5, j - 0.25): row 0 would need j = -0.25, outside
    expect(Array.from(out.subarray(0, 4))).toEqual([-1000, -1000, -1000, -1000]);
    expect(Array.from(out.subarray(4, 8))).toEqual([-1000, 35, 45, 55]); // x 0.5..2.5, y 0.75: 5 + 30 + 10x
  });
});

describe('readCtSeries on a gantry-tilted series', () => {
  const shape: Vec3 = [30, 24, 12];
  /** CT numbers that are a linear function of the patient position (integers on these grids). */
  const hu = (p: Vec3) => 2 * p[0] + 4 * p[1] + p[2];
  const uid = (s: string) => uidFromSeed('1.2.826.0.1.3680043.10.1234', 'tilt', s);

  /** Writes the series with slice k's origin moved `driftMm` * k along the column direction (y). */
  function tiltedSeries(name: string, driftMm: number): { files: string[]; data: Int16Array } {
    const [nx, ny, nz] = shape;
    const origin: Vec3 = [-10, -12, 40];
    const data = new Int16Array(nx * ny * nz);
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) data[i + nx * (j + ny * k)] = hu([origin[0] + i, origin[1] + j + driftMm * k, origin[2] + 2 * k]);
    const { files } = writeCtSeries(
      { data, shape, spacing: [1, 1, 2], origin, direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] },
      { dir: `${tmp.dir}/${name}`, seriesInstanceUID: uid(name), studyInstanceUID: uid('study'), frameOfReferenceUID: uid('for'), patientId: 'T', patientName: 'Tilt^T' },
    );
    files.forEach((path, k) => {
      const f = readDicomFile(path);
      f.dataset.ImagePositionPatient = [origin[0], origin[1] + driftMm * k, origin[2] + 2 * k].map(String);
      writeDicomFile(path, f.dataset, f.transferSyntaxUID);
    });
    return { files, data };
  }

  it('shifts each slice back by its drift: every voxel whose point the slice covers holds that point\'s CT number', () => {
    const s = readCtSeries(tiltedSeries('tilted', 0.5).files); // 14 degrees; the last slice 5.5 mm (5.5 voxels) off
    const v = s.volume;
    expect(v.direction).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(v.origin).toEqual([-10, -12, 40]);
    expect(s.warnings).toEqual([expect.stringMatching(/^slice origins drift up to 5\.5 mm off the slice normal \(gantry tilt\): slices were shifted in-plane/)]);
    const [nx, ny, nz] = shape;
    let covered = 0, filled = 0;
    for (let k = 0; k < nz; k++) {
      const sliceMin = Math.min(...Array.from({ length: nx * ny }, (_, p) => hu([-10 + (p % nx), -12 + Math.floor(p / nx) + 0.5 * k, 40 + 2 * k])));
      for (let j = 0; j < ny; j++) {
        for (let i = 0; i < nx; i++) {
          const got = v.data[i + nx * (j + ny * k)];
          // the grid voxel (i, j, k) is at (-10 + i, -12 + j, 40 + 2k); slice k covers y from -12 + 0.5k
          if (j - 0.5 * k >= 0) {
            expect(got, `voxel ${i},${j},${k}`).toBe(hu([-10 + i, -12 + j, 40 + 2 * k]));
            covered++;
          } else {
            expect(got, `voxel ${i},${j},${k}`).toBe(sliceMin);
            filled++;
          }
        }
      }
    }
    expect(covered).toBeGreaterThan(filled * 5);
    expect(filled).toBeGreaterThan(0);
  });

  it('as scanners write it (tilted planes, origins stepping along the table): CT numbers at the grid\'s points within 1 HU', () => {
    const [nx, ny, nz] = shape;
    const t = (15 * Math.PI) / 180, dz = 2.5;
    const row: Vec3 = [1, 0, 0], col: Vec3 = [0, Math.cos(t), Math.sin(t)], normal: Vec3 = [0, -Math.sin(t), Math.cos(t)];
    const origin: Vec3 = [-10, -12, 40];
    const at = (o: Vec3, i: number, j: number, extra: Vec3 = [0, 0, 0]): Vec3 => [0, 1, 2].map((a) => o[a] + i * row[a] + j * col[a] + extra[a]) as Vec3;
    const ipp = (k: number): Vec3 => [origin[0], origin[1], origin[2] + dz * k];
    const data = new Int16Array(nx * ny * nz);
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) data[i + nx * (j + ny * k)] = Math.round(hu(at(ipp(k), i, j)));
    const { files } = writeCtSeries(
      { data, shape, spacing: [1, 1, dz * Math.cos(t)], origin, direction: [row[0], col[0], normal[0], row[1], col[1], normal[1], row[2], col[2], normal[2]] },
      { dir: `${tmp.dir}/scanner`, seriesInstanceUID: uid('scanner'), studyInstanceUID: uid('study'), frameOfReferenceUID: uid('for'), patientId: 'T', patientName: 'Tilt^T' },
    );
    files.forEach((path, k) => {
      const f = readDicomFile(path);
      f.dataset.ImagePositionPatient = ipp(k).map(String);
      writeDicomFile(path, f.dataset, f.transferSyntaxUID);
    });
    const s = readCtSeries(files);
    expect(s.warnings).toEqual([expect.stringMatching(/gantry tilt/)]);
    s.volume.spacing.forEach((x, a) => expect(x).toBeCloseTo([1, 1, dz * Math.cos(t)][a], 3));
    let worst = 0, covered = 0;
    for (let k = 0; k < nz; k++) {
      const drift = dz * k * Math.sin(t); // along the column direction, in mm = voxels
      for (let j = 0; j < ny; j++) {
        if (j - drift < 0) continue;
        for (let i = 0; i < nx; i++) {
          const expected = hu(at(origin, i, j, [0, 1, 2].map((a) => normal[a] * dz * k * Math.cos(t)) as Vec3));
          worst = Math.max(worst, Math.abs(s.volume.data[i + nx * (j + ny * k)] - expected));
          covered++;
        }
      }
    }
    expect(covered).toBeGreaterThan(nx * ny * nz * 0.7);
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('a drift under a twentieth of a voxel (rounded positions) is left alone, with a note', () => {
    const { files, data } = tiltedSeries('rounding', 0.003);
    const s = readCtSeries(files);
    expect(s.warnings).toEqual([expect.stringMatching(/drift 0\.033 mm off the slice normal, under a twentieth of a voxel: ignored/)]);
    expect(s.volume.data).toEqual(data);
  });
});
