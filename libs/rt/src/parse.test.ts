import { describe, expect, it } from 'vitest';
import { encodeDicom, parseDicomBuffer } from '@anatomynet/data';
import { parseRtStruct, RT_STRUCTURE_SET_STORAGE } from './parse';
import { RtStructError } from './errors';

/** A hand-written structure set in the shape planning systems export (naturalized). */
function tpsLike(): Record<string, any> {
  return {
    SOPClassUID: RT_STRUCTURE_SET_STORAGE,
    SOPInstanceUID: '2.25.77',
    Modality: 'RTSTRUCT',
    StructureSetLabel: 'RTSS',
    ReferencedFrameOfReferenceSequence: [{
      FrameOfReferenceUID: '2.25.10',
      RTReferencedStudySequence: [{
        ReferencedSOPClassUID: '1.2.840.10008.3.1.2.3.1',
        ReferencedSOPInstanceUID: '2.25.11',
        RTReferencedSeriesSequence: [{ SeriesInstanceUID: '2.25.12', ContourImageSequence: [{ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: '2.25.12.1' }] }],
      }],
    }],
    StructureSetROISequence: [
      { ROINumber: 3, ReferencedFrameOfReferenceUID: '2.25.10', ROIName: ' Parotid_L ', ROIGenerationAlgorithm: 'MANUAL' },
      { ROINumber: 5, ReferencedFrameOfReferenceUID: '2.25.10', ROIName: 'Marker', ROIGenerationAlgorithm: 'MANUAL' },
      { ROINumber: 8, ROIName: 'Empty' },
    ],
    ROIContourSequence: [
      {
        ReferencedROINumber: 3,
        ROIDisplayColor: [255, 0, 128],
        ContourSequence: [
          { ContourGeometricType: 'CLOSED_PLANAR', NumberOfContourPoints: 3, ContourData: [0, 0, 5, 10, 0, 5, 0, 10, 5], ContourImageSequence: [{ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: '2.25.12.7' }] },
          { ContourGeometricType: 'CLOSED_PLANAR', NumberOfContourPoints: 4, ContourData: [0, 0, 7.5, 1, 0, 7.5, 1, 1, 7.5] }, // no ContourImageSequence, wrong count
        ],
      },
      { ReferencedROINumber: 5, ContourSequence: [{ ContourGeometricType: 'POINT', NumberOfContourPoints: 1, ContourData: [1, 2, 3] }] },
      { ReferencedROINumber: 99, ContourSequence: [] },
    ],
    RTROIObservationsSequence: [{ ObservationNumber: 1, ReferencedROINumber: 3, RTROIInterpretedType: 'ORGAN', ROIInterpreter: '' }],
  };
}

