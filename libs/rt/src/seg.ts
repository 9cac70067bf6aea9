/**
 * Masks -> DICOM Segmentation (SEG, binary): the voxel form of the same result an RTSTRUCT gives as
 * contours, for viewers and archives that store labels as images (3D Slicer, OHIF, TCIA). One frame
 * per segment per slice it occupies (empty frames left out, as highdicom and dcmqi do), bit-packed,
 * each frame placed by its plane position and derived from its CT slice; every segment coded
 * (category, type and laterality, SNOMED CT) so that a reader need not parse its label.
 * Written here rather than through a DICOM SEG library: none exists for Node that writes from a
 * label map without a DOM or a viewer attached, and the IOD is checked by dciodvfy in the tests.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_UID_ROOT, uidFromSeed, writeDicomFile } from '@anatomynet/data';
import { labelReader, type RtMaskSource, type SliceBox } from './boxes';
import { CT_IMAGE_STORAGE, type RtCtReference } from './build';
import { formatDS } from './ds';
import { sliceFrame } from './geometry';
import { sliceImageReference } from './image-refs';

export const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';

/** A coded concept (a DICOM Code Sequence item). */
export interface CodedConcept {
  value: string;
  scheme: string;
  meaning: string;
}

/** SNOMED CT "Anatomical Structure" (CID 7150, Segmentation Property Categories). */
export const ANATOMICAL_STRUCTURE: CodedConcept = { value: '123037004', scheme: 'SCT', meaning: 'Anatomical Structure' };

/** One segment to write: its value in the labelmap (or its mask's label), label, colour and codes. */
export interface SegSegmentSpec {
  label: number;
  /** SegmentLabel (LO, at most 64 characters). */
  name: string;
  /** Display colour (sRGB 0-255), written as RecommendedDisplayCIELabValue. */
  color: [number, number, number];
  /** SegmentedPropertyTypeCodeSequence (e.g. SCT 45289007 Parotid gland). */
  type: CodedConcept;
  /** SegmentedPropertyTypeModifierCodeSequence, e.g. laterality (SCT 7771000 Left). */
  typeModifier?: CodedConcept;
  /** SegmentedPropertyCategoryCodeSequence (default ANATOMICAL_STRUCTURE). */
  category?: CodedConcept;
  /** SegmentNumber (default: the label). */
  number?: number;
}

export interface BuildSegOptions {
  /** UIDs of the new instance and series; by default derived from the CT series and the content. */
  sopInstanceUID?: string;
  seriesInstanceUID?: string;
  uidRoot?: string;
  seriesDescription?: string;
  seriesNumber?: number;
  instanceNumber?: number;
  manufacturer?: string;
  /** ManufacturerModelName and SegmentAlgorithmName (LO), e.g. 'AnatomyNet'. */
  algorithmName?: string;
  /** SoftwareVersions (LO, type 1; default 'unspecified'). */
  softwareVersions?: string;
  /** ContentLabel (CS: upper case, digits, space and underscore, at most 16 characters). */
  contentLabel?: string;
  contentDescription?: string;
  /**
   * ContentDate / ContentTime (type 1 in this IOD). By default the referenced study's date and time,
   * so that the same masks on the same CT give the same file and no new date enters it; when the CT
   * has none, the moment of writing (UTC).
   */
  contentDate?: string;
  contentTime?: string;
}

type Item = Record<string, unknown>;

const code = (c: CodedConcept): Item => ({ CodeValue: c.value, CodingSchemeDesignator: c.scheme, CodeMeaning: c.meaning });

/**
 * sRGB (0-255) to DICOM's RecommendedDisplayCIELabValue: CIE L*a*b* (D65 white, 2° observer), L*
 * scaled from 0..100 and a*, b* from -128..127 to 0..65535 as ICC profiles encode them (PS3.3
 * C.10.7.1.1), the conversion dcmqi and PixelMed use.
 */
