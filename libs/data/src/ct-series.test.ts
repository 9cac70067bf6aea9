import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCtSeries, writeCtSeries } from './ct-series';
import { readDicomFile, scanDicomTree, uidFromSeed, writeDicomFile } from './dicom';
import { readNrrd } from './nrrd';
import { errorOf, expectClose, htj2kSlice, patternVolume, python, rotation, run, tempDir } from './test-helpers';
import { indexToPoint, type Vec3, type Volume } from './volume';

const tmp = tempDir('ct');
afterAll(tmp.cleanup);

const uid = (s: string) => uidFromSeed('1.2.826.0.1.3680043.10.1234', s);
const series = { seriesInstanceUID: uid('series'), studyInstanceUID: uid('study'), frameOfReferenceUID: uid('for'), patientId: 'ANON01', patientName: 'Anon^One' };

/** Fisher-Yates with a fixed LCG so the shuffle is deterministic. */
function shuffled<T>(a: T[], seed = 7): T[] {
  const out = [...a];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function ctVolume(shape: Vec3, geometry: Partial<Pick<Volume, 'spacing' | 'origin' | 'direction'>>): Volume<Int16Array> {
  const v = patternVolume(new Int16Array(shape[0] * shape[1] * shape[2]), shape, geometry);
  v.data[0] = -1024;
  v.data[1] = 3071;
  return v;
}

const oblique = { spacing: [0.75, 0.9, 2.5] as Vec3, origin: [-101.25, 40.5, -300.125] as Vec3, direction: rotation([0.2, 1, 0.1], 17) };

describe('CT series round trip', () => {
  const v = ctVolume([12, 10, 7], oblique);
  const dir = join(tmp.dir, 'rt');
  const written = writeCtSeries(v, { dir, ...series, patientIdentityRemoved: true, patientPosition: 'FFS', seriesDescription: 'synthetic' });

  it('writes one file per slice with deterministic, valid UIDs', () => {
    expect(written.files).toHaveLength(7);
    expect(readdirSync(dir)).toEqual(['CT0001.dcm', 'CT0002.dcm', 'CT0003.dcm', 'CT0004.dcm', 'CT0005.dcm', 'CT0006.dcm', 'CT0007.dcm']);
    for (const u of written.sopInstanceUIDs) expect(u).toMatch(/^[0-9.]{1,64}$/);
    expect(new Set(written.sopInstanceUIDs).size).toBe(7);
    const again = writeCtSeries(v, { dir: join(tmp.dir, 'rt-again'), ...series });
    expect(again.sopInstanceUIDs).toEqual(written.sopInstanceUIDs);
    expect(Buffer.compare(readFileSync(again.files[3]), readFileSync(join(tmp.dir, 'rt-again', 'CT0004.dcm')))).toBe(0);
  });
  it('reads back bit-exact with geometry, whatever the file order', () => {
    const calls: number[] = [];
    const s = readCtSeries(shuffled(written.files), { onProgress: (done, total) => calls.push(done, total) });
    expect(calls).toEqual([0, 7, 1, 7, 2, 7, 3, 7, 4, 7, 5, 7, 6, 7]);
    expect(s.volume.data).toEqual(v.data);
    expect(s.volume.shape).toEqual(v.shape);
    expectClose(s.volume.spacing, v.spacing, 1e-9);
    expectClose(s.volume.origin, v.origin, 1e-9);
    expectClose(s.volume.direction, v.direction, 1e-12);
    expect(s.volume.sliceSpacingUniform).toBe(true);
    expect(s.volume.slicePositionsMm).toHaveLength(7);
    expectClose(s.volume.slicePositionsMm!.map((p) => p - s.volume.slicePositionsMm![0]), [0, 2.5, 5, 7.5, 10, 12.5, 15], 1e-9);
    expect(s.sopInstanceUIDs).toEqual(written.sopInstanceUIDs);
    expect(s.files).toEqual(written.files);
    expect(s.patientPosition).toBe('FFS');
    expect(s.patientIdentityRemoved).toBe(true);
    expect(s.seriesInstanceUID).toBe(series.seriesInstanceUID);
    expect(s.frameOfReferenceUID).toBe(series.frameOfReferenceUID);
    expect(s.warnings).toEqual([]);
  });
  it('pydicom reads our files: HU and positions match', () => {
    const out = JSON.parse(
      python(
        `import sys, json, pydicom, numpy as np
res = []
for p in sys.argv[1:]:
    d = pydicom.dcmread(p)
    assert d.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    hu = d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept)
    assert all(len(str(x)) <= 16 for x in list(d.ImagePositionPatient) + list(d.ImageOrientationPatient) + list(d.PixelSpacing))
    res.append({"ipp": [float(x) for x in d.ImagePositionPatient], "iop": [float(x) for x in d.ImageOrientationPatient], "ps": [float(x) for x in d.PixelSpacing], "hu": hu.flatten().tolist(), "sop": d.SOPInstanceUID, "cls": d.SOPClassUID})
print(json.dumps(res))`,
        written.files,
      ),
    );
    const n = 12 * 10;
    out.forEach((f: { ipp: number[]; iop: number[]; ps: number[]; hu: number[]; sop: string; cls: string }, k: number) => {
      expect(f.cls).toBe('1.2.840.10008.5.1.4.1.1.2');
      expect(f.sop).toBe(written.sopInstanceUIDs[k]);
      expect(f.hu).toEqual(Array.from(v.data.subarray(k * n, (k + 1) * n)));
      expectClose(f.ipp, indexToPoint(v, [0, 0, k]), 1e-9);
      expectClose(f.iop, [v.direction[0], v.direction[3], v.direction[6], v.direction[1], v.direction[4], v.direction[7]], 1e-12);
      expectClose(f.ps, [v.spacing[1], v.spacing[0]], 1e-12);
    });
  });
  it('dciodvfy finds no error in our CT image', () => {
    for (const f of [written.files[0], written.files[6]]) {
      const r = run('dciodvfy', [f]);
      expect(r.out).toContain('CTImage');
      expect(r.out.split('\n').filter((l) => l.startsWith('Error'))).toEqual([]);
    }
  });
  it('plastimatch converts our series to NRRD with the same voxels and geometry', () => {
    const out = join(tmp.dir, 'plm.nrrd');
    const r = run('plastimatch', ['convert', '--input', dir, '--output-img', out]);
    expect(r.status, r.out).toBe(0);
    const p = readNrrd(out).volume;
    expect(p.shape).toEqual(v.shape);
    expect(Array.from(p.data)).toEqual(Array.from(v.data));
    expectClose(p.origin, v.origin, 1e-3);
    expectClose(p.spacing, v.spacing, 1e-4);
    expectClose(p.direction, v.direction, 1e-4);
  });
});

describe('CT series written by pydicom', () => {
  const dir = join(tmp.dir, 'pyd');
  beforeAll(() => {
  mkdirSync(join(dir, 'a', 'b'), { recursive: true });
  // 6 slices, uint16 stored with BitsStored 12, intercept -1024, oblique, 3 mm apart, file names and
  // InstanceNumbers shuffled against position, half the files implicit VR; plus an RTSTRUCT and junk.
  python(
    `import sys, os, numpy as np, pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
out = sys.argv[1]
row = np.array([0.9848077530, 0.1736481777, 0.0]); col = np.array([-0.1736481777, 0.9848077530, 0.0]); n = np.cross(row, col)
order = [3, 0, 5, 1, 4, 2]
series, study, frame = "1.2.3.4.5.6.1", "1.2.3.4.5.6.2", "1.2.3.4.5.6.3"
for idx, k in enumerate(order):
    meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"; meta.MediaStorageSOPInstanceUID = "1.2.3.4.5.6.10.%d" % k
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if k % 2 else ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID; ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"; ds.SeriesInstanceUID = series; ds.StudyInstanceUID = study; ds.FrameOfReferenceUID = frame
    ds.PatientName = "Py^Dicom"; ds.PatientID = "PY1"; ds.PatientPosition = "HFS"
    ds.InstanceNumber = 100 - 7 * idx
    ds.ImageOrientationPatient = [float(x) for x in list(row) + list(col)]
    ds.ImagePositionPatient = [float(x) for x in np.array([-50.0, -60.0, 10.0]) + 3.0 * k * n]
    ds.PixelSpacing = [0.8, 0.6]; ds.SliceThickness = 3
    ds.Rows, ds.Columns = 4, 5
    ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16; ds.BitsStored = 12; ds.HighBit = 11; ds.PixelRepresentation = 0
    ds.RescaleSlope = 1; ds.RescaleIntercept = -1024
    px = ((np.arange(20).reshape(4, 5) * 37 + 200 * k) % 4096).astype(np.uint16)
    ds.PixelData = px.tobytes()
    name = os.path.join(out, "a" if k < 3 else "a/b", "IMG_%02d" % (17 * idx % 10))
    ds.is_little_endian = True; ds.is_implicit_VR = bool(k % 2)
    ds.save_as(name, write_like_original=False)
rs = Dataset(); m = FileMetaDataset(); m.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"; m.MediaStorageSOPInstanceUID = "1.2.3.4.5.6.99"; m.TransferSyntaxUID = ExplicitVRLittleEndian
rs.file_meta = m; rs.SOPClassUID = m.MediaStorageSOPClassUID; rs.SOPInstanceUID = m.MediaStorageSOPInstanceUID; rs.Modality = "RTSTRUCT"; rs.StructureSetLabel = "S"
rs.is_little_endian = True; rs.is_implicit_VR = False
rs.save_as(os.path.join(out, "rs.dcm"), write_like_original=False)
sg = Dataset(); m = FileMetaDataset(); m.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"; m.MediaStorageSOPInstanceUID = "1.2.3.4.5.6.98"; m.TransferSyntaxUID = ExplicitVRLittleEndian
sg.file_meta = m; sg.SOPClassUID = m.MediaStorageSOPClassUID; sg.SOPInstanceUID = m.MediaStorageSOPInstanceUID; sg.Modality = "SEG"; sg.SegmentationType = "BINARY"
sg.is_little_endian = True; sg.is_implicit_VR = False
sg.save_as(os.path.join(out, "a", "seg.dcm"), write_like_original=False)
open(os.path.join(out, "README.txt"), "w").write("not dicom")`,
    [dir],
  );
  });

  it('scanDicomTree finds the series at any depth, the RTSTRUCT, the SEG, and reports the junk file', () => {
    const scan = scanDicomTree(dir);
    expect(scan.ctSeries).toHaveLength(1);
    const s = scan.ctSeries[0];
    expect(s.seriesInstanceUID).toBe('1.2.3.4.5.6.1');
    expect(s.frameOfReferenceUID).toBe('1.2.3.4.5.6.3');
    expect(s.files).toHaveLength(6);
    expect([...s.files].sort()).toEqual(s.files);
    expect(scan.rtStructs.map((r) => r.path)).toEqual([join(dir, 'rs.dcm')]);
    expect(scan.segmentations.map((r) => r.path)).toEqual([join(dir, 'a', 'seg.dcm')]);
    expect(scan.other).toEqual([]);
    expect(scan.failures).toEqual([{ path: join(dir, 'README.txt'), code: 'NOT_DICOM', reason: expect.stringContaining('DICM') }]);
  });
  it('readCtSeries sorts by position along the normal and applies the rescale', () => {
    const s = readCtSeries(scanDicomTree(dir).ctSeries[0].files);
    expect(s.volume.shape).toEqual([5, 4, 6]);
    expect(s.volume.spacing.map((x) => +x.toFixed(9))).toEqual([0.6, 0.8, 3]);
    expect(s.sopInstanceUIDs).toEqual([0, 1, 2, 3, 4, 5].map((k) => `1.2.3.4.5.6.10.${k}`));
    for (let k = 0; k < 6; k++) {
      for (let i = 0; i < 20; i++) expect(s.volume.data[k * 20 + i]).toBe(((i * 37 + 200 * k) % 4096) - 1024);
    }
    expectClose(s.volume.origin, [-50, -60, 10], 1e-9);
    expectClose(s.volume.direction, [0.984807753, -0.1736481777, 0, 0.1736481777, 0.984807753, 0, 0, 0, 1], 1e-9);
    expect(s.volume.sliceSpacingUniform).toBe(true);
    expect(s.patientPosition).toBe('HFS');
    expect(s.patientIdentityRemoved).toBeUndefined();
  });
});

describe('CT series bad input', () => {
  const v = ctVolume([6, 5, 5], { spacing: [1, 1, 2], origin: [0, 0, 0] });
  const base = join(tmp.dir, 'bad-base');
  const good = writeCtSeries(v, { dir: base, ...series });
  // OpenJPEG (GDCM's encoder) needs more than 6x5 pixels for its wavelet levels
  const large = ctVolume([64, 48, 3], { spacing: [1, 1, 2], origin: [0, 0, 0] });
  const goodLarge = writeCtSeries(large, { dir: join(tmp.dir, 'bad-base-large'), ...series });
  let n = 0;
  /** A fresh copy of the good series (or the large one); `edit` may change it. */
  function copySeries(of = good): string[] {
    const d = join(tmp.dir, `bad-${n++}`);
    mkdirSync(d, { recursive: true });
    return of.files.map((f, k) => {
      const p = join(d, `s${k}.dcm`);
      copyFileSync(f, p);
      return p;
    });
  }
  /** Rewrites a transfer syntax UID in the file meta with another of the same length. */
  function relabel(path: string, from: string, to: string): void {
    const b = readFileSync(path);
    const at = b.indexOf(from);
    expect(at).toBeGreaterThan(0);
    b.write(to, at, 'latin1');
    writeFileSync(path, b);
  }
  function edit(path: string, change: (ds: Record<string, any>) => void): void {
    const f = readDicomFile(path);
    change(f.dataset);
    writeDicomFile(path, f.dataset, f.transferSyntaxUID);
  }

  it('readDicomFile/writeDicomFile round-trip a dataset unchanged', () => {
    const [p] = copySeries();
    edit(p, () => undefined);
    expect(readCtSeries([p]).volume.data).toEqual(v.data.subarray(0, 30));
  });
  it('no preamble: NOT_DICOM', () => {
    const [p] = copySeries();
    writeFileSync(p, readFileSync(p).subarray(132));
    const e = errorOf(() => readDicomFile(p));
    expect(e.code).toBe('NOT_DICOM');
    expect(e.file).toBe(p);
  });
  it('truncated file: TRUNCATED from the file, or from the pixel data', () => {
    const files = copySeries();
    writeFileSync(files[0], readFileSync(files[0]).subarray(0, 300));
    expect(errorOf(() => readDicomFile(files[0])).code).toBe('TRUNCATED');
    const buf = readFileSync(files[1]);
    writeFileSync(files[1], buf.subarray(0, buf.length - 10));
    const e = errorOf(() => readCtSeries(files.slice(1)));
    expect(e.code).toBe('TRUNCATED');
    expect(e.file).toBe(files[1]);
  });
  it('pixel data shorter than rows x columns: TRUNCATED', () => {
    const files = copySeries();
    edit(files[2], (ds) => {
      ds.PixelData = new ArrayBuffer(20);
    });
    const e = errorOf(() => readCtSeries(files));
    expect(e.code).toBe('TRUNCATED');
    expect(e.reason).toContain('60');
  });
  it('RLE Lossless and JPEG Lossless files (encoded by dcmtk) decode to the same HU', () => {
    const files = copySeries();
    const rle = join(tmp.dir, 'rle.dcm');
    const jpg = join(tmp.dir, 'jpeg.dcm');
    for (const [cmd, args] of [['dcmcrle', [files[0], rle]], ['dcmcjpeg', ['+e1', files[1], jpg]]] as const) {
      const r = run(cmd, [...args]);
      expect(r.status, r.out).toBe(0);
    }
    expect(readDicomFile(rle).transferSyntaxUID).toBe('1.2.840.10008.1.2.5');
    expect(readDicomFile(jpg).transferSyntaxUID).toBe('1.2.840.10008.1.2.4.70');
    const s = readCtSeries([rle, jpg, ...files.slice(2)]);
    expect(s.volume.data).toEqual(v.data);
  });
  it('JPEG-LS Lossless (dcmtk) and JPEG 2000 lossless (GDCM) files decode to the same HU', () => {
    const files = copySeries(goodLarge);
    const ls = join(tmp.dir, 'jpegls.dcm'), j2k = join(tmp.dir, 'j2k.dcm');
    for (const [cmd, args] of [['dcmcjpls', [files[0], ls]], ['gdcmconv', ['--j2k', files[1], j2k]]] as const) {
      const r = run(cmd, [...args]);
      expect(r.status, r.out).toBe(0);
    }
    expect(readDicomFile(ls).transferSyntaxUID).toBe('1.2.840.10008.1.2.4.80');
    expect(readDicomFile(j2k).transferSyntaxUID).toBe('1.2.840.10008.1.2.4.90');
    expect(readCtSeries([ls, j2k, ...files.slice(2)]).volume.data).toEqual(large.data);
    // a reversible codestream under the transfer syntax that allows lossy JPEG 2000 is lossless too
    relabel(j2k, '1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.91');
    expect(readCtSeries([files[0], j2k, ...files.slice(2)]).volume.data).toEqual(large.data);
  });
  /** The large series' slices compressed lossy by GDCM: near-lossless JPEG-LS (NEAR 3), truncated and irreversible JPEG 2000. */
  function lossyCopies(tag: string): { files: string[]; ls: string; j2k: string; j97: string } {
    const files = copySeries(goodLarge);
    const [ls, j2k, j97] = ['near', 'j2k', 'j97'].map((what) => join(tmp.dir, `${tag}-${what}.dcm`));
    expect(run('gdcmconv', ['--jpegls', '--lossy', '-e', '3', files[0], ls]).status).toBe(0);
    expect(run('gdcmconv', ['--j2k', '--lossy', '-q', '20', files[1], j2k]).status).toBe(0);
    expect(run('gdcmconv', ['--j2k', '--lossy', '--irreversible', '-q', '40', files[2], j97]).status).toBe(0);
    return { files, ls, j2k, j97 };
  }
  it('lossy JPEG-LS and JPEG 2000 (GDCM) are refused: their CT numbers are not the scan\'s', () => {
    const { ls, j2k, j97 } = lossyCopies('refused');
    // near-lossless JPEG-LS has its own transfer syntax, which is not read; relabelled lossless, its NEAR tells
    expect(errorOf(() => readCtSeries([ls])).reason).toMatch(/1\.2\.840\.10008\.1\.2\.4\.81 \(JPEG-LS Near-Lossless\) is lossy/);
    relabel(ls, '1.2.840.10008.1.2.4.81', '1.2.840.10008.1.2.4.80');
    const nearLossless = errorOf(() => readCtSeries([ls]));
    expect(nearLossless.code).toBe('UNSUPPORTED_ENCODING');
    expect(nearLossless.file).toBe(ls);
    expect(nearLossless.reason).toMatch(/JPEG-LS frame is near-lossless \(NEAR 3\).*export it lossless/);
    // GDCM's lossy JPEG 2000 keeps the reversible wavelet and truncates it: the image's flag says so
    expect(readDicomFile(j2k).transferSyntaxUID).toBe('1.2.840.10008.1.2.4.91');
    const truncated = errorOf(() => readCtSeries([j2k]));
    expect(truncated.code).toBe('UNSUPPORTED_ENCODING');
    expect(truncated.reason).toMatch(/JPEG 2000 image compressed lossy \(LossyImageCompression 01\)/);
    // the 9/7 wavelet is lossy whatever the flags say
    edit(j97, (ds) => delete ds.LossyImageCompression);
    const irreversible = errorOf(() => readCtSeries([j97]));
    expect(irreversible.code).toBe('UNSUPPORTED_ENCODING');
    expect(irreversible.reason).toMatch(/JPEG 2000 frame is irreversible \(lossy\)/);
  });
  it('lossy JPEG-LS and JPEG 2000 are read when accepted, with a warning: within NEAR, and as GDCM decodes them', () => {
    const { files, ls, j2k, j97 } = lossyCopies('accepted');
    edit(j97, (ds) => delete ds.LossyImageCompression);
    expect(readDicomFile(ls, { pixelData: false }).transferSyntaxUID).toBe('1.2.840.10008.1.2.4.81');
    expect(errorOf(() => readCtSeries([ls, j2k, j97])).reason).toMatch(/JPEG-LS Near-Lossless\) is lossy: .*or accept lossy images \(--accept-lossy\)$/);
    const s = readCtSeries([ls, j2k, j97], { acceptLossy: true });
    expect(s.warnings).toEqual([
      "3 slices compressed lossy, read as accepted (JPEG-LS NEAR 3: 1; JPEG 2000 with LossyImageCompression 01: 1; JPEG 2000 irreversible wavelet: 1): their CT numbers differ from the scan's",
    ]);
    const n = 64 * 48;
    // JPEG-LS near-lossless keeps every value within NEAR of the original's
    const near = s.volume.data.subarray(0, n).map((v, p) => Math.abs(v - large.data[p]));
    expect(Math.max(...near)).toBe(3);
    // the JPEG 2000 slices as GDCM decodes them (its --raw output says it was compressed lossy: a warning too)
    const raw = [j2k, j97].map((f, k) => {
      const to = join(tmp.dir, `accept-raw-${k}.dcm`);
      expect(run('gdcmconv', ['--raw', f, to]).status).toBe(0);
      return to;
    });
    const byGdcm = readCtSeries([files[0], ...raw]);
    expect(byGdcm.warnings).toEqual(["2 slices say they were compressed lossy before (LossyImageCompression 01): their CT numbers may differ from the scan's"]);
    for (const k of [1, 2]) {
      const ours = s.volume.data.subarray(k * n, (k + 1) * n), theirs = byGdcm.volume.data.subarray(k * n, (k + 1) * n);
      expect(Math.max(...ours.map((v, p) => Math.abs(v - theirs[p]))), `slice ${k}`).toBeLessThanOrEqual(1);
      expect(ours.some((v, p) => v !== large.data[k * n + p]), `slice ${k} is lossy`).toBe(true);
    }
  });
  it('Explicit VR Big Endian (retired; dcmtk) files read to the same HU', () => {
    const files = copySeries(goodLarge);
    const be = files.map((f, k) => {
      const to = join(tmp.dir, `be-${k}.dcm`);
      const r = run('dcmconv', ['+tb', f, to]);
      expect(r.status, r.out).toBe(0);
      return to;
    });
    expect(readDicomFile(be[0], { pixelData: false }).transferSyntaxUID).toBe('1.2.840.10008.1.2.2');
    expect(readCtSeries([be[0], files[1], be[2]]).volume.data).toEqual(large.data);
  });
  it('HTJ2K (OpenJPH) files, lossless, RPCL and general, decode to the same HU; lossy ones are refused', () => {
    const files = copySeries(goodLarge);
    const coded = [
      htj2kSlice(files[0], join(tmp.dir, 'htj2k.dcm'), '1.2.840.10008.1.2.4.201'),
      htj2kSlice(files[1], join(tmp.dir, 'htj2k-rpcl.dcm'), '1.2.840.10008.1.2.4.202', ['-reversible', 'true', '-prog_order', 'RPCL']),
      htj2kSlice(files[2], join(tmp.dir, 'htj2k-general.dcm'), '1.2.840.10008.1.2.4.203'),
    ];
    expect(coded.map((p) => readDicomFile(p, { pixelData: false }).transferSyntaxUID)).toEqual(['1.2.840.10008.1.2.4.201', '1.2.840.10008.1.2.4.202', '1.2.840.10008.1.2.4.203']);
    expect(readCtSeries(coded).volume.data).toEqual(large.data);
    // the general syntax allows lossy coding: the image's flag, or the irreversible wavelet, says so
    edit(coded[2], (ds) => void (ds.LossyImageCompression = '01'));
    const flagged = errorOf(() => readCtSeries([coded[2]]));
    expect([flagged.code, flagged.reason]).toEqual(['UNSUPPORTED_ENCODING', expect.stringMatching(/^HTJ2K image compressed lossy \(LossyImageCompression 01\)/)]);
    const irreversible = htj2kSlice(files[2], join(tmp.dir, 'htj2k-irreversible.dcm'), '1.2.840.10008.1.2.4.203', ['-reversible', 'false', '-qstep', '0.001']);
    const lossy = errorOf(() => readCtSeries([irreversible]));
    expect([lossy.code, lossy.file, lossy.reason]).toEqual(['UNSUPPORTED_ENCODING', irreversible, expect.stringMatching(/HTJ2K frame is irreversible \(lossy\)/)]);
    // a frame whose SIZ disagrees with Rows and Columns is refused before decoding
    edit(coded[0], (ds) => { ds.Rows = 4000; ds.Columns = 4000; });
    expect(errorOf(() => readCtSeries([coded[0]])).reason).toBe('HTJ2K frame is 64x48x1, the DICOM header says 4000x4000x1');
  });
  it('damaged JPEG-LS and JPEG 2000 frames are typed errors, and the next file decodes', () => {
    const files = copySeries(goodLarge);
    for (const [cmd, args, what] of [['dcmcjpls', [], 'JPEG-LS'], ['gdcmconv', ['--j2k'], 'JPEG 2000']] as const) {
      const bad = join(tmp.dir, `damaged-${cmd}.dcm`), good = join(tmp.dir, `good-${cmd}.dcm`);
      expect(run(cmd, [...args, files[0], bad]).status).toBe(0);
      expect(run(cmd, [...args, files[0], good]).status).toBe(0);
      const f = readDicomFile(bad);
      const frame = new Uint8Array(f.dataset.PixelData[0]);
      // keep the headers (the first 40 bytes hold SOC/SIZ or SOI/SOF55), scramble the coded samples
      for (let i = 40; i < frame.length - 2; i++) frame[i] = (i * 151) & 0xff;
      f.dataset.PixelData = [frame.buffer];
      writeDicomFile(bad, f.dataset, f.transferSyntaxUID);
      const e = errorOf(() => readCtSeries([bad]));
      expect(e.file).toBe(bad);
      expect(['BAD_HEADER', 'TRUNCATED', 'SIZE_MISMATCH', 'UNSUPPORTED_DATATYPE', 'UNSUPPORTED_ENCODING']).toContain(e.code);
      expect(e.reason).toContain(what);
      expect(readCtSeries([good, ...files.slice(1)]).volume.data, `${what} after a damaged frame`).toEqual(large.data);
    }
  });
  it('a frame whose JPEG-LS or JPEG 2000 header disagrees with the DICOM header is refused before decoding', () => {
    const files = copySeries(goodLarge);
    for (const [cmd, args, what] of [['dcmcjpls', [], 'JPEG-LS'], ['gdcmconv', ['--j2k'], 'JPEG 2000']] as const) {
      const path = join(tmp.dir, `size-${cmd}.dcm`);
      expect(run(cmd, [...args, files[0], path]).status).toBe(0);
      edit(path, (ds) => {
        ds.Rows = 4000;
        ds.Columns = 4000;
      });
      const e = errorOf(() => readCtSeries([path]));
      expect(e.code).toBe('SIZE_MISMATCH');
      expect(e.reason).toBe(`${what} frame is 64x48x1, the DICOM header says 4000x4000x1`);
    }
  });
  it('unsupported transfer syntax (JPEG Baseline) is named', () => {
    const files = copySeries();
    const jpg = join(tmp.dir, 'jpeg-relabelled.dcm');
    expect(run('dcmcjpeg', ['+e1', files[0], jpg]).status).toBe(0);
    // Relabel the (same-length) transfer syntax UID: the file now claims JPEG Baseline.
    relabel(jpg, '1.2.840.10008.1.2.4.70', '1.2.840.10008.1.2.4.50');
    const e = errorOf(() => readCtSeries([jpg, ...files.slice(1)]));
    expect(e.code).toBe('UNSUPPORTED_TRANSFER_SYNTAX');
    expect(e.file).toBe(jpg);
    expect(e.reason).toContain('1.2.840.10008.1.2.4.50');
    expect(e.reason).toContain('JPEG Baseline');
  });
  it('corrupt RLE data is a typed error', () => {
    const files = copySeries();
    const rle = join(tmp.dir, 'rle-bad.dcm');
    expect(run('dcmcrle', [files[0], rle]).status).toBe(0);
    const f = readDicomFile(rle);
    const frame = new Uint8Array(f.dataset.PixelData[0]);
    new DataView(frame.buffer).setUint32(8, 1_000_000, true); // segment 2 offset past the end
    f.dataset.PixelData = [frame.buffer];
    writeDicomFile(rle, f.dataset, f.transferSyntaxUID);
    expect(errorOf(() => readCtSeries([rle])).code).toBe('BAD_HEADER');
  });
  it('declared sizes are checked before allocating: huge element length, huge RLE image, deep nesting', () => {
    const files = copySeries();
    const b = readFileSync(files[0]);
    const at = b.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57])); // (7FE0,0010) OW
    b.writeUInt32LE(0x7ffffff0, at + 8);
    writeFileSync(files[0], b.subarray(0, b.length - 7));
    // dcmjs clamps the value to the bytes present (no 2 GB allocation); the pixel check names the shortfall.
    const e = errorOf(() => readCtSeries([files[0]]));
    expect(e.code).toBe('TRUNCATED');
    expect(e.reason).toContain('PixelData holds 53 bytes');

    const rle = join(tmp.dir, 'rle-huge.dcm');
    expect(run('dcmcrle', [files[1], rle]).status).toBe(0);
    edit(rle, (ds) => {
      ds.Rows = 30000;
      ds.Columns = 30000;
    });
    expect(errorOf(() => readCtSeries([rle])).code).toBe('TRUNCATED');
    edit(rle, (ds) => {
      ds.Rows = 65535;
      ds.Columns = 65535;
    });
    expect(errorOf(() => readCtSeries([rle])).code).toBe('TOO_LARGE');

    const good = readFileSync(files[2]);
    const metaEnd = 132 + 12 + good.readUInt32LE(132 + 8);
    // (0008,1140) SQ of undefined length holding one item, nested `depth` times, then all closed.
    const open = Buffer.from([0x08, 0x00, 0x40, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]);
    const close = Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
    const nested = (depth: number) => Buffer.concat([good.subarray(0, metaEnd), ...Array.from({ length: depth }, () => open), ...Array.from({ length: depth }, () => close)]);
    writeFileSync(files[2], nested(100));
    expect(readDicomFile(files[2]).dataset.ReferencedImageSequence).toHaveLength(1);
    for (const depth of [129, 300]) {
      writeFileSync(files[2], nested(depth));
      const e = errorOf(() => readDicomFile(files[2]));
      expect(e.code).toBe('BAD_HEADER');
      expect(e.reason).toMatch(/nested/);
    }
  });
  it('missing slice names the positions', () => {
    const files = copySeries();
    rmSync(files[2]);
    const e = errorOf(() => readCtSeries([files[0], files[1], files[3], files[4]]));
    expect(e.code).toBe('MISSING_SLICE');
    expect(e.reason).toContain('between slices at 2 and 6 mm');
  });
  it('mixed orientation, mixed size, not CT, mixed series, duplicate position', () => {
    let files = copySeries();
    edit(files[3], (ds) => {
      ds.ImageOrientationPatient = ['1', '0', '0', '0', '0.8', '0.6'];
    });
    expect(errorOf(() => readCtSeries(files)).code).toBe('MIXED_ORIENTATION');
    files = copySeries();
    edit(files[1], (ds) => {
      ds.Rows = 4;
      ds.PixelData = new ArrayBuffer(48);
    });
    expect(errorOf(() => readCtSeries(files)).code).toBe('MIXED_SIZE');
    files = copySeries();
    edit(files[2], (ds) => {
      ds.Modality = 'MR';
    });
    expect(errorOf(() => readCtSeries(files)).code).toBe('NOT_CT');
    files = copySeries();
    edit(files[4], (ds) => {
      ds.SeriesInstanceUID = '1.2.3';
    });
    expect(errorOf(() => readCtSeries(files)).code).toBe('MIXED_SERIES');
    files = copySeries();
    edit(files[4], (ds) => {
      ds.ImagePositionPatient = ['0', '0', '2'];
    });
    expect(errorOf(() => readCtSeries(files)).code).toBe('DUPLICATE_SLICE');
  });
  it('a file copied in the export (same image, same pixels) is read once, with a warning; a copy with other pixels is an error', () => {
    const files = copySeries();
    const copy = join(dirname(files[2]), 'copy-of-slice-3.dcm');
    copyFileSync(files[2], copy);
    const s = readCtSeries([...files, copy].sort());
    expect(s.volume.data).toEqual(v.data);
    expect(s.files).toHaveLength(files.length);
    expect(s.warnings).toEqual([expect.stringMatching(/^1 file repeating an image of the series ignored: .*\(a copy of .*\)$/)]);
    edit(copy, (ds) => {
      new Uint8Array(ds.PixelData[0])[7] ^= 1;
    });
    expect(errorOf(() => readCtSeries([...files, copy])).code).toBe('DUPLICATE_SLICE');
  });
  it('rescale beyond int16 is clamped with a warning; uneven spacing is flagged', () => {
    const files = copySeries();
    edit(files[0], (ds) => {
      ds.RescaleSlope = '20';
    });
    edit(files[4], (ds) => {
      ds.ImagePositionPatient = ['0', '0', '8.6'];
    });
    const s = readCtSeries(files);
    expect(s.volume.data[1]).toBe(32767);
    expect(s.volume.data[0]).toBe(-20480);
    expect(s.warnings.some((w) => w.includes('clamped'))).toBe(true);
    expect(s.volume.sliceSpacingUniform).toBe(false);
    expect(s.volume.spacing[2]).toBe(2);
    expectClose(s.volume.slicePositionsMm!, [0, 2, 4, 6, 8.6], 1e-12);
  });
});

