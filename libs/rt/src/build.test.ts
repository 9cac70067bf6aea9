import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeDicom, parseDicomBuffer, readCtSeries, readDicomFile, writeCtSeries, writeDicomFile, type Mat3, type Vec3 } from '@anatomynet/data';
import { buildRtStruct, writeRtStruct, type RtCtReference, type RtRoiSpec } from './build';
import { mergeLabels } from './merge';
import { parseRtStruct, RT_STRUCTURE_SET_STORAGE } from './parse';
import { rasteriseRoi } from './rasterise';
import { countOnes, dice, grid, mulMat, organs, rotation } from './test-helpers';

const colour = (l: number): [number, number, number] => [(l * 53) % 256, (l * 97) % 256, (l * 151) % 256];

function ctFor(volume: RtCtReference['volume']): RtCtReference {
  return {
    volume,
    seriesInstanceUID: '2.25.1001',
    studyInstanceUID: '2.25.1002',
    frameOfReferenceUID: '2.25.1003',
    sopInstanceUIDs: Array.from({ length: volume.shape[2] }, (_, k) => `2.25.2000.${k + 1}`),
    patientId: 'ANON-1',
    patientName: 'Anonymous',
  };
}

describe('buildRtStruct', () => {
  const shape: Vec3 = [40, 32, 8];
  const set = organs(shape);
  const rois: RtRoiSpec[] = set.map((o) => ({ label: o.label, name: o.name, color: colour(o.label) }));

  it('round-trips per-organ masks exactly through DICOM bytes (including thin and one-voxel organs)', () => {
    const R = rotation([1, 1, 0], 0.3);
    const geometries = [
      grid(shape, [0.9765625, 0.9765625, 2.5], [-19.5, -240.3, -102]),
      grid(shape, [0.8, 0.7, 3], [12, 3, 40], mulMat(R, [1, 0, 0, 0, 1, 0, 0, 0, 1] as Mat3), [0, 3, 6, 8, 9, 12, 15, 21]),
    ];
    for (const g of geometries) {
      const ct = ctFor(g);
      const ds = buildRtStruct({ masks: set }, ct, rois);
      const back = parseRtStruct(parseDicomBuffer('mem.dcm', encodeDicom(ds)).dataset, 'mem.dcm');
      expect(back.warnings).toEqual([]);
      expect(back.rois.map((r) => r.name)).toEqual(set.map((o) => o.name));
      for (const o of set) {
        const roi = back.rois.find((r) => r.number === o.label)!;
        expect(roi.color).toEqual(colour(o.label));
        expect(roi.interpretedType).toBe('ORGAN');
        const { mask, stats } = rasteriseRoi(roi.contours, g);
        expect(stats.rasterised, o.name).toBe(roi.contours.length);
        expect(countOnes(mask), o.name).toBe(countOnes(o.mask));
        expect(dice(mask, o.mask), o.name).toBe(1);
        expect(Array.from(mask).every((v, i) => v === o.mask[i]), o.name).toBe(true);
        // Every contour references the CT slice it lies on.
        for (const c of roi.contours) expect(ct.sopInstanceUIDs).toContain(c.referencedSOPInstanceUID);
      }
    }
  });

  it('writes the references, sequences and value limits an RTSTRUCT needs', () => {
    const g = grid(shape, [0.9765625, 0.9765625, 2.5], [-249.51171875, -249.51171875, -1234.5]);
    const ct = ctFor(g);
    const progress: string[] = [];
    const ds: any = buildRtStruct({ masks: set }, ct, rois, { generationDescription: 'unit test', onProgress: (d, t) => progress.push(`${d}/${t}`) });
    expect(progress).toEqual(rois.map((_, i) => `${i + 1}/9`));
    expect(ds.StructureSetROISequence[0].ROIGenerationDescription).toBe('unit test');
    expect(ds.SOPClassUID).toBe(RT_STRUCTURE_SET_STORAGE);
    expect(ds.Modality).toBe('RTSTRUCT');
    expect(ds.StudyInstanceUID).toBe(ct.studyInstanceUID);
    const fr = ds.ReferencedFrameOfReferenceSequence[0];
    expect(fr.FrameOfReferenceUID).toBe(ct.frameOfReferenceUID);
    const series = fr.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0];
    expect(series.SeriesInstanceUID).toBe(ct.seriesInstanceUID);
    expect(series.ContourImageSequence.map((x: any) => x.ReferencedSOPInstanceUID)).toEqual(ct.sopInstanceUIDs);
    expect(ds.StructureSetROISequence.map((x: any) => x.ROIGenerationAlgorithm)).toEqual(rois.map(() => 'AUTOMATIC'));
    expect(ds.RTROIObservationsSequence.map((x: any) => x.RTROIInterpretedType)).toEqual(rois.map(() => 'ORGAN'));
    let contours = 0;
    for (const rc of ds.ROIContourSequence) {
      for (const c of rc.ContourSequence) {
        contours++;
        expect(c.NumberOfContourPoints).toBeGreaterThanOrEqual(3);
        expect(c.ContourData.length).toBe(3 * c.NumberOfContourPoints);
        for (const v of c.ContourData) {
          expect(typeof v).toBe('string');
          expect(v.length).toBeLessThanOrEqual(16);
        }
      }
    }
    // At least one contour per (organ, slice) with voxels; the tube (label 9) adds a hole on each of its 4 slices.
    const sliceVoxels = shape[0] * shape[1];
    const occupied = set.reduce((n, o) => n + Array.from({ length: shape[2] }, (_, k) => o.mask.subarray(k * sliceVoxels, (k + 1) * sliceVoxels).some((v) => v > 0)).filter(Boolean).length, 0);
    expect(contours).toBeGreaterThanOrEqual(occupied + 4);
    // Deterministic: the same masks give the same UIDs; other masks other UIDs.
    const again: any = buildRtStruct({ masks: set }, ct, rois, { generationDescription: 'unit test' });
    expect(again.SOPInstanceUID).toBe(ds.SOPInstanceUID);
    const fewer: any = buildRtStruct({ masks: set.slice(1) }, ct, rois.slice(1));
    expect(fewer.SOPInstanceUID).not.toBe(ds.SOPInstanceUID);
    expect(ds.SOPInstanceUID).toMatch(/^2\.25\.\d+$/);
  });

  it('writes from a merged labelmap (smaller organ wins) and lists empty ROIs without contours', () => {
    const g = grid(shape, [1, 1, 2]);
    const { labelmap, overlapsVoxels } = mergeLabels(set.map((o) => ({ label: o.label, mask: o.mask, voxels: countOnes(o.mask) })));
    expect(overlapsVoxels.map((o) => o.labels)).toContainEqual([1, 9]);
    const withEmpty = [...rois, { label: 42, name: 'Empty', color: [1, 2, 3] as [number, number, number] }];
    const ds: any = buildRtStruct({ labelmap }, ctFor(g), withEmpty);
    expect(ds.ROIContourSequence.at(-1).ContourSequence).toBeUndefined();
    const back = parseRtStruct(parseDicomBuffer('lm.dcm', encodeDicom(ds)).dataset, 'lm.dcm');
    for (const o of set) {
      const { mask } = rasteriseRoi(back.rois.find((r) => r.number === o.label)!.contours, g);
      const expected = Uint8Array.from(labelmap, (v) => (v === o.label ? 1 : 0));
      expect(Array.from(mask)).toEqual(Array.from(expected));
    }
    expect(back.rois.at(-1)!.contours).toEqual([]);
  });

  it('rejects mismatched inputs', () => {
    const g = grid(shape, [1, 1, 2]);
    const ct = ctFor(g);
    expect(() => buildRtStruct({ masks: set }, { ...ct, sopInstanceUIDs: ['1.2'] }, rois)).toThrow(/1 SOP instance UIDs for 8 slices/);
    expect(() => buildRtStruct({ masks: set.slice(1) }, ct, rois)).toThrow(/no mask for label 1/);
    expect(() => buildRtStruct({ labelmap: new Uint8Array(5) }, ct, rois)).toThrow(/labelmap has 5 voxels/);
    expect(() => buildRtStruct({ masks: set }, ct, [rois[0], { ...rois[1], number: 1 }])).toThrow(/ROINumber 1 given twice/);
    expect(() => buildRtStruct({ masks: set }, ct, [])).toThrow(/no ROIs/);
    // texts longer than their VR: what planning systems refuse, refused here first
    expect(() => buildRtStruct({ masks: set }, ct, rois, { generationDescription: `model ${'x'.repeat(60)}` })).toThrow('buildRtStruct: generationDescription (LO) has 66 characters, more than the 64 DICOM allows');
    expect(() => buildRtStruct({ masks: set }, ct, rois, { structureSetLabel: 'AnatomyNet contours' })).toThrow(/structureSetLabel \(SH\) has 19 characters, more than the 16/);
    expect(() => buildRtStruct({ masks: set }, ct, [{ ...rois[0], name: 'n'.repeat(65) }])).toThrow(/ROI name \(LO\) "n+" has 65 characters/);
    expect(() => buildRtStruct({ masks: set }, ct, rois, { generationDescription: 'x'.repeat(64) })).not.toThrow();
  });
});