export function srgbToDicomLab(rgb: readonly [number, number, number]): [number, number, number] {
  const lin = rgb.map((c) => {
    const x = Math.max(0, Math.min(255, c)) / 255;
    return x > 0.04045 ? ((x + 0.055) / 1.055) ** 2.4 : x / 12.92;
  });
  const X = 0.4124564 * lin[0] + 0.3575761 * lin[1] + 0.1804375 * lin[2];
  const Y = 0.2126729 * lin[0] + 0.7151522 * lin[1] + 0.072175 * lin[2];
  const Z = 0.0193339 * lin[0] + 0.119192 * lin[1] + 0.9503041 * lin[2];
  const f = (t: number): number => (t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116);
  const fx = f(X / 0.95047), fy = f(Y / 1), fz = f(Z / 1.08883);
  const L = 116 * fy - 16, a = 500 * (fx - fy), b = 200 * (fy - fz);
  const scale = (v: number, lo: number, span: number): number => Math.max(0, Math.min(65535, Math.round(((v - lo) * 65535) / span)));
  return [scale(L, 0, 100), scale(a, -128, 255), scale(b, -128, 255)];
}

function utcNow(): { date: string; time: string } {
  const iso = new Date().toISOString();
  return { date: iso.slice(0, 10).replace(/-/g, ''), time: iso.slice(11, 19).replace(/:/g, '') };
}

/**
 * Builds a binary DICOM Segmentation from masks on a CT grid.
 * @param source labelmap (nx*ny*nz, i fastest) or per-label 0/1 masks of the same size (overlaps allowed:
 *   each segment has its own frames).
 * @param ct the CT series: geometry, UIDs, one SOPInstanceUID per slice, patient/study fields.
 * @param segments the segments, in order; one with no voxels is listed without frames. When no segment
 *   has a voxel, one empty frame of the first is written (the IOD needs a frame).
 * @returns a naturalized dataset (dcmjs): SOPClassUID Segmentation Storage, Modality SEG, PixelData
 *   bit-packed (first voxel of a frame in the lowest bit, frames back to back).
 * @throws RangeError when sizes disagree, a mask is missing, segment numbers repeat or are not 1, 2, ...
 *   in order (the standard's rule), or a text is longer than its VR allows.
 */
