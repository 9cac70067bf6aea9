"""Writes a DICOM SEG with pydicom, independently of our writer, for seg-parse.test.ts.

Usage: make_seg.py CT_DIR OUT.dcm TRUTH.u8 MODE [ENCODING], MODE one of
  binary      frames in shuffled order, orientation and spacing per frame, plane positions and source images
  fractional  8-bit fractional (maximum 200), shared orientation
  sourceonly  no plane positions: frames placed by their source image alone
  oversampled frames on a grid 3x finer in-plane (as 3D Slicer's oversampled segmentations), each CT voxel's
              centre on a fine pixel's; the 8 fine pixels around it scrambled (a reader taking the nearest
              pixel gets the CT mask)
  coarse      frames on a grid 2x coarser in-plane, a coarse pixel's centre between 2x2 CT voxels' (each CT
              voxel's nearest coarse pixel: its own quarter); TRUTH.u8 is the coarse mask on the CT grid
and ENCODING one of
  native      Explicit VR Little Endian (the default)
  deflated    Deflated Explicit VR Little Endian: the whole dataset through zlib
  rle         RLE Lossless (pydicom's encoder): a fragment per frame, a binary frame's bits packed on their
              own (the frame starts at a byte) and encoded as one 8-bit segment
  htj2k       HTJ2K Lossless by OpenJPH (ojph_compress), a codestream per frame of a byte a pixel, binary ones
              too (the header then says 1 bit)
  jpegls, j2k JPEG-LS Lossless or JPEG 2000 Lossless by GDCM (gdcmconv --jpegls / --j2k): frames of a byte a
              pixel, binary ones too (0 or 1), as highdicom codes them; the header then says 1 bit again
Two segments: a ball (1) and a box overlapping it (2). TRUTH.u8 holds, per segment, the voxels set
(value 1 or 2 bits: bit 0 segment 1, bit 1 segment 2) as bytes i + nx * (j + ny * k), k the slice's
rank along the normal.
"""
import os
import random
import subprocess
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.encaps import encapsulate
from pydicom.encoders import RLELosslessEncoder
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, RLELossless

ct_dir, out, truth_path, mode = sys.argv[1:5]
encoding = sys.argv[5] if len(sys.argv) > 5 else "native"
cts = [pydicom.dcmread(os.path.join(ct_dir, f)) for f in sorted(os.listdir(ct_dir))]
iop = [float(x) for x in cts[0].ImageOrientationPatient]
normal = np.cross(iop[:3], iop[3:])
cts.sort(key=lambda d: float(np.dot(normal, [float(x) for x in d.ImagePositionPatient])))
nz, ny, nx = len(cts), int(cts[0].Rows), int(cts[0].Columns)

