/**
 * Cross-checks against independent implementations (Debian packages, installed by .ci/run):
 * plastimatch rasterises our RTSTRUCT on our CT series (with --xor-contours: by default it ORs the
 * contours of a slice and fills holes), pydicom reads it, dciodvfy validates it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readCtSeries, readDicomFile, writeCtSeries, writeDicomFile, type Mat3, type Vec3 } from '@anatomynet/data';
import { buildRtStruct, writeRtStruct } from './build';
import { parseRtStruct } from './parse';
import { rasteriseRoi } from './rasterise';
import { countOnes, dciodvfy, dice, organs, regularPolygon, rotation } from './test-helpers';
import { mulberry32 } from '@anatomynet/random';

const PYTHON = '/usr/bin/python3';
const here = dirname(fileURLToPath(import.meta.url));
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const pythonHas = (mod: string) => existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${mod}`]).status === 0;

const shape: Vec3 = [40, 32, 8];
const set = organs(shape);
const rois = set.map((o) => ({ label: o.label, name: o.name, color: [(o.label * 53) % 256, 128, 255 - o.label] as [number, number, number] }));
const root = mkdtempSync(join(tmpdir(), 'rt-oracle-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Writes a CT series in the given orientation, reads it back as the pipeline would, and writes our RTSTRUCT on it. */
function caseDir(name: string, direction: Mat3, patientPosition: string, origin: Vec3) {
  const dir = join(root, name);
  mkdirSync(join(dir, 'ct'), { recursive: true });
  const volume = { data: new Int16Array(shape[0] * shape[1] * shape[2]).fill(-1000), shape, spacing: [0.9, 0.8, 2.5] as Vec3, origin, direction };
  const { files } = writeCtSeries(volume, {
    dir: join(dir, 'ct'), seriesInstanceUID: '2.25.51', studyInstanceUID: '2.25.52', frameOfReferenceUID: '2.25.53',
    patientId: 'RT-ORACLE', patientName: 'Oracle^Test', patientPosition,
  });
  const ct = readCtSeries(files);
  const rtss = join(dir, 'rtss.dcm');
  writeRtStruct(rtss, { masks: set }, { ...ct, patientId: 'RT-ORACLE', patientName: 'Oracle^Test' }, rois);
  return { dir, rtss, ct };
}

interface NrrdGeometry { sizes: number[]; directions: number[][]; origin: number[] }

/**
 * plastimatch's mask of one ROI, resampled onto our grid by nearest voxel centre (any orientation): its
 * contours on a slice combined even-odd (`--xor-contours`: holes kept), or with `union`, OR-ed (its default).
 */
function plastimatchMasks(dir: string, rtss: string, ct: ReturnType<typeof readCtSeries>, { union = false } = {}): Map<string, Uint8Array> {
  const out = join(dir, union ? 'plastimatch-or' : 'plastimatch');
  execFileSync('plastimatch', ['convert', '--input', rtss, '--referenced-ct', join(dir, 'ct'), '--output-prefix', out, '--prefix-format', 'nrrd', ...(union ? [] : ['--xor-contours'])], { stdio: 'pipe' });
  const geoms = JSON.parse(execFileSync(PYTHON, [join(here, 'read_nrrd.py'), out], { encoding: 'utf8' })) as Record<string, NrrdGeometry>;
  const v = ct.volume, [nx, ny, nz] = v.shape;
  const masks = new Map<string, Uint8Array>();
  for (const [name, g] of Object.entries(geoms)) {
    const theirs = new Uint8Array(readFileSync(join(out, `${name}.u8`)));
    // Their index of a point p: solve p = origin + D * idx with D's columns the space directions (orthogonal).
    const D = g.directions;
    const ours = new Uint8Array(nx * ny * nz);
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++) {
          const p = [0, 1, 2].map((a) => v.origin[a] + v.direction[a * 3] * v.spacing[0] * i + v.direction[a * 3 + 1] * v.spacing[1] * j + v.direction[a * 3 + 2] * v.spacing[2] * k);
          const idx = D.map((d) => Math.round(((p[0] - g.origin[0]) * d[0] + (p[1] - g.origin[1]) * d[1] + (p[2] - g.origin[2]) * d[2]) / (d[0] ** 2 + d[1] ** 2 + d[2] ** 2)));
          if (idx.some((x, a) => x < 0 || x >= g.sizes[a])) continue;
          ours[i + nx * (j + ny * k)] = theirs[idx[0] + g.sizes[0] * (idx[1] + g.sizes[1] * idx[2])];
        }
    masks.set(name, ours);
  }
  return masks;
}

const orientations: [string, Mat3, string, Vec3][] = [
  ['HFS', [1, 0, 0, 0, 1, 0, 0, 0, 1], 'HFS', [-20, -15, 30]],
  ['FFS', [-1, 0, 0, 0, 1, 0, 0, 0, -1], 'FFS', [15.1, -15, 47.5]],
  ['HFP', [-1, 0, 0, 0, -1, 0, 0, 0, 1], 'HFP', [15.1, 9.8, 30]],
  ['oblique', rotation([1, 2, 3], 0.25), 'HFS', [-20, -15, 30]],
];

