/**
 * Seeded mutation tests of every reader (ROBUSTNESS.md: out-of-bounds reads, huge declared lengths, loops
 * that stop advancing, gzip damage): valid files with bytes flipped, length-sized words overwritten with
 * extremes, cut short or with a slice repeated. Each damaged file must either read into a consistent
 * volume or fail with a VolumeIOError naming it, never a RangeError, TypeError or a hang.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readCtSeries, writeCtSeries } from './ct-series';
import { parseDicomBuffer, uidFromSeed } from './dicom';
import { VolumeIOError } from './errors';
import { gzipDeterministic } from './fileio';
import { encodeNifti, parseNifti } from './nifti';
import { parseNrrd, writeNrrd } from './nrrd';
import { htj2kSlice, patternVolume, tempDir } from './test-helpers';
import { surveyMutations } from './testing/mutate';
import type { Volume } from './volume';

const here = dirname(fileURLToPath(import.meta.url));
const tmp = tempDir('mutation');
afterAll(tmp.cleanup);

/** Each damaged copy reads into a consistent volume or is refused with a VolumeIOError naming `file`. */
const survey = (file: string, bytes: Uint8Array, seed: number, count: number, read: (damaged: Uint8Array) => Volume) =>
  surveyMutations(
    bytes, seed, count, read,
    (e) => e instanceof VolumeIOError && e.message.startsWith(`${file}: `),
    (v) => (v.data.length === v.shape[0] * v.shape[1] * v.shape[2] ? undefined : `${v.data.length} voxels for shape ${v.shape.join('x')}`),
  );

const volume = () => {
  const v = patternVolume(new Int16Array(9 * 7 * 5), [9, 7, 5], { spacing: [0.8, 0.9, 2.5], origin: [-3, 4, -20] });
  v.data[0] = -1024;
  return v;
};