describe('localizer (scout) images', () => {
  const dir = join(tmp.dir, 'scout');
  const v = ctVolume([6, 5, 4], { spacing: [1, 1, 2] });
  const axial = writeCtSeries(v, { dir: join(dir, 'axial'), ...series }).files;
  // pydicom writes a coronal projection of another size into the axial series, and a localizer-only series
  python(
    `import sys, numpy as np, pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
def scout(path, series, sop):
    meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"; meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = meta; ds.SOPClassUID = meta.MediaStorageSOPClassUID; ds.SOPInstanceUID = sop
    ds.Modality = "CT"; ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.SeriesInstanceUID = series; ds.StudyInstanceUID = sys.argv[3]; ds.FrameOfReferenceUID = sys.argv[4]; ds.PatientID = "ANON01"
    ds.ImagePositionPatient = [-100, 0, 50]; ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]; ds.PixelSpacing = [0.7, 0.7]
    ds.Rows = 8; ds.Columns = 20; ds.BitsAllocated = 16; ds.BitsStored = 16; ds.HighBit = 15; ds.PixelRepresentation = 1
    ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME2"; ds.RescaleSlope = 1; ds.RescaleIntercept = 0
    ds.PixelData = np.arange(160, dtype=np.int16).tobytes()
    ds.is_little_endian = True; ds.is_implicit_VR = False
    ds.save_as(path, write_like_original=False)
scout(sys.argv[1] + "/axial/scout.dcm", sys.argv[2], "1.2.826.0.1.3680043.10.1234.77.1")
scout(sys.argv[1] + "/topogram.dcm", "1.2.826.0.1.3680043.10.1234.77.2", "1.2.826.0.1.3680043.10.1234.77.3")`,
    [dir, series.seriesInstanceUID, series.studyInstanceUID, series.frameOfReferenceUID],
  );
  const scout = join(dir, 'axial', 'scout.dcm');

  it('scanDicomTree lists them apart from the series, saying what they are', () => {
    const scan = scanDicomTree(dir);
    expect(scan.ctSeries.map((x) => [x.seriesInstanceUID, x.files])).toEqual([[series.seriesInstanceUID, axial]]);
    expect(scan.other).toEqual([
      { path: scout, modality: 'CT', note: 'a localizer (scout) image, not a slice' },
      { path: join(dir, 'topogram.dcm'), modality: 'CT', note: 'a localizer (scout) image, not a slice' },
    ]);
  });
  it('readCtSeries leaves one among the slices out with a warning; given only localizers it says so', () => {
    const s = readCtSeries([scout, ...axial]);
    expect(s.volume.data).toEqual(v.data);
    expect(s.files).toEqual(axial);
    expect(s.warnings).toEqual(['1 localizer (scout) image left out (scout.dcm): projections, not slices']);
    const e = errorOf(() => readCtSeries([join(dir, 'topogram.dcm')]));
    expect([e.code, e.reason]).toEqual(['UNSUPPORTED_DATATYPE', 'only localizer (scout) images (1): no cross-sectional slices to read']);
  });
});

