"""Writes an Enhanced CT (multi-frame) image with pydicom from a single-frame CT series, independently of
our reader, for enhanced-ct.test.ts and the curation / segment tests.

Usage: make_enhanced_ct.py CT_DIR OUT [OPTION...], OUT a file (or a folder when split), options:
  shuffle       frames in a seeded random order, not along the slice normal
  rescale       a different RescaleIntercept per frame (per-frame Pixel Value Transformation), pixels signed
  legacy        Legacy Converted Enhanced CT Image Storage (1.2.840.10008.5.1.4.1.1.2.2)
  split=N       N instances of the one series, frames dealt round-robin (OUT is a folder)
  temporal=N    N temporal positions of every slice (a 4D CT), frames repeated
  toplevel      orientation and spacing only at the top level of the dataset, not in the functional groups
                (what some legacy converters write)
Each frame keeps the HU of its source slice. Prints one JSON line: the files written and, per frame of
each file, the SOPInstanceUID of its source slice.
"""
import json
import os
import random
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ct_dir, out = sys.argv[1:3]
opts = {}
for a in sys.argv[3:]:
    key, _, value = a.partition("=")
    opts[key] = int(value) if value else True

cts = [pydicom.dcmread(os.path.join(ct_dir, f)) for f in sorted(os.listdir(ct_dir))]
iop = [float(x) for x in cts[0].ImageOrientationPatient]
normal = np.cross(iop[:3], iop[3:])
cts.sort(key=lambda d: float(np.dot(normal, [float(x) for x in d.ImagePositionPatient])))
order = list(range(len(cts)))
if opts.get("shuffle"):
    random.Random(7).shuffle(order)
temporal = int(opts.get("temporal", 1))
frames = [(k, t) for t in range(temporal) for k in order]
parts = int(opts.get("split", 1))
sop_class = "1.2.840.10008.5.1.4.1.1.2.2" if opts.get("legacy") else "1.2.840.10008.5.1.4.1.1.2.1"
first = cts[0]


def hu(d):
    return d.pixel_array.astype(np.int32) * float(getattr(d, "RescaleSlope", 1)) + float(getattr(d, "RescaleIntercept", 0))


def item(**kw):
    ds = Dataset()
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


written, sources = [], []
for part in range(parts):
    mine = frames[part::parts]
    uid = generate_uid(None, [str(first.SeriesInstanceUID), sop_class, "instance", str(part)])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uid
    for key in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "SeriesInstanceUID",
                "FrameOfReferenceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
                "PatientPosition"):
        setattr(ds, key, getattr(first, key, ""))
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = part + 1
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer, ds.ManufacturerModelName, ds.DeviceSerialNumber, ds.SoftwareVersions = "Test", "pydicom", "1", "1"
    ds.ContentDate, ds.ContentTime = "20260101", "120000"
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = "20260101120000"
    ds.AcquisitionDuration = 1.0
    ds.ContentQualification = "RESEARCH"
    ds.ImageType = ["DERIVED", "PRIMARY", "VOLUME", "NONE"]
    ds.PixelPresentation, ds.VolumetricProperties, ds.VolumeBasedCalculationTechnique = "MONOCHROME", "VOLUME", "NONE"
    ds.PresentationLUTShape = "IDENTITY"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.AcquisitionContextSequence = Sequence([])
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = first.Rows, first.Columns
    signed = bool(opts.get("rescale")) or int(first.PixelRepresentation) == 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1 if signed else 0
    ds.NumberOfFrames = len(mine)
    dim_uid = generate_uid(None, [uid, "dimensions"])
    ds.DimensionOrganizationSequence = Sequence([item(DimensionOrganizationUID=dim_uid)])
    ds.DimensionOrganizationType = "3D" if temporal == 1 else "3D_TEMPORAL"
    pos_pointer = pydicom.tag.Tag("ImagePositionPatient")
    ds.DimensionIndexSequence = Sequence(
        [item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=pos_pointer,
              FunctionalGroupPointer=pydicom.tag.Tag("PlanePositionSequence"))]
        + ([item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=pydicom.tag.Tag("TemporalPositionIndex"),
                 FunctionalGroupPointer=pydicom.tag.Tag("FrameContentSequence"))] if temporal > 1 else []))
    spacing = [float(x) for x in first.PixelSpacing]
    thickness = float(getattr(first, "SliceThickness", 1) or 1)
    shared = item(
        CTImageFrameTypeSequence=Sequence([item(FrameType=["DERIVED", "PRIMARY", "VOLUME", "NONE"], PixelPresentation="MONOCHROME",
                                                VolumetricProperties="VOLUME", VolumeBasedCalculationTechnique="NONE")]),
        FrameAnatomySequence=Sequence([item(FrameLaterality="U", AnatomicRegionSequence=Sequence([
            item(CodeValue="69536005", CodingSchemeDesignator="SCT", CodeMeaning="Head")]))]),
        IrradiationEventIdentificationSequence=Sequence([item(IrradiationEventUID=generate_uid(None, [uid, "irradiation"]))]),
    )
    if opts.get("toplevel"):
        ds.ImageOrientationPatient = first.ImageOrientationPatient
        ds.PixelSpacing = first.PixelSpacing
        ds.SliceThickness = thickness
    else:
        shared.PlaneOrientationSequence = Sequence([item(ImageOrientationPatient=[float(x) for x in first.ImageOrientationPatient])])
        shared.PixelMeasuresSequence = Sequence([item(PixelSpacing=spacing, SliceThickness=thickness)])
    if not opts.get("rescale"):
        shared.PixelValueTransformationSequence = Sequence([item(RescaleIntercept=-1024, RescaleSlope=1, RescaleType="HU")])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame, pixels, src = [], [], []
    for n, (k, t) in enumerate(mine):
        d = cts[k]
        intercept = -1024 - 10 * (n % 5) if opts.get("rescale") else -1024
        stored = np.round(hu(d) - intercept).astype(np.int16 if signed else np.uint16)
        pixels.append(stored.tobytes())
        src.append(str(d.SOPInstanceUID))
        fg = item(
            FrameContentSequence=Sequence([item(FrameAcquisitionDateTime="20260101120000", FrameReferenceDateTime="20260101120000",
                                                FrameAcquisitionDuration=1.0, StackID="1", InStackPositionNumber=k + 1,
                                                DimensionIndexValues=[k + 1, t + 1] if temporal > 1 else [k + 1],
                                                **({"TemporalPositionIndex": t + 1} if temporal > 1 else {}))]),
            PlanePositionSequence=Sequence([item(ImagePositionPatient=[float(x) for x in d.ImagePositionPatient])]),
        )
        if opts.get("legacy"):
            fg.UnassignedPerFrameConvertedAttributesSequence = Sequence([Dataset()])
        if opts.get("rescale"):
            fg.PixelValueTransformationSequence = Sequence([item(RescaleIntercept=intercept, RescaleSlope=1, RescaleType="HU")])
        per_frame.append(fg)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = b"".join(pixels)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    path = os.path.join(out, "enhanced_%d.dcm" % (part + 1)) if parts > 1 else out
    ds.save_as(path, write_like_original=False)
    written.append(path)
    sources.append(src)
print(json.dumps({"files": written, "sources": sources}))