describe.skipIf(!has('plastimatch') || !pythonHas('numpy'))('plastimatch rasterises our RTSTRUCT like we do', () => {
  for (const [name, direction, position, origin] of orientations) {
    it(`${name}: Dice >= 0.98 per ROI against our rasteriser (exact so far) and the source masks`, () => {
      const { dir, rtss, ct } = caseDir(name, direction, position, origin);
      const parsed = parseRtStruct(readDicomFile(rtss).dataset, rtss);
      const theirs = plastimatchMasks(dir, rtss, ct);
      const report: string[] = [];
      for (const o of set) {
        const roi = parsed.rois.find((r) => r.number === o.label)!;
        const ours = rasteriseRoi(roi.contours, ct.volume).mask;
        const their = theirs.get(o.name);
        expect(their, `${o.name} missing from plastimatch's output`).toBeDefined();
        const d = dice(ours, their!);
        report.push(`${o.name} ${countOnes(o.mask)}v dice(ours, plastimatch)=${d.toFixed(4)}`);
        expect(d, o.name).toBeGreaterThanOrEqual(0.98);
        expect(dice(ours, o.mask), o.name).toBe(1);
      }
      console.log(`[${name}] ${report.join('; ')}`);
    });
  }
});

describe.skipIf(!has('plastimatch') || !pythonHas('numpy'))('plastimatch rasterises planning-system-like contours like we do', () => {
  it('circles, a concave polygon, a ring, a repeated closing point and two pieces drawn overlapping, HFS and HFP: Dice >= 0.98', () => {
    const r = mulberry32(11);
    for (const [name, direction, position, origin] of [orientations[0], orientations[2]]) {
      const { dir, ct } = caseDir(`tps-${name}`, direction, position, origin);
      const planes = ct.volume.slicePositionsMm!; // z of each slice (axial stacks: the normal is +z)
      const roi = (shapes: [number, number][][]) => shapes;
      const circles = roi(planes.slice(1, 7).map((z, k) => regularPolygon(-2 + 3 * r(), 4 * r() - 3, 5 + 3 * r() + k * 0.3, 24 + Math.floor(40 * r()), r())));
      const concave = roi(planes.slice(2, 6).map(() => [[-15.3, -11.1], [5.25, -11.1], [5.25, -6.7], [-9.9, -6.7], [-9.9, 6.1], [-15.3, 6.1]]));
      const ring = roi(planes.slice(3, 5).flatMap(() => [regularPolygon(8.3, 4.1, 6.2, 36, 0.2), regularPolygon(8.3, 4.1, 2.9, 20, 0.1).reverse()]));
      // Vertices avoid voxel centres: on an exact tie the answer depends on rounding (plastimatch keeps
      // its geometry in float32), so neither side would be wrong.
      const closed = roi([[[0.1, 0.25], [9.75, 0.25], [9.75, 7.3], [0.1, 7.3], [0.1, 0.25]]]);
      // two pieces of one structure drawn overlapping on each of two slices: united (plastimatch's default), not cut
      const overlap = roi(planes.slice(2, 4).flatMap(() => [regularPolygon(-6.1, 2.2, 4.7, 30, 0.3), regularPolygon(-1.9, 3.1, 4.1, 26, 0.7)]));
      const zOf = (name: string, c: number) => (name === 'Ring' ? planes[3 + (c >> 1)] : name === 'Overlap' ? planes[2 + (c >> 1)] : name === 'Closed' ? planes[4] : name === 'Concave' ? planes[2 + c] : planes[1 + c]);
      const specs = [['Circles', circles], ['Concave', concave], ['Ring', ring], ['Closed', closed], ['Overlap', overlap]] as const;
      // Start from a valid structure set of ours, then swap in these hand-drawn contours.
      const ds: any = buildRtStruct({ labelmap: new Uint8Array(ct.volume.data.length).fill(1) }, ct, specs.map((s, i) => ({ label: 1, number: i + 1, name: s[0], color: [255, 0, 0] as [number, number, number] })));
      specs.forEach(([roiName, shapes], i) => {
        ds.ROIContourSequence[i].ContourSequence = shapes.map((xy, c) => ({
          ContourGeometricType: 'CLOSED_PLANAR',
          NumberOfContourPoints: xy.length,
          ContourData: xy.flatMap(([x, y]) => [x.toFixed(4), y.toFixed(4), zOf(roiName, c).toFixed(4)]),
        }));
      });
      const rtss = join(dir, 'tps.dcm');
      writeDicomFile(rtss, ds);
      const parsed = parseRtStruct(readDicomFile(rtss).dataset, rtss);
      const xor = plastimatchMasks(dir, rtss, ct), union = plastimatchMasks(dir, rtss, ct, { union: true });
      // holes need even-odd, overlapping pieces a union; every other ROI here is the same either way
      const theirs = new Map([...xor].map(([roiName, m]) => [roiName, roiName === 'Overlap' ? union.get(roiName)! : m]));
      expect(dice(xor.get('Overlap')!, union.get('Overlap')!), 'the overlap tells the two rules apart').toBeLessThan(0.9);
      const report: string[] = [];
      const scores: [string, number][] = [];
      for (const [roiName] of specs) {
        const { mask, stats } = rasteriseRoi(parsed.rois.find((x) => x.name === roiName)!.contours, ct.volume);
        expect(stats.offVolume + stats.notInSlicePlane).toBe(0);
        const d = dice(mask, theirs.get(roiName)!);
        let differ = 0;
        for (let v = 0; v < mask.length; v++) if (mask[v] !== theirs.get(roiName)![v]) differ++;
        report.push(`${roiName} ${countOnes(mask)}v dice=${d.toFixed(4)} differing=${differ}`);
        scores.push([roiName, d]);
        if (process.env.RT_DEBUG) for (let v = 0; v < mask.length; v++) if (mask[v] !== theirs.get(roiName)![v]) console.log(roiName, v % 40, Math.floor(v / 40) % 32, Math.floor(v / 1280), mask[v]);
      }
      console.log(`[tps ${name}] ${report.join('; ')}`);
      for (const [roiName, d] of scores) expect(d, roiName).toBeGreaterThanOrEqual(0.98);
    }
  });
});