describe('header scans larger than the first read', () => {
  it('a CT header over 64 KiB and an RTSTRUCT over 64 KiB are read in full by scanDicomTree', () => {
    const dir = join(tmp.dir, 'big');
    const v = ctVolume([4, 3, 2], { spacing: [1, 1, 2] });
    const w = writeCtSeries(v, { dir, ...series });
    const ref = Array.from({ length: 800 }, (_, i) => ({ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: uid(`ref${i}`) }));
    const f = readDicomFile(w.files[0]);
    f.dataset.ReferencedImageSequence = ref;
    writeDicomFile(w.files[0], f.dataset);
    const rois = Array.from({ length: 1000 }, (_, i) => ({ ROINumber: String(i + 1), ReferencedFrameOfReferenceUID: series.frameOfReferenceUID, ROIName: `roi-${i}` }));
    writeDicomFile(join(dir, 'rs.dcm'), { SOPClassUID: '1.2.840.10008.5.1.4.1.1.481.3', SOPInstanceUID: uid('rs'), Modality: 'RTSTRUCT', StructureSetROISequence: rois });
    const scan = scanDicomTree(dir);
    expect(scan.failures).toEqual([]);
    expect(scan.ctSeries[0].files).toEqual(w.files);
    expect(scan.rtStructs[0].dataset.StructureSetROISequence).toHaveLength(1000);
    expect(scan.rtStructs[0].dataset.StructureSetROISequence[999].ROIName).toBe('roi-999');
    const head = readDicomFile(w.files[0], { pixelData: false });
    expect(head.dataset.ReferencedImageSequence).toHaveLength(800);
    expect(head.dataset.PixelData).toBeUndefined();
    expect(readCtSeries(w.files).volume.data).toEqual(v.data);
  });
});

describe('uidFromSeed', () => {
  it('is deterministic, valid, at most 64 characters', () => {
    const a = uidFromSeed('1.2.826.0.1.3680043.10.1234', 'case', 7);
    expect(a).toBe(uidFromSeed('1.2.826.0.1.3680043.10.1234', 'case', 7));
    expect(a).not.toBe(uidFromSeed('1.2.826.0.1.3680043.10.1234', 'case', 8));
    expect(a.length).toBeLessThanOrEqual(64);
    expect(a).toMatch(/^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$/);
    expect(uidFromSeed('1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.1', 'x').length).toBeLessThanOrEqual(64);
    expect(() => uidFromSeed('1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.1', 'x')).toThrow(RangeError);
    expect(() => uidFromSeed('1.02', 'x')).toThrow(RangeError);
  });
});
