/**
 * Enhanced CT and Legacy Converted Enhanced CT (multi-frame) input. The images are written by pydicom
 * (testing/make_enhanced_ct.py) from a single-frame series of ours, checked with dicom3tools' dciodvfy,
 * and compressed by GDCM and dcmtk; each must read to the single-frame series' volume.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCtSeries, writeCtSeries, type CtSeries } from './ct-series';
import { readDicomFile, scanDicomTree, SOP_ENHANCED_CT_IMAGE, SOP_LEGACY_ENHANCED_CT_IMAGE, uidFromSeed, writeDicomFile } from './dicom';
import { writeEnhancedCt } from './enhanced-ct';
import { errorOf, patternVolume, python, rotation, run, tempDir } from './test-helpers';
import type { Vec3, Volume } from './volume';

const here = dirname(fileURLToPath(import.meta.url));
const tmp = tempDir('enhanced');
afterAll(tmp.cleanup);

const uid = (s: string) => uidFromSeed('1.2.826.0.1.3680043.10.1234', 'enhanced', s);
const shape: Vec3 = [41, 33, 9];
const source = join(tmp.dir, 'single');
let reference: CtSeries;
let volume: Volume<Int16Array>;

/** make_enhanced_ct.py's files and, per file, each frame's source slice UID. */
function enhanced(out: string, ...options: string[]): { files: string[]; sources: string[][] } {
  return JSON.parse(execFileSync('/usr/bin/python3', [join(here, 'testing', 'make_enhanced_ct.py'), source, out, ...options], { encoding: 'utf8' }));
}

function edit(path: string, change: (ds: Record<string, any>) => void): string {
  const f = readDicomFile(path);
  change(f.dataset);
  const out = path.replace(/\.dcm$/, '-edited.dcm');
  writeDicomFile(out, f.dataset, f.transferSyntaxUID);
  return out;
}

/** The series reads to the single-frame series' voxels and geometry, slice k from frame frameNumbers[k]. */
function expectSameAsReference(s: CtSeries, made: { files: string[]; sources: string[][] }): void {
  expect(s.volume.shape).toEqual(reference.volume.shape);
  expect(s.volume.data).toEqual(reference.volume.data);
  for (const key of ['spacing', 'origin', 'direction', 'slicePositionsMm'] as const) {
    (s.volume[key] as number[]).forEach((x, i) => expect(x).toBeCloseTo((reference.volume[key] as number[])[i], 6));
  }
  expect(s.frameNumbers).toHaveLength(shape[2]);
  s.frameNumbers!.forEach((frame, k) => {
    const file = made.files.indexOf(s.files[k]);
    expect(file).toBeGreaterThanOrEqual(0);
    expect(s.sopInstanceUIDs[k]).toBe(readDicomFile(s.files[k], { pixelData: false }).dataset.SOPInstanceUID);
    expect(made.sources[file][frame - 1]).toBe(reference.sopInstanceUIDs[k]);
  });
}

beforeAll(() => {
  mkdirSync(source);
  const v = (volume = patternVolume(new Int16Array(shape[0] * shape[1] * shape[2]), shape, { spacing: [0.7, 0.9, 2.5], origin: [-10, 20, 30], direction: rotation([1, 2, 3], 20) }));
  writeCtSeries(v, { dir: source, seriesInstanceUID: uid('series'), studyInstanceUID: uid('study'), frameOfReferenceUID: uid('for'), patientId: 'E1', patientName: 'Enhanced^One' });
  reference = readCtSeries(scanDicomTree(source).ctSeries[0].files);
});

