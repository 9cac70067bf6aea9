"""Reads a DICOM SEG with pydicom against its CT series, independently of our writer (seg.test.ts).

Usage: read_seg.py SEG CT_DIR. Prints JSON: the segments (number, label, codes, CIELab), and per
segment the voxels set, as flat indices i + nx * (j + ny * k) on the CT grid, where i is the column,
j the row and k the CT slice's rank along the slice normal (pydicom's positions, not ours); and the
largest difference between a frame's geometry and that of the CT slice it names as its source (an
Enhanced CT's slice by its frame number).
"""
import json
import sys

import numpy as np
import pydicom

from ct_slices import ct_slices, reference_key

seg_path, ct_dir = sys.argv[1], sys.argv[2]
seg = pydicom.dcmread(seg_path)
slices = ct_slices(ct_dir)
rank = {(s["uid"], s["frame"]): k for k, s in enumerate(slices)}
head = slices[0]["dataset"]
nx, ny = int(head.Columns), int(head.Rows)
iop = slices[0]["iop"]

shared = seg.SharedFunctionalGroupsSequence[0]
seg_iop = np.array([float(x) for x in shared.PlaneOrientationSequence[0].ImageOrientationPatient])
seg_spacing = np.array([float(x) for x in shared.PixelMeasuresSequence[0].PixelSpacing])
geometry_error = max(float(np.abs(seg_iop - iop).max()), float(np.abs(seg_spacing - slices[0]["spacing"]).max()))

frames = seg.pixel_array
if int(seg.NumberOfFrames) == 1:
    frames = frames[np.newaxis]
voxels = {}
for f, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
    number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
    k = rank[reference_key(item.DerivationImageSequence[0].SourceImageSequence[0])]
    ipp = np.array([float(x) for x in item.PlanePositionSequence[0].ImagePositionPatient])
    geometry_error = max(geometry_error, float(np.abs(ipp - slices[k]["ipp"]).max()))
    rows, cols = np.nonzero(frames[f])
    voxels.setdefault(str(number), []).extend(int(c + nx * (r + ny * k)) for r, c in zip(rows, cols))

def code(seq):
    return [seq[0].CodeValue, seq[0].CodingSchemeDesignator, seq[0].CodeMeaning]

segments = []
for s in seg.SegmentSequence:
    t = s.SegmentedPropertyTypeCodeSequence[0]
    segments.append({
        "number": int(s.SegmentNumber),
        "label": s.SegmentLabel,
        "category": code(s.SegmentedPropertyCategoryCodeSequence),
        "type": code(s.SegmentedPropertyTypeCodeSequence),
        "modifier": code(t.SegmentedPropertyTypeModifierCodeSequence) if "SegmentedPropertyTypeModifierCodeSequence" in t else None,
        "lab": [int(x) for x in s.RecommendedDisplayCIELabValue],
    })
print(json.dumps({
    "modality": seg.Modality,
    "frames": int(seg.NumberOfFrames),
    "frameOfReference": seg.FrameOfReferenceUID,
    "referencedSeries": seg.ReferencedSeriesSequence[0].SeriesInstanceUID,
    "segments": segments,
    "voxels": {n: sorted(v) for n, v in voxels.items()},
    "geometryError": geometry_error,
}))