describe('parseRtStruct', () => {
  it('reads ROIs, contours, colours and every reference, through DICOM bytes', () => {
    const ds = parseDicomBuffer('tps.dcm', encodeDicom(tpsLike())).dataset;
    const s = parseRtStruct(ds, 'tps.dcm');
    expect(s.sopInstanceUID).toBe('2.25.77');
    expect(s.structureSetLabel).toBe('RTSS');
    expect(s.frameOfReferenceUIDs).toEqual(['2.25.10']);
    expect(s.referencedStudyUIDs).toEqual(['2.25.11']);
    expect(s.referencedSeriesUIDs).toEqual(['2.25.12']);
    expect(s.referencedSOPInstanceUIDs).toEqual(['2.25.12.1', '2.25.12.7']);
    expect(s.rois.map((r) => [r.number, r.name])).toEqual([[3, 'Parotid_L'], [5, 'Marker'], [8, 'Empty']]);
    const [parotid, marker, empty] = s.rois;
    expect(parotid.color).toEqual([255, 0, 128]);
    expect(parotid.interpretedType).toBe('ORGAN');
    expect(parotid.frameOfReferenceUID).toBe('2.25.10');
    expect(parotid.contours).toHaveLength(2);
    expect(Array.from(parotid.contours[0].points)).toEqual([0, 0, 5, 10, 0, 5, 0, 10, 5]);
    expect(parotid.contours[0].referencedSOPInstanceUID).toBe('2.25.12.7');
    expect(parotid.contours[1].referencedSOPInstanceUID).toBeUndefined();
    expect(marker.contours[0].geometricType).toBe('POINT');
    expect(marker.color).toBeUndefined();
    expect(empty.contours).toEqual([]);
    expect(s.warnings).toHaveLength(2);
    expect(s.warnings[0]).toMatch(/NumberOfContourPoints 4 but 3 points/);
    expect(s.warnings[1]).toMatch(/ROI 99 not in StructureSetROISequence/);
  });

  it('tolerates missing optional sequences', () => {
    const ds = tpsLike();
    delete ds.ReferencedFrameOfReferenceSequence;
    delete ds.RTROIObservationsSequence;
    delete ds.ROIContourSequence;
    const s = parseRtStruct(parseDicomBuffer('min.dcm', encodeDicom(ds)).dataset, 'min.dcm');
    expect(s.rois).toHaveLength(3);
    expect(s.referencedSeriesUIDs).toEqual([]);
    expect(s.frameOfReferenceUIDs).toEqual(['2.25.10']); // from the ROIs
    expect(s.rois.every((r) => r.contours.length === 0)).toBe(true);
  });

  it('accepts DS values as strings and single items given as objects', () => {
    const ds = tpsLike();
    ds.ROIContourSequence[0].ContourSequence[0].ContourData = ['0', ' 0 ', '5', '10', '0', '5', '0', '10', '5.0'];
    ds.ROIContourSequence[1].ContourSequence = ds.ROIContourSequence[1].ContourSequence[0];
    ds.ROIContourSequence[0].ROIDisplayColor = '1\\2\\3';
    const s = parseRtStruct(ds, 'strings.dcm');
    expect(Array.from(s.rois[0].contours[0].points)).toEqual([0, 0, 5, 10, 0, 5, 0, 10, 5]);
    expect(s.rois[0].color).toEqual([1, 2, 3]);
    expect(s.rois[1].contours).toHaveLength(1);
  });

  it('raises RtStructError naming the file for a broken structure set', () => {
    const cases: [string, (ds: Record<string, any>) => void, RegExp][] = [
      ['ct.dcm', (ds) => { ds.SOPClassUID = '1.2.840.10008.5.1.4.1.1.2'; ds.Modality = 'CT'; }, /not an RT Structure Set/],
      ['noroi.dcm', (ds) => { delete ds.StructureSetROISequence; }, /StructureSetROISequence is missing/],
      ['nonum.dcm', (ds) => { delete ds.StructureSetROISequence[1].ROINumber; }, /item 2 has no integer ROINumber/],
      ['dup.dcm', (ds) => { ds.StructureSetROISequence[1].ROINumber = 3; }, /ROINumber 3 is used twice/],
      ['ragged.dcm', (ds) => { ds.ROIContourSequence[0].ContourSequence[0].ContourData = [1, 2, 3, 4]; }, /4 values, not a multiple of 3/],
      ['nan.dcm', (ds) => { ds.ROIContourSequence[0].ContourSequence[0].ContourData = ['1', 'x', '3']; }, /not a number/],
    ];
    for (const [path, breakIt, reason] of cases) {
      const ds = tpsLike();
      breakIt(ds);
      let err: unknown;
      try {
        parseRtStruct(ds, path);
      } catch (e) {
        err = e;
      }
      expect(err, path).toBeInstanceOf(RtStructError);
      expect((err as RtStructError).path).toBe(path);
      expect((err as RtStructError).message).toMatch(reason);
      expect((err as RtStructError).message.startsWith(path)).toBe(true);
    }
  });
});
