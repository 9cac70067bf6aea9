/**
 * DICOM SEG writer: pydicom reads our files back onto the CT grid (read_seg.py places each frame by the
 * CT slice it names, with the CT files' own positions) voxel for voxel, in four orientations; dciodvfy
 * validates the IOD; the colour conversion matches published CIELab values.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readDicomFile, type Mat3, type Vec3 } from '@anatomynet/data';
import { buildDicomSeg, srgbToDicomLab, writeDicomSeg, type SegSegmentSpec } from './seg';
import { dciodvfy, organs, rotation, writeTestCt } from './test-helpers';

const PYTHON = '/usr/bin/python3';
const here = dirname(fileURLToPath(import.meta.url));
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const pythonHas = (mod: string) => existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${mod}`]).status === 0;
const root = mkdtempSync(join(tmpdir(), 'rt-seg-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const PAROTID = { value: '45289007', scheme: 'SCT', meaning: 'Parotid gland' };
const LEFT = { value: '7771000', scheme: 'SCT', meaning: 'Left' };

/** A CT series on disk and as the pipeline reads it. */
function ctCase(name: string, shape: Vec3, direction?: Mat3, origin?: Vec3, slicePositionsMm?: number[]) {
  const dir = join(root, name, 'ct');
  return { dir, ct: writeTestCt(dir, shape, 60, { ...(direction ? { direction } : {}), ...(origin ? { origin } : {}), ...(slicePositionsMm ? { slicePositionsMm } : {}) }) };
}

const specsFor = (set: { label: number; name: string }[]): SegSegmentSpec[] =>
  set.map((o) => ({ label: o.label, name: o.name, color: [(o.label * 53) % 256, 128, 255 - o.label], type: { value: String(1000 + o.label), scheme: '99TEST', meaning: o.name } }));

function readBack(seg: string, ctDir: string) {
  return JSON.parse(execFileSync(PYTHON, [join(here, 'read_seg.py'), seg, ctDir], { encoding: 'utf8', maxBuffer: 64 << 20 })) as {
    modality: string; frames: number; frameOfReference: string; referencedSeries: string; geometryError: number;
    segments: { number: number; label: string; category: string[]; type: string[]; modifier: string[] | null; lab: number[] }[];
    voxels: Record<string, number[]>;
  };
}

const onesOf = (mask: ArrayLike<number>, match: (v: number) => boolean = (v) => v !== 0) => {
  const out: number[] = [];
  for (let v = 0; v < mask.length; v++) if (match(mask[v])) out.push(v);
  return out;
};

describe('srgbToDicomLab', () => {
  it('white, black and sRGB red give the published CIELab (D65) values, scaled as ICC profiles are', () => {
    expect(srgbToDicomLab([255, 255, 255])).toEqual([65535, 32896, 32896]);
    expect(srgbToDicomLab([0, 0, 0])).toEqual([0, 32896, 32896]);
    // sRGB red is L* 53.237, a* 80.09, b* 67.203 (D65): 53.237 * 655.35, (a + 128) * 257, (b + 128) * 257
    const red = srgbToDicomLab([255, 0, 0]);
    expect(Math.abs(red[0] - 34889)).toBeLessThanOrEqual(2);
    expect(Math.abs(red[1] - 53479)).toBeLessThanOrEqual(3);
    expect(Math.abs(red[2] - 50167)).toBeLessThanOrEqual(3);
  });
});