describe('Enhanced CT input', () => {
  it('frames in shuffled order with a rescale of their own read to the single-frame volume; dciodvfy finds no error', () => {
    const path = join(tmp.dir, 'enhanced.dcm');
    const made = enhanced(path, 'shuffle', 'rescale');
    const v = run('dciodvfy', [path]);
    expect(v.out).toContain('EnhancedCTImage');
    expect(v.out.split('\n').filter((l) => l.startsWith('Error'))).toEqual([]);
    const s = readCtSeries([path]);
    expect(s.sopClassUID).toBe(SOP_ENHANCED_CT_IMAGE);
    expect(new Set(s.sopInstanceUIDs).size).toBe(1);
    expect(s.frameNumbers).not.toEqual([...s.frameNumbers!].sort((a, b) => a - b)); // frames were out of order
    expectSameAsReference(s, made);
    expect(s.warnings).toEqual([]);
  });
  it('scanDicomTree lists an Enhanced CT as a CT series', () => {
    const dir = join(tmp.dir, 'scan');
    mkdirSync(dir);
    const made = enhanced(join(dir, 'ct.dcm'), 'shuffle');
    const scan = scanDicomTree(dir);
    expect(scan.other).toEqual([]);
    expect(scan.ctSeries).toEqual([expect.objectContaining({ seriesInstanceUID: uid('series'), frameOfReferenceUID: uid('for'), files: made.files })]);
  });
  it('Legacy Converted Enhanced CT, a series split over two instances, and geometry at the top level', () => {
    const legacy = enhanced(join(tmp.dir, 'legacy.dcm'), 'legacy');
    expect(run('dciodvfy', legacy.files).out.split('\n').filter((l) => l.startsWith('Error'))).toEqual([]);
    const s = readCtSeries(legacy.files);
    expect(s.sopClassUID).toBe(SOP_LEGACY_ENHANCED_CT_IMAGE);
    expectSameAsReference(s, legacy);

    const dir = join(tmp.dir, 'split');
    mkdirSync(dir);
    const split = enhanced(dir, 'split=2', 'shuffle');
    expect(split.files).toHaveLength(2);
    const both = readCtSeries([...split.files].reverse());
    expect(new Set(both.sopInstanceUIDs).size).toBe(2);
    expectSameAsReference(both, split);

    const top = enhanced(join(tmp.dir, 'toplevel.dcm'), 'toplevel', 'rescale');
    expectSameAsReference(readCtSeries(top.files), top);
  });
  it('multi-frame RLE, JPEG Lossless, JPEG-LS and JPEG 2000 (dcmtk and GDCM, with and without an offset table), and big endian, decode frame by frame', () => {
    const path = join(tmp.dir, 'plain.dcm');
    const made = enhanced(path, 'shuffle', 'rescale');
    const encoders: [string, string[], string][] = [
      ['dcmcrle', [], '1.2.840.10008.1.2.5'],
      ['dcmcjpeg', ['+e1'], '1.2.840.10008.1.2.4.70'],
      ['dcmcjpls', [], '1.2.840.10008.1.2.4.80'],
      ['gdcmconv', ['--rle'], '1.2.840.10008.1.2.5'],
      ['gdcmconv', ['--jpegls'], '1.2.840.10008.1.2.4.80'],
      ['gdcmconv', ['--j2k'], '1.2.840.10008.1.2.4.90'],
      ['dcmconv', ['+tb'], '1.2.840.10008.1.2.2'],
    ];
    for (const [i, [cmd, args, ts]] of encoders.entries()) {
      const out = join(tmp.dir, `coded-${i}.dcm`);
      const r = run(cmd, [...args, path, out]);
      expect(r.status, r.out).toBe(0);
      expect(readDicomFile(out, { pixelData: false }).transferSyntaxUID).toBe(ts);
      expectSameAsReference(readCtSeries([out]), { files: [out], sources: made.sources });
    }
  });
});

describe('Enhanced CT bad input', () => {
  let plain: string;
  let made: { files: string[]; sources: string[][] };
  beforeAll(() => {
    plain = join(tmp.dir, 'bad-source.dcm');
    made = enhanced(plain, 'shuffle');
  });

  it('a 4D CT (two temporal positions of each slice) is refused, naming the file', () => {
    const path = join(tmp.dir, 'temporal.dcm');
    enhanced(path, 'temporal=2');
    const e = errorOf(() => readCtSeries([path]));
    expect(e.code).toBe('UNSUPPORTED_DATATYPE');
    expect(e.file).toBe(path);
    expect(e.reason).toMatch(/2 temporal positions/);
  });
  it('frame counts, positions and pixel data that disagree are typed errors naming the file and frame', () => {
    const cases: [string, (ds: Record<string, any>) => void, string, RegExp][] = [
      ['frames', (ds) => { ds.NumberOfFrames = 10; }, 'BAD_HEADER', /10 frames|NumberOfFrames 10/],
      ['zero', (ds) => { ds.NumberOfFrames = 0; }, 'BAD_HEADER', /NumberOfFrames/],
      ['position', (ds) => { delete ds.PerFrameFunctionalGroupsSequence[3].PlanePositionSequence; }, 'MISSING_TAG', /frame 4: ImagePositionPatient/],
      ['orientation', (ds) => { ds.PerFrameFunctionalGroupsSequence[5].PlaneOrientationSequence = [{ ImageOrientationPatient: [0, 1, 0, 0, 0, -1] }]; }, 'MIXED_ORIENTATION', /frame 6: ImageOrientationPatient/],
      ['spacing', (ds) => { ds.PerFrameFunctionalGroupsSequence[2].PixelMeasuresSequence = [{ PixelSpacing: [1.5, 1.5] }]; }, 'MIXED_SIZE', /frame 3: PixelSpacing/],
      ['duplicate', (ds) => {
        const g = ds.PerFrameFunctionalGroupsSequence;
        g[7].PlanePositionSequence = [{ ImagePositionPatient: [...g[1].PlanePositionSequence[0].ImagePositionPatient] }];
      }, 'DUPLICATE_SLICE', /frame (2|8): same position .* frame (2|8)/],
      ['short', (ds) => { ds.PixelData = [ds.PixelData[0].slice(0, 41 * 33 * 2 * 8)]; }, 'TRUNCATED', /9 frames of 41x33x16 bits need/],
      ['no groups', (ds) => {
        delete ds.PerFrameFunctionalGroupsSequence;
        delete ds.SharedFunctionalGroupsSequence;
        ds.SOPClassUID = '1.2.840.10008.5.1.4.1.1.2';
        ds.ImagePositionPatient = [0, 0, 0]; ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]; ds.PixelSpacing = [1, 1];
      }, 'UNSUPPORTED_DATATYPE', /9 frames without functional groups/],
    ];
    for (const [name, change, code, reason] of cases) {
      const path = edit(plain, change);
      let e;
      try { e = errorOf(() => readCtSeries([path])); } catch (x) { throw new Error(`${name}: ${(x as Error).message}`); }
      expect([name, e.code, e.file]).toEqual([name, code, path]);
      expect(e.reason).toMatch(reason);
    }
  });
  it('compressed frames that are not one fragment each are refused; a damaged frame is named', () => {
    const rle = join(tmp.dir, 'bad-rle.dcm');
    expect(run('gdcmconv', ['--rle', plain, rle]).status).toBe(0);
    const merged = edit(rle, (ds) => {
      const [a, b, ...rest] = ds.PixelData as ArrayBuffer[];
      const ab = new Uint8Array(a.byteLength + b.byteLength);
      ab.set(new Uint8Array(a));
      ab.set(new Uint8Array(b), a.byteLength);
      ds.PixelData = [ab.buffer, ...rest];
    });
    const e = errorOf(() => readCtSeries([merged]));
    expect([e.code, e.file]).toEqual(['BAD_HEADER', merged]);
    expect(e.reason).toMatch(/8 fragments for 9 frames/);
    const damaged = edit(rle, (ds) => {
      ds.PixelData[4] = ds.PixelData[4].slice(0, 40);
    });
    const d = errorOf(() => readCtSeries([damaged]));
    expect(d.file).toBe(damaged);
    expect(d.reason).toMatch(/^frame 5: /);
  });
  it('a series mixing single-frame and Enhanced CT images is refused', () => {
    const dir = join(tmp.dir, 'mixed');
    mkdirSync(dir);
    const single = join(dir, 'single.dcm');
    copyFileSync(reference.files[0], single);
    const e = errorOf(() => readCtSeries([single, made.files[0]]));
    expect([e.code, e.file]).toEqual(['MIXED_SERIES', made.files[0]]);
    expect(e.reason).toMatch(/multi-frame \(Enhanced CT\) image in a series of single-frame CT images/);
  });
});

