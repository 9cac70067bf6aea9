/**
 * Inference output: label map -> labels.nii.gz and RTSTRUCT, read back by the curator's rasteriser
 * (libs/rt) and by independent readers (pydicom, dciodvfy); segmentToFiles with a tiny trained model on
 * NIfTI and DICOM input; the largest-component filter.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { evenSlices, pickSlices, readDicomFile, readNifti, writeCtSeries, writeDicomFile, writeNifti, type Mat3, type Vec3, type Volume } from '@anatomynet/data';
import { parseRtStruct, rasteriseRoi } from '@anatomynet/rt';
import { ORGANS } from '@anatomynet/curation';
import { selectBackend } from '@anatomynet/compute';
import { openSqliteStore } from '@anatomynet/tracking';
import { keepLargestComponents, predictLabels } from './evaluate';
import { openDataset, prepareCase } from './dataset';
import * as tf from '@tensorflow/tfjs';
import { predict } from '@anatomynet/model';
import { resolveRunConfig } from './run-config';
import { generationDescriptionOf, loadRunEnsemble, loadRunModel, RunFolderError } from './run-folder';
import { loadInputCt, ORGAN_COLOURS, outputNamesFor, SegmentInputError, segmentToFiles, segmentVolume, writeSegmentation, type LoadedInput } from './segment';
import { trainRun } from './trainer';
import { writeTinyDataset } from './testing/tiny-dataset';

const here = dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';
const hasPydicom = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import pydicom, numpy']).status === 0;
const hasDciodvfy = spawnSync('sh', ['-c', 'command -v dciodvfy']).status === 0;
const root = mkdtempSync(join(tmpdir(), 'segment-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const UIDS = { studyInstanceUID: '2.25.7001', seriesInstanceUID: '2.25.7002', frameOfReferenceUID: '2.25.7003' };

/**
 * Writes `hu` as a CT series in `dir` and reads it back as `trainer segment` does; `enhanced`: as one
 * Enhanced CT image in shuffled frame order instead (pydicom's, from the single-frame series).
 */
