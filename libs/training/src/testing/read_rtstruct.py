"""Independent reader for segment.test.ts: pydicom reads an RTSTRUCT and the CT series it references.

Usage: /usr/bin/python3 read_rtstruct.py <rtstruct.dcm> <ct folder>
Prints one JSON object: references, ROIs, and per ROI how far its contour points lie from the plane of
the CT image each contour names (mm, along that image's normal; an Enhanced CT's frame by its number).
"""
import json
import os
import sys

import numpy as np
import pydicom

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "rt", "src"))
from ct_slices import ct_slices, reference_key  # noqa: E402  (libs/rt's test reader of CT folders)

rt = pydicom.dcmread(sys.argv[1])
ct = {(s["uid"], s["frame"]): s for s in ct_slices(sys.argv[2])}

refs = rt.ReferencedFrameOfReferenceSequence
studies = [st for r in refs for st in r.RTReferencedStudySequence]
series = [s for st in studies for s in st.RTReferencedSeriesSequence]
rois = {}
for c in rt.ROIContourSequence:
    contours = list(getattr(c, 'ContourSequence', []))
    off_plane = 0.0
    points = 0
    for x in contours:
        n = int(x.NumberOfContourPoints)
        xyz = np.array([float(v) for v in x.ContourData]).reshape(-1, 3)
        assert xyz.shape[0] == n, 'NumberOfContourPoints disagrees with ContourData'
        points += n
        image = ct[reference_key(x.ContourImageSequence[0])]
        off_plane = max(off_plane, float(np.abs((xyz - image["ipp"]) @ image["normal"]).max()))
    rois[int(c.ReferencedROINumber)] = {
        'color': [int(v) for v in c.ROIDisplayColor],
        'contours': len(contours),
        'points': points,
        'types': sorted({str(x.ContourGeometricType) for x in contours}),
        'maxOffPlaneMm': off_plane,
    }
first = next(iter(ct.values()))["dataset"]
print(json.dumps({
    'sopClassUID': rt.SOPClassUID,
    'modality': rt.Modality,
    'patientId': rt.PatientID,
    'patientIdMatchesCt': rt.PatientID == first.PatientID,
    'studyInstanceUID': rt.StudyInstanceUID,
    'frameOfReferenceUIDs': [r.FrameOfReferenceUID for r in refs],
    'referencedStudyUIDs': [st.ReferencedSOPInstanceUID for st in studies],
    'referencedSeriesUIDs': [s.SeriesInstanceUID for s in series],
    'contourImageUIDs': [i.ReferencedSOPInstanceUID for s in series for i in s.ContourImageSequence],
    'structureSetROIs': [{'number': int(r.ROINumber), 'name': r.ROIName, 'frameOfReferenceUID': r.ReferencedFrameOfReferenceUID} for r in rt.StructureSetROISequence],
    'interpretedTypes': {int(o.ReferencedROINumber): o.RTROIInterpretedType for o in rt.RTROIObservationsSequence},
    'rois': rois,
}))
