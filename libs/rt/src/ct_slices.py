"""The slices of a CT series folder as pydicom reads them, for the independent readers of the tests:
single-frame CT images, or Enhanced CT images whose frames are the slices (functional groups, a frame's
own before the shared ones)."""
import os

import numpy as np
import pydicom


def _group(ds, frame, macro):
    """The first item of `macro` in frame's own functional groups, else the shared ones, else None."""
    for groups in (ds.PerFrameFunctionalGroupsSequence[frame], ds.SharedFunctionalGroupsSequence[0]):
        if macro in groups:
            return getattr(groups, macro)[0]
    return None


def ct_slices(ct_dir, pixels=False):
    """Dicts of uid, frame (1-based, None for single-frame), ipp, iop, spacing, dataset (header only
    unless `pixels`), sorted along the slice normal."""
    out = []
    for name in sorted(os.listdir(ct_dir)):
        d = pydicom.dcmread(os.path.join(ct_dir, name), stop_before_pixels=not pixels)
        if "PerFrameFunctionalGroupsSequence" in d:
            for f in range(int(d.NumberOfFrames)):
                out.append({
                    "uid": d.SOPInstanceUID, "frame": f + 1, "dataset": d,
                    "ipp": np.array([float(x) for x in _group(d, f, "PlanePositionSequence").ImagePositionPatient]),
                    "iop": np.array([float(x) for x in _group(d, f, "PlaneOrientationSequence").ImageOrientationPatient]),
                    "spacing": np.array([float(x) for x in _group(d, f, "PixelMeasuresSequence").PixelSpacing]),
                })
        else:
            out.append({
                "uid": d.SOPInstanceUID, "frame": None, "dataset": d,
                "ipp": np.array([float(x) for x in d.ImagePositionPatient]),
                "iop": np.array([float(x) for x in d.ImageOrientationPatient]),
                "spacing": np.array([float(x) for x in d.PixelSpacing]),
            })
    normal = np.cross(out[0]["iop"][:3], out[0]["iop"][3:])
    for s in out:
        s["normal"] = normal
    out.sort(key=lambda s: float(np.dot(normal, s["ipp"])))
    return out


def reference_key(item):
    """(uid, frame) of an Image SOP Instance Reference item (frame None when not given)."""
    frame = int(item.ReferencedFrameNumber) if "ReferencedFrameNumber" in item else None
    return (item.ReferencedSOPInstanceUID, frame)