k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
ball = (i - nx / 2) ** 2 + (j - ny / 2) ** 2 + ((k - nz / 2) * 2) ** 2 <= (min(nx, ny) / 4) ** 2
box = (i >= nx // 2) & (i < nx - 2) & (j >= 3) & (j < ny // 2 + 2) & (k >= 1) & (k < nz - 1)
masks = [ball, box]
# in-plane factor of the frames' grid against the CT's (below 1: finer), and the frames' masks on it
factor = {"oversampled": 1 / 3, "coarse": 2}.get(mode, 1)
if mode == "coarse":
    coarse = [m[:, ::2, ::2] for m in masks]
    masks = [np.repeat(np.repeat(c, 2, axis=1), 2, axis=2)[:, :ny, :nx] for c in coarse]
truth = (masks[0].astype(np.uint8) | (masks[1].astype(np.uint8) << 1))
truth.tofile(truth_path)  # C order (k, j, i): i fastest

def frame_pixels(n, kk):
    """Segment n's frame on slice kk, on the frames' grid."""
    if mode == "coarse":
        return coarse[n - 1][kk]
    if mode == "oversampled":
        fine = np.kron(masks[n - 1][kk], np.ones((3, 3), dtype=bool))
        jj, ii = np.meshgrid(np.arange(3 * ny), np.arange(3 * nx), indexing="ij")
        off_centre = ~(((jj % 3) == 1) & ((ii % 3) == 1))
        return fine ^ (np.random.default_rng(100 * n + kk).random(fine.shape) < 0.3) & off_centre
    return masks[n - 1][kk]

def code(value, scheme, meaning):
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c

meta = FileMetaDataset()
meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
meta.MediaStorageSOPInstanceUID = "2.25.99001"
# jpegls and j2k: written native with a byte a pixel first, then compressed by GDCM
meta.TransferSyntaxUID = {"native": ExplicitVRLittleEndian, "deflated": DeflatedExplicitVRLittleEndian, "rle": RLELossless}.get(encoding, ExplicitVRLittleEndian)
ds = FileDataset(out, {}, file_meta=meta, preamble=b"\0" * 128)
ds.is_little_endian, ds.is_implicit_VR = True, False
ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, "SEG"
ds.StudyInstanceUID, ds.SeriesInstanceUID = cts[0].StudyInstanceUID, "2.25.99002"
ds.FrameOfReferenceUID = cts[0].FrameOfReferenceUID
frame_rows, frame_columns = frame_pixels(1, 0).shape
ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = frame_rows, frame_columns, 1, "MONOCHROME2"
fractional = mode == "fractional"
ds.SegmentationType = "FRACTIONAL" if fractional else "BINARY"
if fractional:
    ds.SegmentationFractionalType, ds.MaximumFractionalValue = "PROBABILITY", 200
by_gdcm = encoding in ("jpegls", "j2k")
by_codec = by_gdcm or encoding == "htj2k"
ds.BitsAllocated = ds.BitsStored = 8 if fractional or by_codec else 1
ds.HighBit = ds.BitsStored - 1
ds.PixelRepresentation = 0
segs = []
for n, (label, value, meaning, side) in enumerate([("Left parotid", "45289007", "Parotid gland", ("7771000", "Left")), ("Box", "91609006", "Mandible", None)], 1):
    s = Dataset()
    s.SegmentNumber, s.SegmentLabel, s.SegmentAlgorithmType = n, label, "MANUAL"
    s.SegmentedPropertyCategoryCodeSequence = Sequence([code("123037004", "SCT", "Anatomical Structure")])
    t = code(value, "SCT", meaning)
    if side:
        t.SegmentedPropertyTypeModifierCodeSequence = Sequence([code(side[0], "SCT", side[1])])
    s.SegmentedPropertyTypeCodeSequence = Sequence([t])
    segs.append(s)
ds.SegmentSequence = Sequence(segs)

spacing = [float(x) for x in cts[0].PixelSpacing]
shared = Dataset()
def orientation_item():
    o = Dataset()
    o.PlaneOrientationSequence = Sequence([Dataset()])
    o.PlaneOrientationSequence[0].ImageOrientationPatient = cts[0].ImageOrientationPatient
    m = Dataset()
    m.PixelSpacing, m.SliceThickness = [x * factor for x in spacing], cts[0].get("SliceThickness", 1)
    return o.PlaneOrientationSequence, Sequence([m])
if mode != "binary":
    shared.PlaneOrientationSequence, shared.PixelMeasuresSequence = orientation_item()
ds.SharedFunctionalGroupsSequence = Sequence([shared])

frames = [(n, kk) for n in (1, 2) for kk in range(nz) if masks[n - 1][kk].any()]
if mode == "binary":
    random.Random(5).shuffle(frames)
items, pixels = [], []
for n, kk in frames:
    g = Dataset()
    g.SegmentIdentificationSequence = Sequence([Dataset()])
    g.SegmentIdentificationSequence[0].ReferencedSegmentNumber = n
    if mode != "sourceonly":
        g.PlanePositionSequence = Sequence([Dataset()])
        # the frames' first pixel centre: the CT's, moved by (factor - 1) / 2 of a CT voxel along rows and columns
        shift = (factor - 1) / 2 * (spacing[1] * np.array(iop[:3]) + spacing[0] * np.array(iop[3:]))
        g.PlanePositionSequence[0].ImagePositionPatient = [f"{float(x) + d:.6f}" for x, d in zip(cts[kk].ImagePositionPatient, shift)]
    if mode == "binary":
        g.PlaneOrientationSequence, g.PixelMeasuresSequence = orientation_item()
    src = Dataset()
    src.ReferencedSOPClassUID, src.ReferencedSOPInstanceUID = cts[kk].SOPClassUID, cts[kk].SOPInstanceUID
    d = Dataset()
    d.SourceImageSequence = Sequence([src])
    g.DerivationImageSequence = Sequence([d])
    items.append(g)
    frame = frame_pixels(n, kk)
    # fractional: inside 150 or 101 of 200 (above half), outside 0 or 99 (below half)
    pixels.append(np.where(frame, 150 if kk % 2 else 101, 99 if kk % 2 else 0).astype(np.uint8) if fractional else frame.astype(np.uint8))
ds.PerFrameFunctionalGroupsSequence = Sequence(items)
ds.NumberOfFrames = len(frames)
stack = np.stack(pixels)
if encoding == "rle":
    def rle(frame):
        raw = frame.tobytes() if fractional else np.packbits(frame.ravel(), bitorder="little").tobytes()
        rows, columns = (ny, nx) if fractional else (1, len(raw))
        return RLELosslessEncoder.encode(raw, rows=rows, columns=columns, samples_per_pixel=1, bits_allocated=8, bits_stored=8,
                                         photometric_interpretation="MONOCHROME2", pixel_representation=0, number_of_frames=1)
    ds.PixelData = encapsulate([rle(f) for f in stack], has_bot=True)
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
elif encoding == "htj2k":
    def htj2k(frame):
        """OpenJPH's encoder (ojph_compress): a frame of a byte a pixel -> a reversible HTJ2K codestream."""
        raw, coded = out + ".yuv", out + ".j2c"
        frame.astype(np.uint8).tofile(raw)
        subprocess.run(["ojph_compress", "-i", raw, "-o", coded, "-dims", "{%d,%d}" % (frame.shape[1], frame.shape[0]), "-num_comps", "1",
                        "-signed", "false", "-bit_depth", "8", "-downsamp", "{1,1}", "-reversible", "true"], check=True, capture_output=True)
        with open(coded, "rb") as f:
            data = f.read()
        os.remove(raw)
        os.remove(coded)
        return data
    # pydicom 2.3 predates HTJ2K: name its transfer syntax so that the file can be saved encapsulated
    import pydicom._uid_dict
    pydicom._uid_dict.UID_dictionary.setdefault("1.2.840.10008.1.2.4.201", ("High-Throughput JPEG 2000 Image Compression (Lossless Only)", "Transfer Syntax", "", "", "HTJ2KLossless"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.201"
    ds.PixelData = encapsulate([htj2k(f) for f in stack], has_bot=True)
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
    if not fractional:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
else:
    data = stack.tobytes() if fractional or by_gdcm else np.packbits(stack.ravel(), bitorder="little").tobytes()
    ds.PixelData = data + (b"\0" if len(data) % 2 else b"")
ds.save_as(out, write_like_original=False)
if by_gdcm:
    subprocess.run(["gdcmconv", "--" + encoding, out, out + ".gdcm"], check=True)
    coded = pydicom.dcmread(out + ".gdcm")
    os.remove(out + ".gdcm")
    if not fractional:
        coded.BitsAllocated, coded.BitsStored, coded.HighBit = 1, 1, 0
    coded.save_as(out)
