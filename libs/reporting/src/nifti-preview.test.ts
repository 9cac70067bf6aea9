import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
// The report may not depend on libs/data at run time (lint scope); this test only cross-checks the preview
// reader against the data lib's writer, the project's reference NIfTI implementation.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { writeNifti, type Mat3, type Volume } from '@anatomynet/data';
import { NiftiPreviewError, parseNiftiPreview, readNiftiPreview } from './nifti-preview';

const dir = mkdtempSync(join(tmpdir(), 'report-nifti-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shape: [number, number, number] = [5, 4, 3];
const n = 60;
function vol<T extends Volume['data']>(data: T, direction: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1]): Volume {
  return { data, shape, spacing: [0.8, 0.9, 2.5], origin: [-10, 20, 30], direction };
}

describe('readNiftiPreview against libs/data writeNifti', () => {
  it.each([
    ['uint8', Uint8Array.from({ length: n }, (_, i) => i % 10)],
    ['int16', Int16Array.from({ length: n }, (_, i) => i * 37 - 1024)],
    ['float32', Float32Array.from({ length: n }, (_, i) => i / 3 - 5)],
  ])('reads %s voxels, shape, spacing and direction', (_name, data) => {
    const flipX: Mat3 = [-1, 0, 0, 0, 1, 0, 0, 0, 1];
    const file = join(dir, `${_name}.nii.gz`);
    writeNifti(file, vol(data, flipX));
    const v = readNiftiPreview(file);
    expect(v.shape).toEqual(shape);
    expect(v.spacingMm[0]).toBeCloseTo(0.8, 5);
    expect(v.spacingMm[1]).toBeCloseTo(0.9, 5);
    expect(v.spacingMm[2]).toBeCloseTo(2.5, 5);
    expect(v.direction.map((x) => Math.round(x * 1e6) / 1e6)).toEqual(flipX);
    expect(v.data.constructor).toBe(data.constructor);
    expect(Array.from(v.data)).toEqual(Array.from(data));
  });

  it('reads a qform-only file written by nibabel (independent writer)', () => {
    if (!existsSync('/usr/bin/python3')) return;
    const file = join(dir, 'nib.nii');
    const py = `import nibabel as nib, numpy as np
a = np.arange(60, dtype=np.int16).reshape((5,4,3), order='F')
aff = np.diag([-0.8, -0.9, 2.5, 1.0]); aff[:3,3] = [10, -20, 30]
img = nib.Nifti1Image(a, aff); img.set_qform(aff, code=1); img.set_sform(None, code=0)
nib.save(img, ${JSON.stringify(file)})`;
    try {
      execFileSync('/usr/bin/python3', ['-c', py], { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`nibabel oracle failed: ${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
    }
    const v = readNiftiPreview(file);
    expect(v.shape).toEqual([5, 4, 3]);
    expect(Array.from(v.data)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    // RAS diag(-0.8, -0.9, 2.5) is LPS diag(0.8, 0.9, 2.5): identity direction.
    expect(v.direction.map((x) => Math.round(x * 1e6) / 1e6)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(v.spacingMm.map((s) => Math.round(s * 1e5) / 1e5)).toEqual([0.8, 0.9, 2.5]);
  });
});

describe('readNiftiPreview bad input', () => {
  const good = () => {
    const file = join(dir, 'good.nii');
    writeNifti(file, vol(Uint8Array.from({ length: n }, (_, i) => i)));
    return file;
  };

  it('refuses truncated data, wrong magic, unsupported types and oversized payloads, naming the file', async () => {
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(good());
    expect(() => parseNiftiPreview('t.nii', bytes.subarray(0, bytes.length - 5))).toThrow(/t\.nii: truncated/);
    const bad = Buffer.from(bytes);
    bad.write('xx', 344, 'ascii');
    expect(() => parseNiftiPreview('m.nii', bad)).toThrow(/m\.nii: bad magic/);
    const u16 = Buffer.from(bytes);
    u16.writeInt16LE(512, 70);
    u16.writeInt16LE(16, 72);
    expect(() => parseNiftiPreview('u.nii', u16)).toThrow(/datatype 512 is not previewed/);
    expect(() => parseNiftiPreview('big.nii', bytes, 10)).toThrow(/over the 10-byte preview limit/);
    const bomb = gzipSync(Buffer.alloc(4 << 20));
    expect(() => parseNiftiPreview('bomb.nii.gz', bomb, 1 << 20)).toThrow(/inflates past/);
    expect(() => readNiftiPreview(join(dir, 'absent.nii.gz'))).toThrow(NiftiPreviewError);
    const tooBig = join(dir, 'huge.nii');
    writeFileSync(tooBig, Buffer.alloc(200_000));
    expect(() => readNiftiPreview(tooBig, 1000)).toThrow(/preview limit/);
  });
});