describe('writeRtStruct', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rt-write-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a Part 10 file that reads back as the same structure set', () => {
    const shape: Vec3 = [40, 32, 8];
    const set = organs(shape);
    const g = grid(shape, [1, 1, 2]);
    const path = join(dir, 'rtss.dcm');
    const ds: any = writeRtStruct(path, { masks: set }, ctFor(g), set.map((o) => ({ label: o.label, name: o.name, color: colour(o.label) })));
    const file = readDicomFile(path);
    expect(file.sopClassUID).toBe(RT_STRUCTURE_SET_STORAGE);
    const back = parseRtStruct(file.dataset, path);
    expect(back.sopInstanceUID).toBe(ds.SOPInstanceUID);
    expect(back.frameOfReferenceUIDs).toEqual(['2.25.1003']);
    expect(back.referencedSeriesUIDs).toEqual(['2.25.1001']);
    expect(back.referencedStudyUIDs).toEqual(['2.25.1002']);
    expect(back.referencedSOPInstanceUIDs).toHaveLength(8);
  });

  it('places contours on the real planes of a CT series with uneven slice steps (read by libs/data)', () => {
    const shape: Vec3 = [40, 32, 8];
    const set = organs(shape);
    const ctDir = join(dir, 'uneven');
    const volume = { data: new Int16Array(40 * 32 * 8), shape, spacing: [0.9, 0.8, 2.5] as Vec3, origin: [-20, -15, 30] as Vec3, direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] as Mat3 };
    const { files } = writeCtSeries(volume, { dir: ctDir, seriesInstanceUID: '2.25.61', studyInstanceUID: '2.25.62', frameOfReferenceUID: '2.25.63', patientId: 'U', patientName: 'Uneven' });
    const zs = [30, 32.5, 35, 37, 40, 42.5, 44.5, 47.5];
    files.forEach((f, k) => {
      const d = readDicomFile(f).dataset;
      d.ImagePositionPatient = ['-20', '-15', String(zs[k])];
      d.SliceLocation = String(zs[k]);
      writeDicomFile(f, d);
    });
    const ct = readCtSeries([...files].reverse());
    expect(ct.volume.slicePositionsMm).toEqual(zs);
    const path = join(dir, 'uneven.dcm');
    writeRtStruct(path, { masks: set }, ct, set.map((o) => ({ label: o.label, name: o.name, color: colour(o.label) })));
    const back = parseRtStruct(readDicomFile(path).dataset, path);
    const zOfSop = new Map(ct.sopInstanceUIDs.map((uid, k) => [uid, zs[k]]));
    for (const o of set) {
      const roi = back.rois.find((r) => r.number === o.label)!;
      for (const c of roi.contours) for (let p = 2; p < c.points.length; p += 3) expect(c.points[p]).toBe(zOfSop.get(c.referencedSOPInstanceUID!));
      expect(Array.from(rasteriseRoi(roi.contours, ct.volume).mask)).toEqual(Array.from(o.mask));
    }
  });
});