describe('writeEnhancedCt', () => {
  const series = { seriesInstanceUID: uid('w-series'), studyInstanceUID: uid('w-study'), frameOfReferenceUID: uid('w-for'), patientId: 'W1', patientName: 'Written^One' };
  it('writes one Enhanced CT file (frames in any order) that dciodvfy passes, pydicom reads frame by frame and we read back bit-exact', () => {
    const dir = join(tmp.dir, 'written');
    mkdirSync(dir);
    const w = writeEnhancedCt(volume, { dir, ...series, frameOfSlice: (k) => ((k * 4) % shape[2]) + 1 });
    expect(w.files).toEqual([join(dir, 'CT.enhanced.dcm')]);
    const v = run('dciodvfy', w.files);
    expect(v.out).toContain('EnhancedCTImage');
    expect(v.out.split('\n').filter((l) => l.startsWith('Error'))).toEqual([]);
    const s = readCtSeries(w.files);
    expect(s.volume.data).toEqual(volume.data);
    expect(s.frameNumbers).toEqual(w.frameNumbers);
    expect(s.sopInstanceUIDs).toEqual(w.sopInstanceUIDs);
    expect(s.sopClassUID).toBe(SOP_ENHANCED_CT_IMAGE);
    for (const key of ['origin', 'spacing', 'direction'] as const) (s.volume[key] as number[]).forEach((x, i) => expect(x).toBeCloseTo((reference.volume[key] as number[])[i], 6));
    // pydicom: each frame's pixels are the slice its number says, at that slice's position
    const out = JSON.parse(python(`import sys, json, numpy as np, pydicom
d = pydicom.dcmread(sys.argv[1])
px = d.pixel_array
print(json.dumps({"frames": [{"sum": int(px[f].astype(np.int64).sum()), "first": int(px[f][0][0]), "ipp": [float(x) for x in g.PlanePositionSequence[0].ImagePositionPatient]} for f, g in enumerate(d.PerFrameFunctionalGroupsSequence)]}))`, w.files));
    const n = shape[0] * shape[1];
    w.frameNumbers.forEach((frame, k) => {
      const f = out.frames[frame - 1];
      const slice = volume.data.subarray(k * n, (k + 1) * n);
      expect([f.sum, f.first]).toEqual([slice.reduce((a, b) => a + b, 0), slice[0]]);
      f.ipp.forEach((x: number, a: number) => expect(x).toBeCloseTo(reference.volume.origin[a] + reference.volume.direction[a * 3 + 2] * 2.5 * k, 3));
    });
  });
  it('refuses a frame order that is no permutation, and a file name with a folder', () => {
    const dir = join(tmp.dir, 'refused');
    mkdirSync(dir);
    expect(() => writeEnhancedCt(volume, { dir, ...series, frameOfSlice: () => 1 })).toThrow(/not a permutation of 1\.\.9/);
    expect(errorOf(() => writeEnhancedCt(volume, { dir, ...series, fileName: '../x.dcm' })).code).toBe('PATH_ESCAPE');
  });
});