export function buildDicomSeg(source: RtMaskSource, ct: RtCtReference, segments: readonly SegSegmentSpec[], opts: BuildSegOptions = {}): Item {
  const f = sliceFrame(ct.volume);
  const perSlice = f.nx * f.ny;
  if (ct.sopInstanceUIDs.length !== f.nz) throw new RangeError(`buildDicomSeg: ${ct.sopInstanceUIDs.length} SOP instance UIDs for ${f.nz} slices`);
  if (ct.frameNumbers && ct.frameNumbers.length !== f.nz) throw new RangeError(`buildDicomSeg: ${ct.frameNumbers.length} frame numbers for ${f.nz} slices`);
  if (segments.length === 0) throw new RangeError('buildDicomSeg: no segments to write (SegmentSequence needs at least one)');
  if (f.nx > 65535 || f.ny > 65535) throw new RangeError(`buildDicomSeg: ${f.nx}x${f.ny} slices exceed DICOM's 65535 rows or columns`);
  const texts: [string, string | undefined, number][] = [
    ['seriesDescription (LO)', opts.seriesDescription, 64], ['manufacturer (LO)', opts.manufacturer, 64],
    ['algorithmName (LO)', opts.algorithmName, 64], ['softwareVersions (LO)', opts.softwareVersions, 64],
    ['contentDescription (LO)', opts.contentDescription, 64], ['contentLabel (CS)', opts.contentLabel, 16],
    ...segments.map((s): [string, string, number] => [`segment label (LO) ${JSON.stringify(s.name)}`, s.name, 64]),
  ];
  for (const [what, value, max] of texts) {
    if (value !== undefined && value.length > max) throw new RangeError(`buildDicomSeg: ${what} has ${value.length} characters, more than the ${max} DICOM allows`);
  }
  if (opts.contentLabel !== undefined && !/^[A-Z0-9 _]+$/.test(opts.contentLabel)) {
    throw new RangeError(`buildDicomSeg: contentLabel ${JSON.stringify(opts.contentLabel)} must be upper-case letters, digits, spaces or underscores (CS)`);
  }
  // PS3.3 C.8.20.2: segment numbers start at 1 and increase by 1 in the order of SegmentSequence.
  segments.forEach((s, i) => {
    const n = s.number ?? s.label;
    if (n !== i + 1) throw new RangeError(`buildDicomSeg: segment ${JSON.stringify(s.name)} has number ${n}; DICOM needs 1, 2, ... in order (it is item ${i + 1})`);
  });

  const dataFor = labelReader(source, f.nx, f.ny, f.nz, 'buildDicomSeg');

  // The frames: (segment, slice) pairs with voxels, segment-major, slices in increasing k.
  const frames: { segment: number; k: number; data: ArrayLike<number>; match: number | 'nonzero'; box?: SliceBox }[] = [];
  segments.forEach((s, i) => {
    const { data, match, boxes } = dataFor(s.label);
    for (let k = 0; k < f.nz; k++) if (boxes[k]) frames.push({ segment: i + 1, k, data, match, box: boxes[k] });
  });
  if (frames.length === 0) frames.push({ segment: 1, k: 0, data: [], match: 'nonzero' });

  // Frames are packed back to back without padding (PS3.5 8.1.1: Bits Allocated 1).
  const bits = new Uint8Array((Math.ceil((frames.length * perSlice) / 8) + 1) & ~1); // even length
  const contentHash = createHash('sha256');
  frames.forEach((fr, index) => {
    const base = index * perSlice, offset = fr.k * perSlice;
    if (fr.box) {
      const { iMin, iMax, jMin, jMax } = fr.box;
      for (let j = jMin; j <= jMax; j++) {
        for (let i = iMin; i <= iMax; i++) {
          const value = fr.data[offset + j * f.nx + i];
          if (fr.match === 'nonzero' ? value !== 0 : value === fr.match) {
            const bit = base + j * f.nx + i;
            bits[bit >> 3] |= 1 << (bit & 7);
          }
        }
      }
    }
    contentHash.update(`${fr.segment}|${fr.k}\n`);
  });
  contentHash.update(bits);
  segments.forEach((s) => contentHash.update(`segment ${s.name} ${s.color.join(',')} ${s.type.value} ${s.typeModifier?.value ?? ''}\n`));

  const imageClass = ct.sopClassUID ?? CT_IMAGE_STORAGE;
  const position = (k: number): string[] => {
    const d = f.planes[k] - f.planes[0];
    return [0, 1, 2].map((a) => formatDS(f.origin[a] + d * f.n[a]));
  };
  const gaps = Array.from({ length: f.nz - 1 }, (_, k) => f.planes[k + 1] - f.planes[k]);
  const meanGap = gaps.length ? (f.planes[f.nz - 1] - f.planes[0]) / gaps.length : ct.volume.spacing[2];
  const uniform = gaps.every((g) => Math.abs(g - meanGap) <= 1e-3 * meanGap);
  const pixelMeasures: Item = {
    PixelSpacing: [formatDS(f.spacingJ), formatDS(f.spacingI)],
    SliceThickness: formatDS(meanGap > 0 ? meanGap : 1),
    ...(uniform && meanGap > 0 ? { SpacingBetweenSlices: formatDS(meanGap) } : {}),
  };
  const dimensionOrganization = uidFromSeed(opts.uidRoot ?? DEFAULT_UID_ROOT, 'seg-dimensions', ct.seriesInstanceUID);
  const perFrame: Item[] = frames.map((fr) => ({
    DerivationImageSequence: [
      {
        SourceImageSequence: [
          {
            ...sliceImageReference(ct, fr.k, imageClass),
            PurposeOfReferenceCodeSequence: [code({ value: '121322', scheme: 'DCM', meaning: 'Source image for image processing operation' })],
          },
        ],
        DerivationCodeSequence: [code({ value: '113076', scheme: 'DCM', meaning: 'Segmentation' })],
      },
    ],
    FrameContentSequence: [{ DimensionIndexValues: [fr.segment, fr.k + 1] }],
    PlanePositionSequence: [{ ImagePositionPatient: position(fr.k) }],
    SegmentIdentificationSequence: [{ ReferencedSegmentNumber: fr.segment }],
  }));

  const algorithm = opts.algorithmName ?? 'anatomynet-ts';
  const segmentItems: Item[] = segments.map((s, i) => ({
    SegmentNumber: i + 1,
    SegmentLabel: s.name,
    SegmentAlgorithmType: 'AUTOMATIC',
    SegmentAlgorithmName: algorithm,
    SegmentedPropertyCategoryCodeSequence: [code(s.category ?? ANATOMICAL_STRUCTURE)],
    SegmentedPropertyTypeCodeSequence: [{ ...code(s.type), ...(s.typeModifier ? { SegmentedPropertyTypeModifierCodeSequence: [code(s.typeModifier)] } : {}) }],
    RecommendedDisplayCIELabValue: srgbToDicomLab(s.color),
  }));

  const digest = contentHash.digest('hex');
  const root = opts.uidRoot ?? DEFAULT_UID_ROOT;
  const seriesInstanceUID = opts.seriesInstanceUID ?? uidFromSeed(root, 'seg-series', ct.seriesInstanceUID, digest);
  const sopInstanceUID = opts.sopInstanceUID ?? uidFromSeed(root, 'seg-instance', ct.seriesInstanceUID, digest);
  const stamp = ct.studyDate ? { date: ct.studyDate, time: ct.studyTime || '000000' } : utcNow();
  const contentDate = opts.contentDate ?? stamp.date;
  const contentTime = opts.contentTime ?? stamp.time;
  const manufacturer = opts.manufacturer ?? 'anatomynet-ts';
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    ImageType: ['DERIVED', 'PRIMARY'],
    SOPClassUID: SEGMENTATION_STORAGE,
    SOPInstanceUID: sopInstanceUID,
    StudyDate: ct.studyDate ?? '',
    ContentDate: contentDate,
    StudyTime: ct.studyTime ?? '',
    ContentTime: contentTime,
    AccessionNumber: ct.accessionNumber ?? '',
    Modality: 'SEG',
    Manufacturer: manufacturer,
    ReferringPhysicianName: ct.referringPhysicianName ?? '',
    SeriesDescription: opts.seriesDescription ?? 'Automatic OAR segmentation',
    ManufacturerModelName: algorithm,
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: ct.seriesInstanceUID,
        ReferencedInstanceSequence: [...new Set(frames.map((fr) => ct.sopInstanceUIDs[fr.k]))].map((uid) => ({ ReferencedSOPClassUID: imageClass, ReferencedSOPInstanceUID: uid })),
      },
    ],
    PatientName: ct.patientName ?? '',
    PatientID: ct.patientId ?? '',
    PatientBirthDate: ct.patientBirthDate ?? '',
    PatientSex: ct.patientSex ?? '',
    DeviceSerialNumber: '1',
    SoftwareVersions: opts.softwareVersions ?? 'unspecified',
    StudyInstanceUID: ct.studyInstanceUID,
    SeriesInstanceUID: seriesInstanceUID,
    StudyID: ct.studyId ?? '',
    SeriesNumber: opts.seriesNumber ?? 1,
    InstanceNumber: opts.instanceNumber ?? 1,
    FrameOfReferenceUID: ct.frameOfReferenceUID,
    PositionReferenceIndicator: '',
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganization }],
    DimensionOrganizationType: '3D',
    DimensionIndexSequence: [
      // (0062,000B) Referenced Segment Number in (0062,000A) Segment Identification Sequence
      { DimensionOrganizationUID: dimensionOrganization, DimensionIndexPointer: 0x0062000b, FunctionalGroupPointer: 0x0062000a, DimensionDescriptionLabel: 'Segment' },
      // (0020,0032) Image Position (Patient) in (0020,9113) Plane Position Sequence
      { DimensionOrganizationUID: dimensionOrganization, DimensionIndexPointer: 0x00200032, FunctionalGroupPointer: 0x00209113, DimensionDescriptionLabel: 'Position' },
    ],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    NumberOfFrames: frames.length,
    Rows: f.ny,
    Columns: f.nx,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    ContentLabel: opts.contentLabel ?? 'SEGMENTATION',
    ContentDescription: opts.contentDescription ?? '',
    ContentCreatorName: '',
    SegmentationType: 'BINARY',
    SegmentSequence: segmentItems,
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: [...f.u, ...f.v].map((x) => formatDS(x)) }],
        PixelMeasuresSequence: [pixelMeasures],
      },
    ],
    PerFrameFunctionalGroupsSequence: perFrame,
    PixelData: bits.buffer,
    _vrMap: { PixelData: 'OB' },
  };
}

/**
 * Builds a DICOM Segmentation (see buildDicomSeg) and writes it to `path` atomically, explicit VR
 * little endian.
 * @returns the dataset written.
 * @throws VolumeIOError when the file cannot be written; RangeError as buildDicomSeg.
 */
export function writeDicomSeg(path: string, source: RtMaskSource, ct: RtCtReference, segments: readonly SegSegmentSpec[], opts: BuildSegOptions = {}): Item {
  const dataset = buildDicomSeg(source, ct, segments, opts);
  writeDicomFile(path, dataset);
  return dataset;
}
