/**
 * DICOM SEG reader: our writer's files come back voxel for voxel in four orientations; SEGs written by
 * pydicom (make_seg.py: shuffled frames, per-frame geometry, fractional, frames placed by source image
 * only) give the truth it wrote; bad files are refused with the reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readDicomFile, type Mat3, type Vec3 } from '@anatomynet/data';
import { buildDicomSeg, writeDicomSeg, type SegSegmentSpec } from './seg';
import { parseDicomSeg, segmentsOnGrid } from './seg-parse';
import { organs, rotation, writeTestCt } from './test-helpers';

const PYTHON = '/usr/bin/python3';
const here = dirname(fileURLToPath(import.meta.url));
const pythonHas = (mod: string) => existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${mod}`]).status === 0;
const root = mkdtempSync(join(tmpdir(), 'rt-seg-parse-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function ctCase(name: string, shape: Vec3, direction?: Mat3, origin?: Vec3, slicePositionsMm?: number[]) {
  const dir = join(root, name, 'ct');
  return { dir, ct: writeTestCt(dir, shape, 70, { ...(direction ? { direction } : {}), ...(origin ? { origin } : {}), ...(slicePositionsMm ? { slicePositionsMm } : {}) }) };
}

const specsFor = (set: { label: number; name: string }[]): SegSegmentSpec[] =>
  set.map((o) => ({ label: o.label, name: o.name, color: [200, 100, 50], type: { value: '45289007', scheme: 'SCT', meaning: 'Parotid gland' } }));

const readSeg = (path: string) => {
  const f = readDicomFile(path);
  return parseDicomSeg(f.dataset, path, f.transferSyntaxUID);
};

describe('parseDicomSeg + segmentsOnGrid read our SEG back', () => {
  const shape: Vec3 = [40, 32, 8];
  const set = organs(shape);
  for (const [name, direction, origin, positions] of [
    ['HFS', [1, 0, 0, 0, 1, 0, 0, 0, 1], [-20, -15, 30], undefined],
    ['FFS', [-1, 0, 0, 0, 1, 0, 0, 0, -1], [15.1, -15, 47.5], undefined],
    ['oblique', rotation([1, 2, 3], 0.25), [-20, -15, 30], undefined],
    ['uneven slices', [1, 0, 0, 0, 1, 0, 0, 0, 1], [-20, -15, 30], [30, 32.5, 35, 40, 42.5, 45, 50, 52.5]],
  ] as [string, Mat3, Vec3, number[] | undefined][]) {
    it(`${name}: every segment exactly, with its label, codes and references`, () => {
      const { ct } = ctCase(`ours-${name}`, shape, direction, origin, positions);
      const path = join(root, `ours-${name}.dcm`);
      writeDicomSeg(path, { masks: set }, ct, specsFor(set).map((s, i) => (i === 5 ? { ...s, typeModifier: { value: '7771000', scheme: 'SCT', meaning: 'Left' } } : s)));
      const seg = readSeg(path);
      expect(seg.frameOfReferenceUID).toBe(ct.frameOfReferenceUID);
      expect(seg.referencedSeriesUIDs).toEqual([ct.seriesInstanceUID]);
      expect(seg.segments.map((s) => s.label)).toEqual(set.map((o) => o.name));
      expect(seg.segments[5]).toMatchObject({ type: { value: '45289007', scheme: 'SCT' }, typeModifier: { value: '7771000', meaning: 'Left' }, category: { value: '123037004' } });
      const onGrid = segmentsOnGrid(seg, ct.volume, ct);
      for (const [i, o] of set.entries()) {
        expect(onGrid[i]).toMatchObject({ offVolume: 0, offGrid: 0, unplaced: 0 });
        expect(Buffer.from(onGrid[i].mask).equals(Buffer.from(o.mask)), o.name).toBe(true);
      }
    });
  }

  it('a header-only read has the segments and references but no pixels', () => {
    const { ct } = ctCase('header', shape);
    const path = join(root, 'header.dcm');
    writeDicomSeg(path, { masks: set }, ct, specsFor(set));
    const head = readDicomFile(path, { pixelData: false });
    const seg = parseDicomSeg(head.dataset, path, head.transferSyntaxUID);
    expect(seg.segments).toHaveLength(9);
    expect(seg.pixels).toBeUndefined();
    for (const sop of seg.referencedSOPInstanceUIDs) expect(ct.sopInstanceUIDs).toContain(sop);
    expect(() => segmentsOnGrid(seg, ct.volume)).toThrow(/read without its pixel data/);
  });

  it('counts frames off the volume or on other axes instead of placing them wrongly; resamples a fractional offset', () => {
    const { ct } = ctCase('grid', shape);
    const ds = buildDicomSeg({ masks: set.slice(0, 2) }, ct, specsFor(set.slice(0, 2))) as any;
    const frames = ds.PerFrameFunctionalGroupsSequence;
    const ofFirst = frames.map((fr: any, i: number) => (fr.SegmentIdentificationSequence[0].ReferencedSegmentNumber === 1 ? i : -1)).filter((i: number) => i >= 0);
    expect(ofFirst.length).toBeGreaterThanOrEqual(4);
    const positionOf = (i: number) => frames[i].PlanePositionSequence[0].ImagePositionPatient;
    const sliceOf = (i: number) => ct.volume.slicePositionsMm!.findIndex((z) => Math.abs(z - Number(positionOf(i)[2])) < 1e-3);
    const [kShifted, kRotated] = [sliceOf(ofFirst[1]), sliceOf(ofFirst[3])];
    positionOf(ofFirst[0])[2] = '500'; // far above the volume
    positionOf(ofFirst[1])[0] = String(Number(positionOf(ofFirst[1])[0]) + 0.45 * 0.9); // 0.45 voxel: each voxel's nearest pixel is its own
    // 30 columns to the patient's left: on the grid, but most of the frame beside the CT's 40 columns
    const third = positionOf(ofFirst[2]);
    third[0] = String(Number(third[0]) + 30 * 0.9);
    frames[ofFirst[3]].PlaneOrientationSequence = [{ ImageOrientationPatient: ['0', '1', '0', '1', '0', '0'] }]; // rows and columns swapped
    const seg = parseDicomSeg(ds, 'moved.dcm', '1.2.840.10008.1.2.1');
    const [first] = segmentsOnGrid(seg, ct.volume, ct);
    expect(first).toMatchObject({ offVolume: 1, offGrid: 1, resampled: 1 });
    const onSlice = (m: Uint8Array, k: number) => {
      const out: number[] = [];
      for (let j = 0; j < 32; j++) for (let i = 0; i < 40; i++) if (m[k * 1280 + j * 40 + i]) out.push(i + 40 * j);
      return out;
    };
    expect(onSlice(first.mask, kShifted)).toEqual(onSlice(set[0].mask, kShifted));
    expect(onSlice(set[0].mask, kShifted).length).toBeGreaterThan(0);
    expect(onSlice(first.mask, kRotated)).toEqual([]);
    const k = sliceOf(ofFirst[2]);
    const source = onSlice(set[0].mask, k);
    expect(onSlice(first.mask, k)).toEqual(source.filter((v) => v % 40 < 10).map((v) => v + 30));
    expect(first.outside).toBe(source.filter((v) => v % 40 >= 10).length);
    expect(first.outside).toBeGreaterThan(0);
    expect(first.frames).toBe(ofFirst.length);
  });

  it('refuses what is not a readable SEG, naming the file and the reason', () => {
    const { ct } = ctCase('bad', shape);
    const good = () => buildDicomSeg({ masks: set.slice(0, 2) }, ct, specsFor(set.slice(0, 2))) as any;
    const bad = (change: (ds: any) => void, ts = '1.2.840.10008.1.2.1') => {
      const ds = good();
      change(ds);
      return () => parseDicomSeg(ds, 'bad.dcm', ts);
    };
    expect(bad((ds) => { ds.SOPClassUID = '1.2.840.10008.5.1.4.1.1.2'; ds.Modality = 'CT'; })).toThrow(/bad\.dcm: not a DICOM Segmentation/);
    expect(bad((ds) => { ds.PixelData = ds.PixelData.slice(0, 10); })).toThrow(/PixelData holds 10 bytes; \d+ frames of 32x40 bits need \d+/);
    expect(bad((ds) => { ds.NumberOfFrames = 1e6; })).toThrow(/PerFrameFunctionalGroupsSequence has \d+ items for 1000000 frames/);
    expect(bad((ds) => { ds.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence[0].ReferencedSegmentNumber = 7; })).toThrow(/frame 1 names segment 7/);
    expect(bad((ds) => { ds.SegmentSequence[1].SegmentNumber = 1; })).toThrow(/SegmentNumber 1 is used twice/);
    expect(bad((ds) => { ds.BitsAllocated = 16; })).toThrow(/BitsAllocated 16 for a BINARY segmentation/);
    expect(bad(() => undefined, '1.2.840.10008.1.2.4.50')).toThrow(/bad\.dcm: pixel data in compressed transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50.*native, deflated, RLE Lossless, JPEG-LS Lossless, JPEG 2000 and HTJ2K.*gdcmconv --raw/);
  });

  it('refuses RLE pixel data that cannot be the frames it declares, before allocating them', () => {
    const { ct } = ctCase('bad-rle', shape);
    const ds = buildDicomSeg({ masks: set.slice(0, 2) }, ct, specsFor(set.slice(0, 2))) as any;
    const frames = Number(ds.NumberOfFrames);
    const rleFrame = (segments: number, length: number, fill = 0) => {
      const b = new Uint8Array(length).fill(fill);
      new DataView(b.buffer).setUint32(0, segments, true);
      for (let s = 0; s < segments; s++) new DataView(b.buffer).setUint32(4 + 4 * s, 64, true);
      return b.buffer;
    };
    const parse = (parts: ArrayBuffer[], change?: (d: any) => void) => () => {
      const d = { ...ds, PixelData: parts };
      change?.(d);
      return parseDicomSeg(d, 'bad.dcm', '1.2.840.10008.1.2.5');
    };
    // a frame is 32 x 40 bits = 160 bytes: 64 header bytes + 2 would never expand to it (64:1 at most)
    expect(parse([rleFrame(1, 200)])).toThrow(/bad\.dcm: compressed pixel data holds 1 fragments for \d+ frames of 32x40 bits; each frame must be in exactly one/);
    expect(parse(Array.from({ length: frames }, () => rleFrame(1, 66)))).toThrow(/RLE frame 1 of 66 bytes cannot hold 160 bytes/);
    expect(parse(Array.from({ length: frames }, () => rleFrame(3, 200)))).toThrow(/bad\.dcm: frame 1: RLE frame has 3 segments; an 8-bit or 1-bit frame needs 1/);
    // 136 bytes of literal-run headers (0x7f: 128 bytes follow) run out: the segment decodes short
    expect(parse(Array.from({ length: frames }, () => rleFrame(1, 68, 0x7f)))).toThrow(/bad\.dcm: frame 1: RLE segment decodes to \d+ bytes, 160 needed/);
    // 65535 x 65535 pixels declared over small frames: refused by size, not by running out of memory
    expect(parse(Array.from({ length: frames }, () => rleFrame(1, 200)), (d) => { d.Rows = 65535; d.Columns = 65535; })).toThrow(/RLE frame 1 of 200 bytes cannot hold 536854529 bytes/);
  });
});

describe.skipIf(!pythonHas('pydicom') || !pythonHas('numpy'))('segmentsOnGrid reads SEGs that pydicom wrote', () => {
  // 23 x 19 pixels a frame: no multiple of 8, so a binary RLE frame's own packing differs from the native
  // stream's; 24 x 19 is one
  const cases: [string, string, Vec3][] = [
    ['binary', 'native', [23, 19, 7]],
    ['fractional', 'native', [23, 19, 7]],
    ['sourceonly', 'native', [23, 19, 7]],
    ['binary', 'deflated', [23, 19, 7]],
    ['fractional', 'deflated', [23, 19, 7]],
    ['binary', 'rle', [23, 19, 7]],
    ['binary', 'rle', [24, 19, 7]],
    ['fractional', 'rle', [23, 19, 7]],
    ['sourceonly', 'rle', [23, 19, 7]],
    // GDCM's JPEG-LS and JPEG 2000 (OpenJPEG wants more than a few pixels a side)
    ['binary', 'jpegls', [23, 19, 7]],
    ['fractional', 'jpegls', [23, 19, 7]],
    ['binary', 'j2k', [70, 66, 5]],
    ['fractional', 'j2k', [70, 66, 5]],
    // OpenJPH's HTJ2K
    ['binary', 'htj2k', [23, 19, 7]],
    ['fractional', 'htj2k', [70, 66, 5]],
    // frames on another in-plane grid, resampled to the CT's voxels by nearest neighbour
    ['oversampled', 'native', [23, 19, 7]],
    ['coarse', 'native', [23, 19, 7]],
    ['coarse', 'rle', [23, 19, 7]],
  ];
  for (const [mode, encoding, shape] of cases) {
    it(`${mode}, ${encoding}, ${shape[0]}x${shape[1]}: both segments exactly as written`, () => {
      const name = `pydicom-${mode}-${encoding}-${shape[0]}`;
      const { dir, ct } = ctCase(name, shape, [-1, 0, 0, 0, 1, 0, 0, 0, -1], [15.1, -15, 47.5]);
      const path = join(root, `${name}.dcm`), truthPath = join(root, `${name}.u8`);
      execFileSync(PYTHON, [join(here, 'make_seg.py'), dir, path, truthPath, mode, encoding]);
      const truth = new Uint8Array(readFileSync(truthPath));
      expect(readDicomFile(path).transferSyntaxUID).toBe({ native: '1.2.840.10008.1.2.1', deflated: '1.2.840.10008.1.2.1.99', rle: '1.2.840.10008.1.2.5', jpegls: '1.2.840.10008.1.2.4.80', j2k: '1.2.840.10008.1.2.4.90', htj2k: '1.2.840.10008.1.2.4.201' }[encoding]);
      const seg = readSeg(path);
      expect(seg.segmentationType).toBe(mode === 'fractional' ? 'FRACTIONAL' : 'BINARY');
      expect(seg.segments.map((s) => [s.label, s.type?.value, s.typeModifier?.meaning])).toEqual([['Left parotid', '45289007', 'Left'], ['Box', '91609006', undefined]]);
      const onGrid = segmentsOnGrid(seg, ct.volume, ct);
      for (const [n, s] of onGrid.entries()) {
        expect(s).toMatchObject({ offVolume: 0, offGrid: 0, unplaced: 0, resampled: mode === 'oversampled' || mode === 'coarse' ? s.frames : 0 });
        const expected = truth.map((t) => (t >> n) & 1);
        expect(s.voxels).toBeGreaterThan(10);
        expect(Buffer.from(s.mask).equals(Buffer.from(expected)), s.segment.label).toBe(true);
      }
      if (encoding === 'jpegls' || encoding === 'j2k' || encoding === 'htj2k') {
        // a header declaring a huge image over small frames: refused by the first frame's own header, before allocating
        const f = readDicomFile(path);
        f.dataset.Rows = 65535;
        f.dataset.Columns = 65535;
        expect(() => parseDicomSeg(f.dataset, path, f.transferSyntaxUID)).toThrow(new RegExp(`frame 1: ${{ j2k: 'JPEG 2000', htj2k: 'HTJ2K', jpegls: 'JPEG-LS' }[encoding]} frame is ${shape[0]}x${shape[1]}x1, the DICOM header says 65535x65535x1`));
        // honest frames that decode to more than the limit (JPEG frames of nothing are tiny): refused before allocating
        const whole = readDicomFile(path);
        const need = Number(whole.dataset.NumberOfFrames) * shape[0] * shape[1] / (mode === 'fractional' ? 1 : 8);
        expect(() => parseDicomSeg(whole.dataset, path, whole.transferSyntaxUID, { maxBytes: Math.floor(need) - 1 })).toThrow(/decode to \d+ bytes, over the \d+-byte limit/);
        expect(parseDicomSeg(whole.dataset, path, whole.transferSyntaxUID, { maxBytes: Math.ceil(need) }).pixels).toBeDefined();
      }
    });
  }
});
