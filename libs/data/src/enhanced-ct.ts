/**
 * Writes a volume as one Enhanced CT image (multi-frame, a frame per k slice), as some scanners export a
 * series: the synthetic cohort's Enhanced CT cases and the tests use it. Reading is readCtSeries'.
 */
import { ctGridToWrite, ctPixelAttributes, ctSeriesAttributes, plainFileIn, type WriteCtOptions } from './ct-series';
import { DEFAULT_UID_ROOT, isValidUid, SOP_ENHANCED_CT_IMAGE, uidFromSeed, writeDicomFile } from './dicom';
import { formatDS } from './geometry';
import type { Volume } from './volume';

export interface WriteEnhancedCtOptions extends Omit<WriteCtOptions, 'fileName' | 'sopInstanceUIDPrefix'> {
  /** Plain file name (no folders); `CT.enhanced.dcm` by default. */
  fileName?: string;
  /** The image's SOPInstanceUID; without it, uidFromSeed(DEFAULT_UID_ROOT, series UID, 'enhanced-ct'). */
  sopInstanceUID?: string;
  /** Frame number (1-based) of slice k; frames in k order by default. A permutation of 1..nz. */
  frameOfSlice?: (k: number) => number;
}

/**
 * Writes `volume` (HU) as an Enhanced CT image, explicit VR little endian, atomically: its planes in
 * functional groups (orientation, spacing and rescale shared; position per frame), signed 16-bit,
 * rescale slope 1 and intercept 0 (bit-exact round trip through readCtSeries).
 * @returns the file, its SOPInstanceUID for every slice, and slice k's frame number.
 * Throws VolumeIOError (BAD_GEOMETRY, SIZE_MISMATCH, PATH_ESCAPE, IO) and RangeError for invalid UIDs or
 * a frameOfSlice that is no permutation.
 */
export function writeEnhancedCt(volume: Volume<Int16Array>, opts: WriteEnhancedCtOptions): { files: string[]; sopInstanceUIDs: string[]; frameNumbers: number[] } {
  const grid = ctGridToWrite(volume, opts, 'writeEnhancedCt');
  const [nx, ny, nz] = volume.shape;
  const path = plainFileIn(opts.dir, opts.fileName ?? 'CT.enhanced.dcm', 'fileName');
  const sop = opts.sopInstanceUID ?? uidFromSeed(DEFAULT_UID_ROOT, opts.seriesInstanceUID, 'enhanced-ct');
  if (!isValidUid(sop)) throw new RangeError(`writeEnhancedCt: SOPInstanceUID '${sop}' is not a valid UID`);
  const frameNumbers = Array.from({ length: nz }, (_, k) => opts.frameOfSlice?.(k) ?? k + 1);
  const sliceOfFrame = new Array<number>(nz).fill(-1);
  frameNumbers.forEach((f, k) => {
    if (!(Number.isInteger(f) && f >= 1 && f <= nz) || sliceOfFrame[f - 1] >= 0) throw new RangeError(`writeEnhancedCt: frameOfSlice is not a permutation of 1..${nz} (slice ${k} -> ${f})`);
    sliceOfFrame[f - 1] = k;
  });
  const n = nx * ny;
  const pixels = new Int16Array(n * nz);
  const perFrame = sliceOfFrame.map((k, f) => {
    opts.onProgress?.(f, nz);
    pixels.set(volume.data.subarray(k * n, (k + 1) * n), f * n);
    return {
      FrameContentSequence: [{ StackID: '1', InStackPositionNumber: k + 1, DimensionIndexValues: [k + 1] }],
      PlanePositionSequence: [{ ImagePositionPatient: grid.position(k).map(formatDS) }],
    };
  });
  const uid = (what: string) => uidFromSeed(DEFAULT_UID_ROOT, sop, what);
  const frameType = ['DERIVED', 'PRIMARY', 'VOLUME', 'NONE'];
  const dataset: Record<string, unknown> = {
    ...ctSeriesAttributes(opts),
    ImageType: frameType,
    SOPClassUID: SOP_ENHANCED_CT_IMAGE,
    SOPInstanceUID: sop,
    InstanceNumber: '1',
    // Enhanced General Equipment and Enhanced CT Image: type 1 and 2 attributes a reader expects
    Manufacturer: 'anatomynet-ts',
    ManufacturerModelName: 'writeEnhancedCt',
    DeviceSerialNumber: '0',
    SoftwareVersions: '1',
    ContentDate: '19000101',
    ContentTime: '000000',
    AcquisitionNumber: '1',
    AcquisitionDateTime: '19000101000000',
    AcquisitionDuration: '0',
    ContentQualification: 'RESEARCH',
    PixelPresentation: 'MONOCHROME',
    VolumetricProperties: 'VOLUME',
    VolumeBasedCalculationTechnique: 'NONE',
    PresentationLUTShape: 'IDENTITY',
    LossyImageCompression: '00',
    BurnedInAnnotation: 'NO',
    RecognizableVisualFeatures: 'NO',
    AcquisitionContextSequence: [],
    ...ctPixelAttributes(volume),
    NumberOfFrames: nz,
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: uid('dimensions') }],
    DimensionOrganizationType: '3D',
    DimensionIndexSequence: [{ DimensionOrganizationUID: uid('dimensions'), DimensionIndexPointer: 0x00209057, FunctionalGroupPointer: 0x00209111 }],
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: grid.orientation }],
        PixelMeasuresSequence: [{ PixelSpacing: grid.pixelSpacing, SliceThickness: formatDS(volume.spacing[2]) }],
        PixelValueTransformationSequence: [{ RescaleIntercept: '0', RescaleSlope: '1', RescaleType: 'HU' }],
        CTImageFrameTypeSequence: [{ FrameType: frameType, PixelPresentation: 'MONOCHROME', VolumetricProperties: 'VOLUME', VolumeBasedCalculationTechnique: 'NONE' }],
        FrameAnatomySequence: [{ FrameLaterality: 'U', AnatomicRegionSequence: [{ CodeValue: '69536005', CodingSchemeDesignator: 'SCT', CodeMeaning: 'Head' }] }],
        IrradiationEventIdentificationSequence: [{ IrradiationEventUID: uid('irradiation') }],
      },
    ],
    PerFrameFunctionalGroupsSequence: perFrame,
    PixelData: pixels.buffer,
  };
  writeDicomFile(path, dataset);
  return { files: [path], sopInstanceUIDs: new Array<string>(nz).fill(sop), frameNumbers };
}