function ctSeriesInput(dir: string, hu: Volume<Int16Array>, patientPosition: string, enhanced = false): LoadedInput {
  if (!enhanced) {
    writeCtSeries(hu, { dir, ...UIDS, patientId: 'SEG-TEST', patientName: 'Segment^Test', patientPosition });
    return loadInputCt(dir);
  }
  const single = `${dir}-single`;
  writeCtSeries(hu, { dir: single, ...UIDS, patientId: 'SEG-TEST', patientName: 'Segment^Test', patientPosition });
  mkdirSync(dir, { recursive: true });
  const made = spawnSync(PYTHON, [join(here, '..', '..', 'data', 'src', 'testing', 'make_enhanced_ct.py'), single, join(dir, 'enhanced.dcm'), 'shuffle'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(made.stderr);
  return loadInputCt(join(dir, 'enhanced.dcm'));
}

/**
 * A small head phantom on [40, 36, 14] voxels and organ labels of different kinds: spheres (Brainstem,
 * parotids), a U-shaped mandible, a thin tube (left optic nerve, 1-3 voxels across), a 2x2x2 cube (left
 * submandibular gland); Chiasm, OpticNrv_R and Glnd_Submand_R are absent.
 */
const SHAPE: Vec3 = [40, 36, 14];
function phantom(direction: Mat3, origin: Vec3): { hu: Volume<Int16Array>; labels: Uint8Array } {
  const [nx, ny, nz] = SHAPE;
  const hu = new Int16Array(nx * ny * nz).fill(-1000);
  const labels = new Uint8Array(nx * ny * nz);
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const p = i + nx * (j + ny * k);
        if (((i - 20) / 18) ** 2 + ((j - 18) / 16) ** 2 <= 1) hu[p] = 40;
        const ring = Math.hypot(i - 20, j - 18);
        let l = 0;
        if (((i - 20) / 4.5) ** 2 + ((j - 14) / 4.5) ** 2 + ((k - 7) / 2.5) ** 2 <= 1) l = 1;
        else if (ring >= 10 && ring <= 13 && j >= 18 && k >= 2 && k <= 5) l = 3; // U opening towards -j
        else if ((j - 6) ** 2 + (k - 9) ** 2 <= 1 && i >= 22 && i <= 34) l = 4;
        else if (((i - 31) / 3) ** 2 + ((j - 14) / 4) ** 2 + ((k - 6) / 2) ** 2 <= 1) l = 6;
        else if (((i - 9) / 3) ** 2 + ((j - 14) / 4) ** 2 + ((k - 6) / 2) ** 2 <= 1) l = 7;
        else if (i >= 28 && i <= 29 && j >= 26 && j <= 27 && k >= 10 && k <= 11) l = 8;
        if (l) {
          labels[p] = l;
          hu[p] = l === 3 ? 900 : 60;
        }
      }
  return { hu: { data: hu, shape: SHAPE, spacing: [1.2, 1.0, 2.5], origin, direction }, labels };
}

const dice = (a: Uint8Array, b: Uint8Array) => {
  let inter = 0, na = 0, nb = 0;
  for (let p = 0; p < a.length; p++) {
    na += a[p] ? 1 : 0;
    nb += b[p] ? 1 : 0;
    inter += a[p] && b[p] ? 1 : 0;
  }
  return na + nb === 0 ? 1 : (2 * inter) / (na + nb);
};

const PRESENT = [1, 3, 4, 6, 7, 8];

describe.each([
  ['HFS', 'HFS', [1, 0, 0, 0, 1, 0, 0, 0, 1] as Mat3, [-24, -18, 40] as Vec3, false],
  ['FFS', 'FFS', [-1, 0, 0, 0, 1, 0, 0, 0, -1] as Mat3, [24, -18, 75] as Vec3, false],
  ['FFS Enhanced CT (multi-frame)', 'FFS', [-1, 0, 0, 0, 1, 0, 0, 0, -1] as Mat3, [24, -18, 75] as Vec3, true],
])('writeSegmentation on a %s CT series', (name, position, direction, origin, enhanced) => {
  const dir = join(root, name.replace(/\W+/g, '-'));
  const ctDir = join(dir, 'ct');
  const outDir = join(dir, 'out');
  mkdirSync(outDir, { recursive: true });
  const { hu, labels } = phantom(direction, origin);
  const input = ctSeriesInput(ctDir, hu, position, enhanced);
  const files = writeSegmentation(labels, input, outDir, { generationDescription: 'segment.test' });

  test('labels.nii.gz holds the label map on the CT grid', () => {
    expect(input.volume.direction).toEqual(direction);
    const nii = readNifti(files.labelsPath);
    expect(nii.shape).toEqual(SHAPE);
    for (const a of [0, 1, 2]) {
      expect(nii.spacing[a]).toBeCloseTo(input.volume.spacing[a], 5);
      expect(nii.origin[a]).toBeCloseTo(input.volume.origin[a], 4);
    }
    nii.direction.forEach((d, i) => expect(d).toBeCloseTo(direction[i], 6));
    expect(Array.from(nii.data as Uint8Array)).toEqual(Array.from(labels));
    expect(files.voxelsPerOrgan.OpticChiasm).toBe(0);
    expect(files.voxelsPerOrgan.Glnd_Submand_L).toBe(8);
    expect(Object.values(files.voxelsPerOrgan).reduce((a, b) => a + b, 0)).toBe(labels.filter((l) => l > 0).length);
  });

  test("the curator's rasteriser reads the RTSTRUCT back with Dice >= 0.95 per organ, on the CT's references", () => {
    expect(files.rtstructPath).toBe(join(outDir, 'rtstruct.dcm'));
    const rt = parseRtStruct(readDicomFile(files.rtstructPath!).dataset, files.rtstructPath!);
    expect(rt.warnings).toEqual([]);
    expect(rt.frameOfReferenceUIDs).toEqual([UIDS.frameOfReferenceUID]);
    expect(rt.referencedSeriesUIDs).toEqual([UIDS.seriesInstanceUID]);
    expect(rt.referencedStudyUIDs).toEqual([UIDS.studyInstanceUID]);
    for (const uid of rt.referencedSOPInstanceUIDs) expect(input.series!.sopInstanceUIDs).toContain(uid);
    // an Enhanced CT's slices are its frames: each contour names its frame
    if (enhanced) expect(rt.rois.flatMap((r) => r.contours).filter((c) => c.referencedFrameNumber === undefined)).toEqual([]);
    expect(rt.rois.map((r) => r.name)).toEqual(ORGANS.map((o) => o.tg263));
    const scores: Record<string, number> = {};
    for (const organ of ORGANS) {
      const roi = rt.rois.find((r) => r.name === organ.tg263)!;
      expect(roi.color).toEqual(ORGAN_COLOURS[organ.index]);
      const truth = labels.map((l) => (l === organ.index ? 1 : 0));
      const { mask, stats } = rasteriseRoi(roi.contours, input.series!.volume, input.series!);
      expect(stats.offVolume + stats.notInSlicePlane + stats.referencesOtherSlice + stats.referencesUnknownImage).toBe(0);
      if (!PRESENT.includes(organ.index)) expect(roi.contours).toEqual([]);
      scores[organ.tg263] = dice(mask, truth);
    }
    for (const [name, d] of Object.entries(scores)) expect(d, `${name} Dice ${d}`).toBeGreaterThanOrEqual(0.95);
  });

  test.skipIf(!hasPydicom)('pydicom reads it: TG-263 names, references and contour planes match the CT', () => {
    const run = spawnSync(PYTHON, [join(here, 'testing', 'read_rtstruct.py'), files.rtstructPath!, ctDir], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r).toMatchObject({ sopClassUID: '1.2.840.10008.5.1.4.1.1.481.3', modality: 'RTSTRUCT', patientId: 'SEG-TEST', patientIdMatchesCt: true });
    expect(r.studyInstanceUID).toBe(UIDS.studyInstanceUID);
    expect(r.frameOfReferenceUIDs).toEqual([UIDS.frameOfReferenceUID]);
    expect(r.referencedStudyUIDs).toEqual([UIDS.studyInstanceUID]);
    expect(r.referencedSeriesUIDs).toEqual([UIDS.seriesInstanceUID]);
    expect([...r.contourImageUIDs].sort()).toEqual([...input.series!.sopInstanceUIDs].sort());
    expect(r.structureSetROIs.map((x: { name: string }) => x.name)).toEqual([
      'Brainstem', 'OpticChiasm', 'Bone_Mandible', 'OpticNrv_L', 'OpticNrv_R', 'Parotid_L', 'Parotid_R', 'Glnd_Submand_L', 'Glnd_Submand_R',
    ]);
    for (const x of r.structureSetROIs) expect(x.frameOfReferenceUID).toBe(UIDS.frameOfReferenceUID);
    for (const organ of ORGANS) {
      const roi = r.rois[organ.index];
      expect(roi.color).toEqual(ORGAN_COLOURS[organ.index]);
      expect(roi.contours > 0).toBe(PRESENT.includes(organ.index));
      if (roi.contours) expect(roi.types).toEqual(['CLOSED_PLANAR']);
      // Every contour lies in the plane of the CT image it names.
      expect(roi.maxOffPlaneMm).toBeLessThan(1e-3);
    }
  });

  test.skipIf(!hasDciodvfy)('dciodvfy reports no errors in the RTSTRUCT or the SEG', () => {
    for (const [file, iod] of [[files.rtstructPath!, /RTStructureSet/], [files.segPath!, /Segmentation/]] as const) {
      const run = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
      const lines = `${run.stdout}\n${run.stderr}`.split('\n').filter((l) => l.trim());
      expect(lines.some((l) => iod.test(l))).toBe(true);
      expect(lines.filter((l) => /^Error/.test(l))).toEqual([]);
    }
  });

  test('dicom: ["seg"] writes the SEG alone beside the labels, [] neither DICOM object', () => {
    for (const [name, dicom, files] of [['seg-only', ['seg'], ['labels.nii.gz', 'seg.dcm']], ['none', [], ['labels.nii.gz']]] as const) {
      const out = join(dir, name);
      mkdirSync(out, { recursive: true });
      const r = writeSegmentation(labels, input, out, { dicom });
      expect(readdirSync(out).sort(), name).toEqual(files);
      expect(r.rtstructPath).toBeUndefined();
      expect(Boolean(r.segPath)).toBe(dicom.length > 0);
    }
  });

  test.skipIf(!hasPydicom)('pydicom reads the SEG back onto the CT grid: each organ exactly its voxels, TG-263 labels, SNOMED CT codes', () => {
    expect(files.segPath).toBe(join(outDir, 'seg.dcm'));
    // libs/rt's reader, which places each frame by the CT slice it names, with the CT files' own positions
    const run = spawnSync(PYTHON, [join(here, '..', '..', 'rt', 'src', 'read_seg.py'), files.segPath!, ctDir], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(run.status, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.modality).toBe('SEG');
    expect(r.referencedSeries).toBe(UIDS.seriesInstanceUID);
    expect(r.frameOfReference).toBe(UIDS.frameOfReferenceUID);
    expect(r.geometryError).toBeLessThan(1e-3);
    expect(r.segments.map((x: { label: string }) => x.label)).toEqual(ORGANS.map((o) => o.tg263));
    expect(r.segments[5]).toMatchObject({ type: ['45289007', 'SCT', 'Parotid gland'], modifier: ['7771000', 'SCT', 'Left'], category: ['123037004', 'SCT', 'Anatomical Structure'] });
    expect(r.segments[2]).toMatchObject({ type: ['91609006', 'SCT', 'Mandible'], modifier: null });
    for (const organ of ORGANS) {
      const truth: number[] = [];
      labels.forEach((l, v) => l === organ.index && truth.push(v));
      expect(r.voxels[String(organ.index)] ?? [], organ.tg263).toEqual(truth);
    }
  });
});

describe('a DICOM series whose slice steps vary (2.5 mm, then 3.5 mm)', () => {
  const dir = join(root, 'uneven');
  const ctDir = join(dir, 'ct');
  const outDir = join(dir, 'out');
  mkdirSync(outDir, { recursive: true });
  const { hu, labels: onAcquired } = phantom([1, 0, 0, 0, 1, 0, 0, 0, 1], [-24, -18, 40]);
  writeCtSeries(hu, { dir: ctDir, ...UIDS, patientId: 'SEG-TEST', patientName: 'Segment^Test', patientPosition: 'HFS' });
  for (const name of readdirSync(ctDir)) {
    const k = Number(name.replace(/\D/g, '')) - 1;
    if (k <= 7) continue;
    const f = readDicomFile(join(ctDir, name));
    f.dataset.ImagePositionPatient = ['-24', '-18', String(40 + 2.5 * 7 + 3.5 * (k - 7))];
    writeDicomFile(join(ctDir, name), f.dataset, f.transferSyntaxUID);
  }
  const input = loadInputCt(ctDir);
  const planes = input.volume.shape[2];
  const sliceVoxels = SHAPE[0] * SHAPE[1];
  // a segmentation on the uniform grid, as the network draws it; the acquired slices' labels from their nearest planes
  const even = evenSlices(input.series!.volume)!;
  const labels = pickSlices(onAcquired, sliceVoxels, even.grid.nearestSlice);
  const acquired = pickSlices(labels, sliceVoxels, input.seriesSlicePlanes!);
  const files = writeSegmentation(labels, input, outDir);

  test('loadInputCt puts the CT on the uniform 2.5 mm grid, says so, and keeps the series as acquired', () => {
    expect(input.series!.volume.shape).toEqual(SHAPE);
    expect(planes).toBe(16); // 38.5 mm at 2.5 mm
    expect(input.volume.spacing[2]).toBe(2.5);
    expect(input.volume.data).toEqual(even.volume.data);
    expect(Array.from(input.seriesSlicePlanes!)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 13, 14, 15]);
    expect(input.warnings).toEqual([`${even.note}; the RTSTRUCT and SEG take each slice's labels from its nearest plane`]);
    expect(even.note).toMatch(/^slice steps vary from 2\.5 to 3\.5 mm: resampled onto a uniform 2\.5 mm grid \(16 planes for 14 slices/);
  });

  test('labels.nii.gz holds the labels on the uniform grid', () => {
    const nii = readNifti(files.labelsPath);
    expect(nii.shape).toEqual([SHAPE[0], SHAPE[1], 16]);
    expect(nii.spacing[2]).toBeCloseTo(2.5, 6);
    expect(Array.from(nii.data as Uint8Array)).toEqual(Array.from(labels));
  });

  test("the RTSTRUCT's contours lie on the acquired slices and rasterise to their labels", () => {
    const rt = parseRtStruct(readDicomFile(files.rtstructPath!).dataset, files.rtstructPath!);
    for (const organ of ORGANS.filter((o) => PRESENT.includes(o.index))) {
      const roi = rt.rois.find((r) => r.name === organ.tg263)!;
      const { mask, stats } = rasteriseRoi(roi.contours, input.series!.volume, input.series!);
      expect(stats.offVolume + stats.notInSlicePlane + stats.referencesOtherSlice + stats.referencesUnknownImage).toBe(0);
      expect(dice(mask, acquired.map((l) => (l === organ.index ? 1 : 0))), organ.tg263).toBeGreaterThanOrEqual(0.95);
    }
  });

  test.skipIf(!hasPydicom)('pydicom places the SEG\'s frames on the CT files\' own positions: each organ exactly its acquired slices\' voxels', () => {
    const run = spawnSync(PYTHON, [join(here, '..', '..', 'rt', 'src', 'read_seg.py'), files.segPath!, ctDir], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(run.status, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.geometryError).toBeLessThan(1e-3);
    for (const organ of ORGANS) {
      const truth: number[] = [];
      acquired.forEach((l, v) => l === organ.index && truth.push(v));
      expect(r.voxels[String(organ.index)] ?? [], organ.tg263).toEqual(truth);
    }
  });
});

describe('writeSegmentation refuses labels that do not fit the input', () => {
  const input: LoadedInput = { volume: { data: new Float32Array(8), shape: [2, 2, 2], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] }, warnings: [] };
  test('wrong length and non-organ values throw RangeError, nothing written', () => {
    const out = join(root, 'refuse');
    mkdirSync(out);
    expect(() => writeSegmentation(new Uint8Array(7), input, out)).toThrow(/7 labels for 2x2x2 = 8 voxels/);
    expect(() => writeSegmentation(new Uint8Array(8).fill(12), input, out)).toThrow(/label 12 is not an organ/);
    expect(existsSync(join(out, 'labels.nii.gz'))).toBe(false);
  });
});

describe('loadInputCt', () => {
  test('names the path: missing, and a folder without CT', () => {
    expect(() => loadInputCt(join(root, 'nope'))).toThrow(SegmentInputError);
    expect(() => loadInputCt(join(root, 'nope'))).toThrow(/nope: does not exist/);
    const empty = join(root, 'empty');
    mkdirSync(empty);
    expect(() => loadInputCt(empty)).toThrow(/empty: no CT series found/);
    const text = join(root, 'notes.txt');
    writeFileSync(text, 'not a scan');
    expect(() => loadInputCt(text)).toThrow(SegmentInputError);
    expect(() => loadInputCt(text)).toThrow(/notes\.txt: neither a NIfTI or NRRD volume .* nor a DICOM file/);
  });

  test('refuses a volume without air or bone (a mask, values without the rescale) unless told, naming the values', () => {
    const { hu, labels } = phantom([1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]);
    const write = (name: string, v: Volume) => (writeNifti(join(root, name), v), join(root, name));
    expect(loadInputCt(write('ct.nii.gz', hu)).volume.shape).toEqual(SHAPE);
    const mask = write('mask.nii.gz', { ...hu, data: labels });
    expect(() => loadInputCt(mask)).toThrow(new RegExp(`${mask}: does not look like a CT in Hounsfield units \\(values 0\\.\\.8: no air`));
    expect(loadInputCt(mask, undefined, { huCheck: false }).volume.data).toEqual(labels);
    const stored = write('stored.nii.gz', { ...hu, data: hu.data.map((v) => v + 1024) }); // intercept -1024 never applied
    expect(() => loadInputCt(stored)).toThrow(/values 24\.\.1924: no air/);
    const soft = write('soft.nii.gz', { ...hu, data: hu.data.map((v) => Math.min(v, 80)) });
    expect(() => loadInputCt(soft)).toThrow(/values -1000\.\.80: no bone/);
  });

  test('reads NaN voxels (outside the scan, in float images) as air, and counts them', () => {
    const { hu } = phantom([1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]);
    const f = Float32Array.from(hu.data);
    f.fill(NaN, 0, 40);
    writeNifti(join(root, 'nan.nii.gz'), { ...hu, data: f });
    const r = loadInputCt(join(root, 'nan.nii.gz'));
    expect(r.notNumbers).toBe(40);
    expect(Array.from(r.volume.data.slice(0, 41))).toEqual([...Array(40).fill(-1024), hu.data[40]]);
    expect(loadInputCt(join(root, 'ct.nii.gz')).notNumbers).toBeUndefined();
  });
});

describe('keepLargestComponents', () => {
  test('removes a far-away false-positive blob per organ and keeps 26-connected pieces and other organs', () => {
    const shape: Vec3 = [30, 20, 10];
    const at = (i: number, j: number, k: number) => i + shape[0] * (j + shape[1] * k);
    const labels = new Uint8Array(shape[0] * shape[1] * shape[2]);
    for (let k = 2; k <= 6; k++) for (let j = 4; j <= 8; j++) for (let i = 3; i <= 8; i++) labels[at(i, j, k)] = 1; // organ 1, 150 voxels
    labels[at(9, 9, 7)] = 1; // touches organ 1's corner only: same 26-component
    for (let k = 7; k <= 8; k++) for (let j = 15; j <= 16; j++) for (let i = 25; i <= 26; i++) labels[at(i, j, k)] = 1; // far-away blob, 8 voxels
    for (let k = 1; k <= 3; k++) for (let i = 20; i <= 24; i++) labels[at(i, 2, k)] = 3; // organ 3, one piece
    labels[at(0, 0, 0)] = 6; // a lone voxel is the whole of organ 6
    const out = keepLargestComponents(labels, shape, 10);
    const expected = labels.slice();
    for (let k = 7; k <= 8; k++) for (let j = 15; j <= 16; j++) for (let i = 25; i <= 26; i++) expected[at(i, j, k)] = 0;
    expect(Array.from(out)).toEqual(Array.from(expected));
    expect(out.filter((l) => l === 1).length).toBe(151);
  });

  test('with a minimum share keeps an organ split into two large pieces, and still drops the small blob', () => {
    const shape: Vec3 = [30, 20, 10];
    const at = (i: number, j: number, k: number) => i + shape[0] * (j + shape[1] * k);
    const labels = new Uint8Array(shape[0] * shape[1] * shape[2]);
    for (let k = 2; k <= 6; k++) for (let j = 4; j <= 8; j++) for (let i = 3; i <= 8; i++) labels[at(i, j, k)] = 2; // 150 voxels
    for (let k = 2; k <= 6; k++) for (let j = 4; j <= 8; j++) for (let i = 14; i <= 18; i++) labels[at(i, j, k)] = 2; // 125, apart
    labels[at(28, 18, 9)] = 2; // 1-voxel false positive
    const both = keepLargestComponents(labels, shape, 10, 0.25);
    expect(both.filter((l) => l === 2).length).toBe(275);
    expect(both[at(28, 18, 9)]).toBe(0);
    expect(keepLargestComponents(labels, shape, 10).filter((l) => l === 2).length).toBe(150);
  });
});

describe('segmentToFiles with a tiny trained model', () => {
  beforeAll(() => selectBackend({ prefer: 'cpu', log: () => undefined }));
  test('NIfTI input: labels.nii.gz on the input grid, no RTSTRUCT; DICOM input: the same labels and rtstruct.dcm', async () => {
    const ds = join(root, 'ds');
    const ids = writeTinyDataset(ds, { cases: 3 });
    const store = openSqliteStore(join(root, 'seg.db'));
    // Trained on a coarser grid than the images (2.5 x 2.5 x 3 mm against 1.5 x 1.5 x 2): segmenting resamples there and back.
    const config = resolveRunConfig({
      seed: 5,
      model: { filters: [4, 6], blocksPerStage: 1, block: 'residual', seRatio: 2, outputUpFilters: 4, outputFilters: 4 },
      loss: { name: 'dice+ce', lambda: 0.5 },
      data: { huWindow: { lo: -200, hi: 1300 }, augment: null, spacingMm: [2.5, 2.5, 3] },
      schedule: { rmspropEpochs: 2, rmspropLr: 0.002, sgdEpochs: 0, sgdLr: 0.001, momentum: 0.9 },
    });
    const r = await trainRun({ config, datasetDir: ds, store, experiment: 'seg', runName: 'seg', runsDir: join(root, 'runs') });
    await store.close();
    expect(r.status, r.error).toBe('FINISHED');
    const { model, config: loaded } = loadRunModel(join(root, 'runs', r.runId));
    expect(loaded).toEqual(config);
    const opts = { huWindow: loaded.data.huWindow, spacingMm: loaded.data.spacingMm, largestComponent: true };

    const nifti = loadInputCt(join(ds, 'imagesTr', `${ids[0]}_0000.nii.gz`));
    expect(nifti.series).toBeUndefined();
    const outA = join(root, 'seg-nifti');
    mkdirSync(outA);
    const a = await segmentToFiles(model, nifti, outA, opts);
    expect(a.rtstructPath).toBeUndefined();
    expect(existsSync(join(outA, 'rtstruct.dcm'))).toBe(false);
    const nii = readNifti(a.labelsPath);
    expect(a.labelsPath).toBe(join(outA, 'labels.nii.gz'));
    expect(nii.shape).toEqual(nifti.volume.shape);
    expect(nii.spacing).toEqual(nifti.volume.spacing);
    expect(nii.origin).toEqual(nifti.volume.origin);
    expect(nii.direction).toEqual(nifti.volume.direction);
    const labelsA = nii.data as Uint8Array;
    expect(labelsA).toBeInstanceOf(Uint8Array);
    expect(Array.from(labelsA)).toEqual(Array.from(await segmentVolume(model, nifti.volume, opts)));
    expect(Math.max(...labelsA)).toBeLessThanOrEqual(9);
    expect(Object.values(a.voxelsPerOrgan).reduce((x, y) => x + y, 0)).toBe(labelsA.filter((l) => l > 0).length);

    // The same CT as a DICOM series: same voxels and geometry, so the same labels, plus an RTSTRUCT on it.
    const hu = Int16Array.from(nifti.volume.data as Float32Array);
    const dicom = ctSeriesInput(join(root, 'seg-ct'), { ...nifti.volume, data: hu }, 'HFS');
    const outB = join(root, 'seg-dicom');
    mkdirSync(outB);
    const b = await segmentToFiles(model, dicom, outB, { ...opts, generationDescription: 'tiny model' });
    model.dispose();
    expect(Array.from(readNifti(b.labelsPath).data as Uint8Array)).toEqual(Array.from(labelsA));
    expect(b.rtstructPath).toBe(join(outB, 'rtstruct.dcm'));
    const rt = parseRtStruct(readDicomFile(b.rtstructPath!).dataset, b.rtstructPath!);
    expect(rt.rois.map((x) => x.name)).toEqual(ORGANS.map((o) => o.tg263));
    expect(rt.referencedSeriesUIDs).toEqual([UIDS.seriesInstanceUID]);
    for (const organ of ORGANS) {
      const roi = rt.rois.find((x) => x.name === organ.tg263)!;
      const { mask } = rasteriseRoi(roi.contours, dicom.series!.volume, { sopInstanceUIDs: dicom.series!.sopInstanceUIDs });
      expect(dice(mask, labelsA.map((l) => (l === organ.index ? 1 : 0))), organ.tg263).toBeGreaterThanOrEqual(0.95);
    }
  });
});

describe('ensembles: several trained models, their class probabilities averaged', () => {
  beforeAll(() => selectBackend({ prefer: 'cpu', log: () => undefined }));
  test('labels are the argmax of the members\' mean probabilities; one member, or one model twice, is the model alone; members must share the input grid', async () => {
    const ds = join(root, 'ds-ensemble');
    const ids = writeTinyDataset(ds, { cases: 3 });
    const store = openSqliteStore(join(root, 'ensemble.db'));
    const base = {
      model: { filters: [4, 6], blocksPerStage: 1, block: 'residual', seRatio: 2, outputUpFilters: 4, outputFilters: 4 },
      loss: { name: 'dice+ce', lambda: 0.5 },
      data: { huWindow: { lo: -200, hi: 1300 }, augment: null, spacingMm: [2.5, 2.5, 3] },
      schedule: { rmspropEpochs: 2, rmspropLr: 0.002, sgdEpochs: 0, sgdLr: 0.001, momentum: 0.9 },
    };
    const train = async (seed: number, over: Record<string, unknown> = {}) => {
      const r = await trainRun({ config: resolveRunConfig({ ...base, seed, ...over }), datasetDir: ds, store, experiment: 'ens', runName: `seed${seed}`, runsDir: join(root, 'runs') });
      expect(r.status, r.error).toBe('FINISHED');
      return join(root, 'runs', r.runId);
    };
    const dirs = [await train(1), await train(2)];
    const native = await train(3, { data: { ...base.data, spacingMm: null } });
    await store.close();
    const { models, config } = loadRunEnsemble(dirs);
    const [a, b] = models;
    const opts = { huWindow: config.data.huWindow, spacingMm: config.data.spacingMm, largestComponent: false };
    const input = loadInputCt(join(ds, 'imagesTr', `${ids[0]}_0000.nii.gz`));
    const labels = async (p: Parameters<typeof segmentVolume>[0]) => Array.from(await segmentVolume(p, input.volume, opts));
    const alone = await labels(a);
    expect(await labels([a])).toEqual(alone);
    expect(await labels([a, a])).toEqual(alone);
    const both = await labels([a, b]);
    expect(both).not.toEqual(alone);
    expect(both).not.toEqual(await labels(b));

    // on the network grid, against the members' probabilities averaged here
    const prepared = prepareCase(openDataset(ds), ids[0], { huWindow: config.data.huWindow, spacingMm: config.data.spacingMm });
    const [nx, ny, nz] = prepared.shape;
    const probsOf = async (m: typeof a) => {
      const x = tf.tensor5d(prepared.image, [1, nz, ny, nx, 1]);
      const p = predict(m, x);
      const data = (await p.data()) as Float32Array;
      tf.dispose([x, p]);
      return data;
    };
    const [pa, pb] = [await probsOf(a), await probsOf(b)];
    const classes = config.model.numClasses;
    const expected = Array.from({ length: nx * ny * nz }, (_, v) => {
      let best = 0;
      for (let c = 1; c < classes; c++) if (pa[v * classes + c] + pb[v * classes + c] > pa[v * classes + best] + pb[v * classes + best]) best = c;
      return best;
    });
    expect(Array.from(await predictLabels([a, b], prepared.image, prepared.shape))).toEqual(expected);
    for (const m of models) m.dispose();

    expect(() => loadRunEnsemble([dirs[0], native])).toThrow(RunFolderError);
    expect(() => loadRunEnsemble([dirs[0], native])).toThrow(/cannot join an ensemble with .*: its members must share model\.numClasses, data\.huWindow, data\.spacingMm, evaluation \(data\.spacingMm: \[2\.5,2\.5,3\] -> null\)/);
    expect(generationDescriptionOf(dirs)).toBe(`anatomynet-ts ensemble of 2 runs: ${dirs.map((d) => basename(d).slice(0, 8)).join(' ')}`);
  }, 120_000);

  test('generationDescriptionOf fits DICOM LO (64 characters)', () => {
    expect(generationDescriptionOf(['/a/very/long/path/to/runs/5e48e5a3-65b2-4319-a52c-1e8e13d2a34f/'])).toBe('anatomynet-ts run 5e48e5a3-65b2-4319-a52c-1e8e13d2a34f');
    expect(generationDescriptionOf([`/runs/${'x'.repeat(80)}`])).toHaveLength(64);
    expect(generationDescriptionOf(Array.from({ length: 6 }, (_, i) => `/runs/run-${i}`))).toBe('anatomynet-ts ensemble of 6 runs');
  });
});

test('outputNamesFor: each input its file or folder name without the image extension, safe and unique', () => {
  expect(outputNamesFor(['a/HN-001.nii.gz', 'b/HN-002.nrrd', 'c/scan.nii', 'patientA/CT', 'patientB/CT/', 'x/CT', 'odd name (1).NII.GZ', '/', '..'])).toEqual([
    'HN-001', 'HN-002', 'scan', 'CT', 'CT-2', 'CT-3', 'odd_name_1_', 'input', 'input-2',
  ]);
});