describe('damaged files read or are refused with a typed error naming them', () => {
  it.each([
    ['NIfTI', false],
    ['NIfTI (gzip)', true],
  ])('%s', (_name, gzip) => {
    const file = gzip ? 'damaged.nii.gz' : 'damaged.nii';
    const bytes = encodeNifti(volume());
    const r = survey(file, gzip ? gzipDeterministic(bytes) : bytes, 11, 400, (b) => parseNifti(file, b));
    expect(r.bad).toEqual([]);
    expect(r.refused).toBeGreaterThan(0);
    expect(r.read).toBeGreaterThan(0);
  });

  it.each([
    ['NRRD (raw)', 'raw'],
    ['NRRD (gzip)', 'gzip'],
  ] as const)('%s', (_name, encoding) => {
    const file = join(tmp.dir, `valid-${encoding}.nrrd`);
    writeNrrd(file, volume(), { encoding });
    const r = survey(file, readFileSync(file), 12, 400, (b) => parseNrrd(file, b).volume);
    expect(r.bad).toEqual([]);
    expect(r.refused).toBeGreaterThan(0);
    expect(r.read).toBeGreaterThan(0);
  });

  it('DICOM CT slice (parse, then a series of three with the damaged one in it)', () => {
    const uid = (s: string) => uidFromSeed('1.2.826.0.1.3680043.10.1234', s);
    const dir = join(tmp.dir, 'ct');
    const { files } = writeCtSeries(volume(), {
      dir, seriesInstanceUID: uid('s'), studyInstanceUID: uid('t'), frameOfReferenceUID: uid('f'), patientId: 'A', patientName: 'A^B', patientIdentityRemoved: true,
    });
    const series = files.slice(0, 3);
    const valid = readFileSync(series[1]);
    const r = survey(series[1], valid, 13, 300, (b) => {
      parseDicomBuffer(series[1], b);
      writeFileSync(series[1], b);
      return readCtSeries(series).volume;
    });
    writeFileSync(series[1], valid);
    expect(r.bad).toEqual([]);
    expect(r.refused).toBeGreaterThan(0);
    expect(r.read).toBeGreaterThan(0);
  });

  // an Enhanced CT's functional groups and frames (pydicom's, native and in JPEG-LS by GDCM)
  it.each([
    ['native', [], 25],
    ['JPEG-LS Lossless (GDCM)', ['--jpegls'], 26],
  ] as const)('Enhanced CT image, %s', (name, args, seed) => {
    const uid = (s: string) => uidFromSeed('1.2.826.0.1.3680043.10.1234', 'mutation-enhanced', s);
    const dir = join(tmp.dir, `enhanced-${seed}`);
    const v = patternVolume(new Int16Array(16 * 12 * 5), [16, 12, 5], { spacing: [0.8, 0.9, 2.5], origin: [-3, 4, -20] });
    writeCtSeries(v, { dir, seriesInstanceUID: uid('s'), studyInstanceUID: uid('t'), frameOfReferenceUID: uid('f'), patientId: 'A', patientName: 'A^B' });
    const file = join(tmp.dir, `enhanced-${seed}.dcm`);
    const made = spawnSync('/usr/bin/python3', [join(here, 'testing', 'make_enhanced_ct.py'), dir, file, 'shuffle', 'rescale'], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    if (args.length) {
      const coded = spawnSync('gdcmconv', [...args, file, file], { encoding: 'utf8' });
      expect(coded.status, coded.stderr).toBe(0);
    }
    expect(readCtSeries([file]).volume.data, name).toEqual(v.data);
    const r = survey(file, readFileSync(file), seed, 300, (b) => {
      writeFileSync(file, b);
      return readCtSeries([file]).volume;
    });
    expect(r.bad).toEqual([]);
    expect(r.refused).toBeGreaterThan(0);
    expect(r.read).toBeGreaterThan(0);
  });

  // the compressed slices' decoders (ours for RLE; jpeg-lossless-decoder-js, CharLS and OpenJPEG in wasm)
  // on damaged frames; 64 x 48 pixels, as OpenJPEG's encoder needs more than a few
  it.each([
    ['RLE Lossless (dcmtk)', 'dcmcrle', [], 21],
    ['JPEG Lossless (dcmtk)', 'dcmcjpeg', ['+e1'], 22],
    ['JPEG-LS Lossless (dcmtk)', 'dcmcjpls', [], 23],
    ['JPEG 2000 lossless (GDCM)', 'gdcmconv', ['--j2k'], 24],
    ['HTJ2K lossless (OpenJPH)', 'htj2k', [], 27],
    ['Explicit VR Big Endian (dcmtk)', 'dcmconv', ['+tb'], 28],
  ] as const)('DICOM CT slice in %s', (_name, cmd, args, seed) => {
    const uid = (s: string) => uidFromSeed('1.2.826.0.1.3680043.10.1234', s);
    const dir = join(tmp.dir, `ct-${cmd}`);
    const v = patternVolume(new Int16Array(64 * 48 * 3), [64, 48, 3], { spacing: [0.8, 0.9, 2.5], origin: [-3, 4, -20] });
    const { files } = writeCtSeries(v, { dir, seriesInstanceUID: uid('s'), studyInstanceUID: uid('t'), frameOfReferenceUID: uid('f'), patientId: 'A', patientName: 'A^B' });
    const compressed = join(dir, 'compressed.dcm');
    if (cmd === 'htj2k') htj2kSlice(files[1], compressed, '1.2.840.10008.1.2.4.201');
    else {
      const made = spawnSync(cmd, [...args, files[1], compressed], { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
    }
    const series = [files[0], compressed, files[2]];
    const valid = readFileSync(compressed);
    expect(readCtSeries(series).volume.data).toEqual(v.data);
    // a damaged position may make a neighbour the slice that does not fit: refused naming a file of the series
    const r = surveyMutations(
      valid, seed, 200,
      (b) => {
        parseDicomBuffer(compressed, b);
        writeFileSync(compressed, b);
        return readCtSeries(series).volume;
      },
      (e) => e instanceof VolumeIOError && series.some((f) => e.message.startsWith(`${f}: `)),
      (w) => (w.data.length === 64 * 48 * 3 ? undefined : `${w.data.length} voxels`),
    );
    writeFileSync(compressed, valid);
    expect(r.bad).toEqual([]);
    expect(r.refused).toBeGreaterThan(0);
    expect(r.read).toBeGreaterThan(0);
    // the decoders still work after all that
    expect(readCtSeries(series).volume.data).toEqual(v.data);
  });
});