describe.skipIf(!pythonHas('pydicom'))('pydicom reads our RTSTRUCT', () => {
  it('with the ROI names, colours, contour counts and references we wrote', () => {
    const { rtss, ct } = caseDir('pydicom', [1, 0, 0, 0, 1, 0, 0, 0, 1], 'HFS', [-20, -15, 30]);
    const ours = parseRtStruct(readDicomFile(rtss).dataset, rtss);
    const script = `
import json, sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
rois = {int(r.ROINumber): str(r.ROIName) for r in ds.StructureSetROISequence}
out = {'modality': ds.Modality, 'sopClass': ds.SOPClassUID, 'rois': [], 'series': ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0].SeriesInstanceUID}
for rc in ds.ROIContourSequence:
    cs = rc.get('ContourSequence', [])
    out['rois'].append({'number': int(rc.ReferencedROINumber), 'name': rois[int(rc.ReferencedROINumber)], 'color': [int(c) for c in rc.ROIDisplayColor],
        'contours': len(cs), 'points': sum(int(c.NumberOfContourPoints) for c in cs), 'values': sum(len(c.ContourData) for c in cs),
        'firstPoint': [float(x) for x in cs[0].ContourData[:3]] if cs else None,
        'refs': sorted({c.ContourImageSequence[0].ReferencedSOPInstanceUID for c in cs})})
print(json.dumps(out))`;
    const py = JSON.parse(execFileSync(PYTHON, ['-c', script, rtss], { encoding: 'utf8' }));
    expect(py.modality).toBe('RTSTRUCT');
    expect(py.sopClass).toBe('1.2.840.10008.5.1.4.1.1.481.3');
    expect(py.series).toBe(ct.seriesInstanceUID);
    expect(py.rois.map((r: any) => r.name)).toEqual(set.map((o) => o.name));
    for (const r of py.rois) {
      const roi = ours.rois.find((x) => x.number === r.number)!;
      expect(r.color).toEqual(roi.color);
      expect(r.contours).toBe(roi.contours.length);
      expect(r.values).toBe(3 * r.points);
      expect(r.points).toBe(roi.contours.reduce((n, c) => n + c.points.length / 3, 0));
      expect(r.firstPoint).toEqual(Array.from(roi.contours[0].points.subarray(0, 3)));
      for (const uid of r.refs) expect(ct.sopInstanceUIDs).toContain(uid);
    }
  });
});

describe.skipIf(!has('dciodvfy'))('dciodvfy validates our RTSTRUCT', () => {
  it('reports no errors (warnings listed), also with an ROI that has no voxels', () => {
    const { rtss, ct, dir } = caseDir('dciodvfy', [1, 0, 0, 0, 1, 0, 0, 0, 1], 'HFS', [-20, -15, 30]);
    const withEmpty = join(dir, 'with-empty.dcm');
    writeRtStruct(withEmpty, { masks: [...set, { label: 99, mask: new Uint8Array(set[0].mask.length) }] }, { ...ct, patientId: 'RT-ORACLE', patientName: 'Oracle^Test' },
      [...rois, { label: 99, name: 'Empty', color: [0, 0, 0] }]);
    for (const file of [rtss, withEmpty]) {
      const { lines, errors } = dciodvfy(file);
      expect(lines.some((l) => /RTStructureSet/.test(l))).toBe(true);
      expect(errors).toEqual([]);
    }
  });
});