describe('buildDicomSeg', () => {
  const shape: Vec3 = [13, 11, 6]; // 143 bits a frame: frames straddle bytes
  const { ct } = ctCase('unit', shape);
  const labelmap = new Uint8Array(13 * 11 * 6);
  labelmap[3 + 13 * (4 + 11 * 2)] = 1;
  labelmap[12 + 13 * (10 + 11 * 5)] = 2;
  labelmap[0] = 2;
  const specs = specsFor([{ label: 1, name: 'A' }, { label: 2, name: 'B' }]);

  it('packs one frame per segment per occupied slice, back to back, the first voxel in the lowest bit', () => {
    const ds = buildDicomSeg({ labelmap }, ct, specs) as any;
    expect(ds.NumberOfFrames).toBe(3);
    expect(ds.PerFrameFunctionalGroupsSequence.map((f: any) => f.FrameContentSequence[0].DimensionIndexValues)).toEqual([[1, 3], [2, 1], [2, 6]]);
    const bits = new Uint8Array(ds.PixelData);
    expect(bits.length).toBe(54); // ceil(3 * 143 / 8), already even
    const ones: number[] = [];
    for (let b = 0; b < bits.length * 8; b++) if (bits[b >> 3] & (1 << (b & 7))) ones.push(b);
    expect(ones).toEqual([3 + 13 * 4, 143 + 0, 286 + 12 + 13 * 10]);
  });

  it('is deterministic: the same masks give the same bytes and UIDs, other masks other UIDs', () => {
    const a = buildDicomSeg({ labelmap }, ct, specs) as any;
    const b = buildDicomSeg({ labelmap }, ct, specs) as any;
    expect(b.SOPInstanceUID).toBe(a.SOPInstanceUID);
    expect(Buffer.from(b.PixelData).equals(Buffer.from(a.PixelData))).toBe(true);
    const moved = labelmap.slice();
    moved[0] = 0;
    moved[1] = 2;
    const c = buildDicomSeg({ labelmap: moved }, ct, specs) as any;
    expect(c.SOPInstanceUID).not.toBe(a.SOPInstanceUID);
    expect(c.SeriesInstanceUID).not.toBe(a.SeriesInstanceUID);
  });

  it('writes one empty frame when no segment has a voxel', () => {
    const ds = buildDicomSeg({ labelmap: new Uint8Array(labelmap.length) }, ct, specs) as any;
    expect(ds.NumberOfFrames).toBe(1);
    expect(ds.SegmentSequence).toHaveLength(2);
    expect(new Uint8Array(ds.PixelData).every((x) => x === 0)).toBe(true);
  });

  it('refuses segment numbers out of order, sizes that disagree and texts too long for their VR', () => {
    expect(() => buildDicomSeg({ labelmap }, ct, [specs[1]])).toThrow(/number 2; DICOM needs 1, 2/);
    expect(() => buildDicomSeg({ labelmap: labelmap.subarray(1) }, ct, specs)).toThrow(/labelmap has 857 voxels, the CT 858/);
    expect(() => buildDicomSeg({ masks: [{ label: 1, mask: labelmap }] }, ct, specs)).toThrow(/no mask for label 2/);
    expect(() => buildDicomSeg({ labelmap }, ct, [{ ...specs[0], name: 'x'.repeat(65) }])).toThrow(/segment label \(LO\).*65 characters/);
    expect(() => buildDicomSeg({ labelmap }, ct, specs, { contentLabel: 'lower' })).toThrow(/contentLabel "lower" must be upper-case/);
  });

  it('dates the content by the study when the CT has a date, so no new date enters the file', () => {
    const dated = buildDicomSeg({ labelmap }, { ...ct, studyDate: '20200102', studyTime: '101500' }, specs) as any;
    expect([dated.ContentDate, dated.ContentTime]).toEqual(['20200102', '101500']);
    const given = buildDicomSeg({ labelmap }, ct, specs, { contentDate: '20260101', contentTime: '120000' }) as any;
    expect([given.ContentDate, given.ContentTime]).toEqual(['20260101', '120000']);
  });
});

const orientations: [string, Mat3, Vec3, number[] | undefined][] = [
  ['HFS', [1, 0, 0, 0, 1, 0, 0, 0, 1], [-20, -15, 30], undefined],
  ['FFS', [-1, 0, 0, 0, 1, 0, 0, 0, -1], [15.1, -15, 47.5], undefined],
  ['oblique', rotation([1, 2, 3], 0.25), [-20, -15, 30], undefined],
  ['uneven slices', [1, 0, 0, 0, 1, 0, 0, 0, 1], [-20, -15, 30], [30, 32.5, 35, 40, 42.5, 45, 50, 52.5]],
];

