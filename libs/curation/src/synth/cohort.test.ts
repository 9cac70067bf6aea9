import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCtSeries, readDicomFile, readNrrd, type Volume } from '@anatomynet/data';
import { parseRtStruct, rasteriseRoi } from '@anatomynet/rt';
import { cohortFormats, SYNTH_TRUTH_FILE, SynthOutputError, writeSynthCase, writeSynthCohort, type SynthTruth } from './cohort';
import { SYNTH_ORGANS } from './tissues';
import type { CaseTruth } from './write';

const root = mkdtempSync(join(tmpdir(), 'synth-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** sha256 over every file (sorted relative path + bytes). */
function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): string[] => readdirSync(d).sort().flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
  for (const f of walk(dir)) h.update(relative(dir, f) + '\0').update(readFileSync(f));
  return h.digest('hex');
}

const COHORT = { cases: 3, seed: 42, pddcaFraction: 0.34, ffsFraction: 0.5, matrix: 96, sliceMm: 3 };

describe('writeSynthCohort', () => {
  let truth: SynthTruth;
  beforeAll(async () => {
    truth = await writeSynthCohort({ outDir: join(root, 'a'), ...COHORT });
  }, 120_000);

  it('writes the same bytes for the same seed, and different bytes for another seed', async () => {
    await writeSynthCohort({ outDir: join(root, 'b'), ...COHORT });
    expect(hashTree(join(root, 'b'))).toBe(hashTree(join(root, 'a')));
    await writeSynthCohort({ outDir: join(root, 'c'), ...COHORT, cases: 1, seed: 43 });
    const first = truth.cases[0]!.dir;
    expect(readFileSync(join(root, 'c', SYNTH_TRUTH_FILE), 'utf8')).not.toContain(first);
  });

  it('spreads the PDDCA cases evenly and records the truth file', () => {
    expect(cohortFormats(8, 0.25)).toEqual(['dicom', 'dicom', 'dicom', 'pddca', 'dicom', 'dicom', 'dicom', 'pddca']);
    expect(truth.cases.map((c) => c.format)).toEqual(cohortFormats(3, 0.34));
    const onDisk = JSON.parse(readFileSync(join(root, 'a', SYNTH_TRUTH_FILE), 'utf8')) as SynthTruth;
    expect(onDisk.cases.map((c) => c.caseId)).toEqual(truth.cases.map((c) => c.caseId));
    expect(readdirSync(join(root, 'a')).sort()).toEqual([...truth.cases.map((c) => c.caseId), SYNTH_TRUTH_FILE].sort());
  });

  it('refuses a non-empty folder that is not a previous cohort, and replaces a previous one with overwrite', async () => {
    const other = join(root, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'keep.txt'), 'mine');
    await expect(writeSynthCohort({ outDir: other, ...COHORT, cases: 1, overwrite: true })).rejects.toBeInstanceOf(SynthOutputError);
    await expect(writeSynthCohort({ outDir: join(other, 'keep.txt'), ...COHORT, cases: 1, overwrite: true })).rejects.toThrow(`${join(other, 'keep.txt')}: a file is there; give a folder`);
    await expect(writeSynthCohort({ outDir: join(root, 'b'), ...COHORT, cases: 1 })).rejects.toThrow(/not empty/);
    await writeSynthCohort({ outDir: join(root, 'b'), ...COHORT, cases: 1, overwrite: true });
    expect(readdirSync(join(root, 'b')).length).toBe(2);
  });

  it('writes DICOM cases that read back with the claimed geometry and ROIs that match the truth', () => {
    const dicomCases = truth.cases.filter((c) => c.format === 'dicom');
    expect(dicomCases.length).toBe(2);
    for (const c of dicomCases) checkDicomCase(join(root, 'a', c.dir), c);
  });

  it('writes CT and RTSTRUCT files that dciodvfy (dicom3tools) finds no errors in, when installed', () => {
    if (spawnSync('dciodvfy', ['-h'], { encoding: 'utf8' }).error) return; // oracle not installed on this machine
    for (const c of truth.cases.filter((x) => x.format === 'dicom')) {
      for (const f of [c.files.ct[0]!, c.files.rtstruct!]) {
        const out = spawnSync('dciodvfy', [join(root, 'a', c.dir, f)], { encoding: 'utf8' });
        const errors = (out.stdout + out.stderr).split('\n').filter((l) => l.startsWith('Error'));
        expect(errors, f).toEqual([]);
      }
    }
  });

  it('writes PDDCA cases with binary masks that match the truth', () => {
    const c = truth.cases.find((x) => x.format === 'pddca')!;
    const dir = join(root, 'a', c.dir);
    const img = readNrrd(join(dir, 'img.nrrd')).volume;
    expectGeometry(img, c);
    expect(img.data).toBeInstanceOf(Int16Array);
    const files = readdirSync(join(dir, 'structures')).sort();
    expect(files).toEqual(SYNTH_ORGANS.filter((o) => c.organs[o].annotated).map((o) => `${o}.nrrd`).sort());
    for (const f of files) {
      const organ = f.replace('.nrrd', '') as (typeof SYNTH_ORGANS)[number];
      const m = readNrrd(join(dir, 'structures', f)).volume;
      expect(m.data).toBeInstanceOf(Uint8Array);
      expectGeometry(m, c);
      let ones = 0, other = 0;
      for (const v of m.data) {
        if (v === 1) ones++;
        else if (v !== 0) other++;
      }
      expect(other, organ).toBe(0);
      expect(ones, organ).toBe(c.organs[organ].voxels);
    }
  });

  it('records organ volumes, CT contrast and names in the truth', () => {
    for (const c of truth.cases) {
      expect(c.organs.Parotid_L.ml).toBeGreaterThan(17);
      expect(c.organs.Parotid_L.ml).toBeLessThan(33);
      expect(c.organs.BrainStem.analyticMl).toBeGreaterThanOrEqual(20);
      expect(c.organs.BrainStem.analyticMl).toBeLessThanOrEqual(30);
      expect(c.organs.Mandible.meanHu).toBeGreaterThan(700);
      expect(c.organs.Parotid_R.meanHu).toBeLessThan(c.organs.Parotid_R.shellMeanHu);
      for (const [name, organ] of Object.entries(c.nameToOrgan)) expect(c.organs[organ].roiName).toBe(name);
      expect(c.landmarks.lungApexZMm).toBeLessThan(c.organs.Submandibular_L.boxMm!.min[2]);
    }
  });
});

