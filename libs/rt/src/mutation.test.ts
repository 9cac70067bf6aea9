/**
 * Seeded mutation tests of the RTSTRUCT and SEG paths as the curator takes them: Part 10 bytes -> dataset ->
 * structure set or segmentation -> masks. A damaged file reads (its masks the grid's size) or is refused with a typed error
 * naming it (VolumeIOError from the DICOM reader, RtStructError from the structure set); never another
 * exception, an allocation sized by the damage, or a hang.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeDicom, parseDicomBuffer, VolumeIOError } from '@anatomynet/data';
import { surveyMutations } from '@anatomynet/data/testing';
import { RtStructError } from './errors';
import { parseRtStruct, RT_STRUCTURE_SET_STORAGE } from './parse';
import { rasteriseRoi } from './rasterise';
import { parseDicomSeg, segmentsOnGrid } from './seg-parse';
import { grid, regularPolygon, writeTestCt } from './test-helpers';

const FILE = 'damaged-rtstruct.dcm';
const geometry = grid([24, 20, 6], [1, 1, 2], [-12, -10, 0]);

/** Two organs on three slices and a marker point, as a planning system exports them. */
function structureSet(): Uint8Array {
  const contour = (cx: number, cy: number, r: number, z: number) => ({
    ContourGeometricType: 'CLOSED_PLANAR',
    NumberOfContourPoints: 12,
    ContourData: regularPolygon(cx, cy, r, 12).flatMap(([x, y]) => [x, y, z]),
    ContourImageSequence: [{ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: `2.25.12.${z / 2 + 1}` }],
  });
  return encodeDicom({
    SOPClassUID: RT_STRUCTURE_SET_STORAGE,
    SOPInstanceUID: '2.25.77',
    Modality: 'RTSTRUCT',
    StructureSetLabel: 'RTSS',
    ReferencedFrameOfReferenceSequence: [{ FrameOfReferenceUID: '2.25.10' }],
    StructureSetROISequence: [
      { ROINumber: 1, ReferencedFrameOfReferenceUID: '2.25.10', ROIName: 'Parotid_L', ROIGenerationAlgorithm: 'MANUAL' },
      { ROINumber: 2, ReferencedFrameOfReferenceUID: '2.25.10', ROIName: 'BrainStem', ROIGenerationAlgorithm: 'MANUAL' },
      { ROINumber: 3, ReferencedFrameOfReferenceUID: '2.25.10', ROIName: 'Marker', ROIGenerationAlgorithm: 'MANUAL' },
    ],
    ROIContourSequence: [
      { ReferencedROINumber: 1, ROIDisplayColor: [255, 0, 0], ContourSequence: [2, 4, 6].map((z) => contour(-5, 0, 4, z)) },
      { ReferencedROINumber: 2, ROIDisplayColor: [0, 255, 0], ContourSequence: [2, 4].map((z) => contour(5, 2, 3, z)) },
      { ReferencedROINumber: 3, ContourSequence: [{ ContourGeometricType: 'POINT', NumberOfContourPoints: 1, ContourData: [0, 0, 4] }] },
    ],
    RTROIObservationsSequence: [{ ObservationNumber: 1, ReferencedROINumber: 1, RTROIInterpretedType: 'ORGAN', ROIInterpreter: '' }],
  });
}

describe('a damaged RTSTRUCT reads into masks of the grid or is refused naming the file', () => {
  it('600 seeded damages', () => {
    const valid = structureSet();
    const masks = (bytes: Uint8Array) =>
      parseRtStruct(parseDicomBuffer(FILE, bytes).dataset, FILE).rois.map((roi) => rasteriseRoi(roi.contours, geometry).mask);
    expect(masks(valid).map((m) => m.reduce((a, b) => a + b, 0) > 0)).toEqual([true, true, false]);
    const r = surveyMutations(
      valid, 21, 600, masks,
      (e) => (e instanceof VolumeIOError || e instanceof RtStructError) && (e as Error).message.startsWith(`${FILE}: `),
      (ms) => ms.map((m) => m.length).find((n) => n !== 24 * 20 * 6)?.toString(),
    );
    expect(r.bad).toEqual([]);
    expect(r.refused).toBeGreaterThan(0);
    expect(r.read).toBeGreaterThan(0);
  });
});

const PYTHON = '/usr/bin/python3';
const hasPydicom = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import pydicom, numpy']).status === 0;

describe.skipIf(!hasPydicom)('a damaged SEG reads into masks of the grid or is refused naming the file', () => {
  const root = mkdtempSync(join(tmpdir(), 'rt-seg-mutation-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const shape = [23, 19, 7] as const;
  const ct = writeTestCt(join(root, 'ct'), [...shape], 90);
  const SEG = 'damaged-seg.dcm';
  // pydicom's SEGs (make_seg.py): binary frames natively packed, each frame RLE-coded on its own, and
  // each coded as JPEG-LS by GDCM or as HTJ2K by OpenJPH (a byte a pixel)
  for (const [encoding, seed] of [['native', 31], ['rle', 32], ['jpegls', 33], ['htj2k', 34]] as const) {
    it(`${encoding}: 600 seeded damages`, () => {
      const path = join(root, `${encoding}.dcm`);
      execFileSync(PYTHON, [join(__dirname, 'make_seg.py'), join(root, 'ct'), path, join(root, `${encoding}.u8`), 'binary', encoding]);
      const valid = new Uint8Array(readFileSync(path));
      const masks = (bytes: Uint8Array) => {
        const f = parseDicomBuffer(SEG, bytes);
        return segmentsOnGrid(parseDicomSeg(f.dataset, SEG, f.transferSyntaxUID), ct.volume, ct).map((s) => s.mask);
      };
      expect(masks(valid).map((m) => m.reduce((a, b) => a + b, 0) > 10)).toEqual([true, true]);
      const r = surveyMutations(
        valid, seed, 600, masks,
        (e) => (e instanceof VolumeIOError || e instanceof RtStructError) && (e as Error).message.startsWith(`${SEG}: `),
        (ms) => ms.map((m) => m.length).find((n) => n !== shape[0] * shape[1] * shape[2])?.toString(),
      );
      expect(r.bad).toEqual([]);
      expect(r.refused).toBeGreaterThan(0);
      expect(r.read).toBeGreaterThan(0);
    });
  }
});