describe.skipIf(!pythonHas('pydicom') || !pythonHas('numpy'))('pydicom reads our SEG back onto the CT grid', () => {
  const shape: Vec3 = [40, 32, 8];
  const set = organs(shape); // overlapping masks, one-voxel organs, a tube with a hole
  for (const [name, direction, origin, positions] of orientations) {
    it(`${name}: every segment's voxels, its codes and colour; each frame at its CT slice's position`, () => {
      const { dir, ct } = ctCase(`pydicom-${name}`, shape, direction, origin, positions);
      const specs = specsFor(set);
      specs[5] = { ...specs[5], type: PAROTID, typeModifier: LEFT };
      const seg = join(root, `${name}.dcm`);
      writeDicomSeg(seg, { masks: set }, ct, specs);
      const py = readBack(seg, dir);
      expect(py.modality).toBe('SEG');
      expect(py.frameOfReference).toBe(ct.frameOfReferenceUID);
      expect(py.referencedSeries).toBe(ct.seriesInstanceUID);
      expect(py.geometryError).toBeLessThan(1e-4);
      expect(py.segments.map((s) => s.label)).toEqual(set.map((o) => o.name));
      expect(py.segments[5].type).toEqual(['45289007', 'SCT', 'Parotid gland']);
      expect(py.segments[5].modifier).toEqual(['7771000', 'SCT', 'Left']);
      expect(py.segments[0].category).toEqual(['123037004', 'SCT', 'Anatomical Structure']);
      expect(py.segments[0].lab).toEqual(srgbToDicomLab(specs[0].color));
      for (const [i, o] of set.entries()) expect(py.voxels[String(i + 1)] ?? [], o.name).toEqual(onesOf(o.mask));
    });
  }

  it('a labelmap source: each segment is the voxels of its value', () => {
    const { dir, ct } = ctCase('pydicom-labelmap', shape);
    const labelmap = new Uint8Array(shape[0] * shape[1] * shape[2]);
    for (const o of set) for (let v = 0; v < labelmap.length; v++) if (o.mask[v]) labelmap[v] = o.label;
    const seg = join(root, 'labelmap.dcm');
    writeDicomSeg(seg, { labelmap }, ct, specsFor(set));
    const py = readBack(seg, dir);
    for (const o of set) expect(py.voxels[String(o.label)] ?? [], o.name).toEqual(onesOf(labelmap, (x) => x === o.label));
    expect(readDicomFile(seg).dataset.SOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.66.4');
  });
});

describe.skipIf(!has('dciodvfy'))('dciodvfy validates our SEG', () => {
  it('reports no errors (warnings listed), with empty segments and an all-empty result too', () => {
    const shape: Vec3 = [40, 32, 8];
    const set = organs(shape);
    const { ct } = ctCase('dciodvfy', shape);
    const specs = specsFor(set).map((s) => ({ ...s, type: PAROTID })); // a registered scheme, so its warnings stay quiet
    const files = {
      full: writeDicomSeg(join(root, 'full.dcm'), { masks: set }, ct, specs),
      someEmpty: writeDicomSeg(join(root, 'some-empty.dcm'), { masks: [...set.slice(0, 2), { label: 3, mask: new Uint8Array(set[0].mask.length) }] }, ct, specs.slice(0, 3)),
      allEmpty: writeDicomSeg(join(root, 'all-empty.dcm'), { labelmap: new Uint8Array(set[0].mask.length) }, ct, specs),
    };
    for (const file of ['full.dcm', 'some-empty.dcm', 'all-empty.dcm'].map((f) => join(root, f))) {
      const { lines, errors } = dciodvfy(file);
      expect(lines.some((l) => /Segmentation/.test(l))).toBe(true);
      expect(errors).toEqual([]);
    }
    expect((files.allEmpty as any).NumberOfFrames).toBe(1);
    expect((files.someEmpty as any).SegmentSequence).toHaveLength(3);
  });
});