describe('writeSynthCase orientation', () => {
  it('writes a feet-first case whose series reads back with k towards the feet and organs on the right side', () => {
    const dir = join(root, 'ffs');
    mkdirSync(dir);
    const c = writeSynthCase({ outDir: dir, seed: 5, index: 0, format: 'dicom', options: { ffsFraction: 1, matrix: 96, sliceMm: 3 } });
    expect(c.patientPosition).toBe('FFS');
    const { ct, masks } = checkDicomCase(join(dir, c.dir), c);
    expect(ct.direction).toEqual([-1, 0, 0, 0, 1, 0, 0, 0, -1]);
    const centroid = (m: Uint8Array): number[] => {
      const [nx, ny] = ct.shape;
      const s = [0, 0, 0];
      let n = 0;
      for (let off = 0; off < m.length; off++) {
        if (!m[off]) continue;
        const i = off % nx, j = Math.floor(off / nx) % ny, k = Math.floor(off / (nx * ny));
        const p = [ct.origin[0] - i * ct.spacing[0], ct.origin[1] + j * ct.spacing[1], ct.origin[2] - k * ct.spacing[2]];
        s[0] += p[0]!; s[1] += p[1]!; s[2] += p[2]!;
        n++;
      }
      return s.map((v) => v / n);
    };
    const byOrgan = (o: string) => masks.get(o);
    // Parotids are always annotated in practice; compare their centres in LPS.
    const pl = byOrgan('Parotid_L'), pr = byOrgan('Parotid_R');
    expect(pl && pr).toBeTruthy();
    expect(centroid(pl!)[0]).toBeGreaterThan(centroid(pr!)[0]! + 40); // left is +x
    // Slice 0 is the most superior: the top slices hold skull, the bottom ones lung.
    const n = ct.shape[0] * ct.shape[1];
    const lungVoxels = (k: number) => { let c2 = 0; for (let o = k * n; o < (k + 1) * n; o++) if (ct.data[o]! < -700 && ct.data[o]! > -920) c2++; return c2; };
    expect(lungVoxels(ct.shape[2] - 1)).toBeGreaterThan(lungVoxels(2) + 100);
    const hfs = writeSynthCase({ outDir: dir, seed: 5, index: 1, format: 'dicom', options: { ffsFraction: 0, matrix: 96, sliceMm: 3 } });
    expect(hfs.patientPosition).toBe('HFS');
    expect(checkDicomCase(join(dir, hfs.dir), hfs).ct.direction).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  });

  it('writes DICOM that pydicom reads (independent reader), when Debian pydicom is installed', () => {
    const py = spawnSync('/usr/bin/python3', ['-c', 'import pydicom'], { encoding: 'utf8' });
    if (py.status !== 0) return; // oracle not installed on this machine
    const dir = join(root, 'ffs');
    const truth = readdirSync(dir).filter((d) => d.startsWith('HN-'));
    expect(truth.length).toBe(2);
    const script = `
import sys, os, pydicom
for case in sys.argv[1:]:
    files = [os.path.join(r, f) for r, _, fs in os.walk(case) for f in fs]
    rs = [pydicom.dcmread(f) for f in files if os.path.basename(f).startswith('RS.')]
    cts = [pydicom.dcmread(f) for f in files if not os.path.basename(f).startswith('RS.')]
    print(cts[0].PatientPosition, len(cts), cts[0].Rows, len(rs[0].StructureSetROISequence), len({c.SOPInstanceUID for c in cts}))
`;
    const out = spawnSync('/usr/bin/python3', ['-c', script, ...truth.map((t) => join(dir, t))], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    const lines = out.stdout.trim().split('\n').map((l) => l.split(' '));
    expect(lines.map((l) => l[0]).sort()).toEqual(['FFS', 'HFS']);
    for (const l of lines) {
      expect(l[2]).toBe('96');
      expect(l[1]).toBe(l[4]); // one SOP instance per file
    }
  });
});

function expectGeometry(v: Volume, c: CaseTruth): void {
  expect(v.shape).toEqual(c.geometry.shape);
  for (let a = 0; a < 3; a++) {
    expect(v.spacing[a]).toBeCloseTo(c.geometry.spacing[a]!, 4);
    expect(v.origin[a]).toBeCloseTo(c.geometry.origin[a]!, 3);
  }
  v.direction.forEach((x, i) => expect(x).toBeCloseTo(c.geometry.direction[i]!, 6));
}

/** Reads a DICOM case back with libs/data and libs/rt and checks it against its truth. */
function checkDicomCase(dir: string, c: CaseTruth): { ct: Volume<Int16Array>; masks: Map<string, Uint8Array> } {
  const ctFiles = c.files.ct.map((f) => join(dir, f));
  const series = readCtSeries(ctFiles);
  expectGeometry(series.volume, c);
  expect(series.patientPosition).toBe(c.patientPosition);
  expect(series.patientIdentityRemoved ?? null).toBe(c.patientIdentityRemoved);
  expect(series.warnings).toEqual([]);
  const rs = parseRtStruct(readDicomFile(join(dir, c.files.rtstruct!)).dataset, c.files.rtstruct!);
  expect(rs.rois.map((r) => r.name)).toEqual(c.rois.map((r) => r.name));
  expect(rs.referencedSeriesUIDs).toEqual([series.seriesInstanceUID]);
  const masks = new Map<string, Uint8Array>();
  for (const [i, roi] of rs.rois.entries()) {
    const t = c.rois[i]!;
    expect(roi.interpretedType).toBe(t.interpretedType);
    if (t.role === 'point') {
      expect(roi.contours.map((x) => x.geometricType)).toEqual(['POINT']);
      continue;
    }
    if (t.role === 'empty') {
      expect(roi.contours).toEqual([]);
      continue;
    }
    const { mask } = rasteriseRoi(roi.contours, series.volume);
    let n = 0;
    for (const v of mask) n += v;
    expect(n, roi.name).toBe(t.voxels);
    if (t.role === 'organ') {
      expect(n).toBe(c.organs[t.organ!].voxels);
      masks.set(t.organ!, mask);
    }
  }
  return { ct: series.volume, masks };
}
