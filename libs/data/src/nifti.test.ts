import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNifti, parseNifti, readNifti, writeNifti } from './nifti';
import { errorOf, expectClose, patternVolume, python, rotation, tempDir } from './test-helpers';
import { indexToPoint, type Vec3, type Volume, type VoxelArray } from './volume';

const tmp = tempDir('nifti');
afterAll(tmp.cleanup);

const oblique = { spacing: [0.7, 1.3, 2.5] as Vec3, origin: [-120.5, 33.25, -17.75] as Vec3, direction: rotation([1, 2, 3], 23) };

function expectSameGeometry(a: Volume, b: Volume, tol = 1e-4): void {
  expect(b.shape).toEqual(a.shape);
  expectClose(b.spacing, a.spacing, tol);
  expectClose(b.origin, a.origin, tol);
  expectClose(b.direction, a.direction, tol);
  // A far corner lands in the same place (mm).
  const far: Vec3 = [a.shape[0] - 1, a.shape[1] - 1, a.shape[2] - 1];
  expectClose(indexToPoint(b, far), indexToPoint(a, far), 1e-3);
}

describe('NIfTI round trip', () => {
  const types: [string, () => VoxelArray][] = [
    ['int16', () => new Int16Array(5 * 4 * 3)],
    ['uint8', () => new Uint8Array(5 * 4 * 3)],
    ['float32', () => new Float32Array(5 * 4 * 3)],
    ['int8', () => new Int8Array(5 * 4 * 3)],
    ['uint16', () => new Uint16Array(5 * 4 * 3)],
    ['int32', () => new Int32Array(5 * 4 * 3)],
    ['float64', () => new Float64Array(5 * 4 * 3)],
  ];
  for (const [name, make] of types) {
    for (const ext of ['.nii', '.nii.gz']) {
      it(`${name} ${ext}: bit-exact voxels, oblique anisotropic geometry`, () => {
        const v = patternVolume(make(), [5, 4, 3], oblique);
        const p = join(tmp.dir, `rt-${name}${ext}`);
        writeNifti(p, v);
        const r = readNifti(p);
        expect(r.data.constructor).toBe(v.data.constructor);
        expect(Array.from(r.data)).toEqual(Array.from(v.data));
        expectSameGeometry(v, r);
      });
    }
  }
  it('left-handed direction (flipped k) survives through qfac', () => {
    const d = rotation([0, 0, 1], 90);
    const flipped = [d[0], d[1], -d[2], d[3], d[4], -d[5], d[6], d[7], -d[8]] as Volume['direction'];
    const v = patternVolume(new Int16Array(24), [2, 3, 4], { spacing: [1, 2, 3], origin: [1, 2, 3], direction: flipped });
    const bytes = encodeNifti(v);
    // Drop the sform to force the qform path.
    new DataView(bytes.buffer).setInt16(254, 0, true);
    expectSameGeometry(v, parseNifti('q.nii', bytes));
  });
  it('gzip output is byte-identical across writes', () => {
    const v = patternVolume(new Int16Array(60), [5, 4, 3], oblique);
    writeNifti(join(tmp.dir, 'a.nii.gz'), v);
    writeNifti(join(tmp.dir, 'b.nii.gz'), v);
    expect(Buffer.compare(readFileSync(join(tmp.dir, 'a.nii.gz')), readFileSync(join(tmp.dir, 'b.nii.gz')))).toBe(0);
  });
  it('applies scl_slope / scl_inter', () => {
    const v = patternVolume(new Int16Array(60), [5, 4, 3]);
    const bytes = encodeNifti(v);
    const dv = new DataView(bytes.buffer);
    dv.setFloat32(112, 2, true);
    dv.setFloat32(116, -1024, true);
    const r = parseNifti('s.nii', bytes);
    expect(r.data).toBeInstanceOf(Float32Array);
    expect(r.data[7]).toBe(v.data[7] * 2 - 1024);
    expect(parseNifti('s.nii', bytes, { applyScaling: false }).data[7]).toBe(v.data[7]);
  });
  it('uses pixdim when neither sform nor qform is set', () => {
    const bytes = encodeNifti(patternVolume(new Uint8Array(60), [5, 4, 3], oblique));
    const dv = new DataView(bytes.buffer);
    dv.setInt16(252, 0, true);
    dv.setInt16(254, 0, true);
    const r = parseNifti('p.nii', bytes);
    expectClose(r.spacing, oblique.spacing, 1e-5);
    // RAS identity seen from LPS: x and y flip.
    expectClose(r.direction, [-1, 0, 0, 0, -1, 0, 0, 0, 1], 0);
  });
});

describe('NIfTI against nibabel', () => {
  it('nibabel reads what we write: affine (RAS) and data equal', () => {
    const v = patternVolume(new Int16Array(6 * 5 * 4), [6, 5, 4], oblique);
    const p = join(tmp.dir, 'ours.nii.gz');
    writeNifti(p, v);
    const out = JSON.parse(
      python(
        `import sys, json, nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
d = np.asanyarray(img.dataobj)
print(json.dumps({"sform": img.get_sform().tolist(), "qform": img.get_qform().tolist(), "codes": [int(img.header["sform_code"]), int(img.header["qform_code"])], "dtype": str(d.dtype), "shape": list(d.shape), "data": d.flatten(order="F").tolist()}))`,
        [p],
      ),
    );
    expect(out.dtype).toBe('int16');
    expect(out.shape).toEqual([6, 5, 4]);
    expect(out.data).toEqual(Array.from(v.data));
    expect(out.codes).toEqual([1, 1]);
    // Expected RAS affine from the LPS geometry.
    const d = v.direction, s = v.spacing, o = v.origin;
    const expected = [0, 1, 2].map((r) => [...[0, 1, 2].map((c) => (r < 2 ? -1 : 1) * d[3 * r + c] * s[c]), (r < 2 ? -1 : 1) * o[r]]);
    for (const aff of [out.sform, out.qform]) expectClose(aff.slice(0, 3).flat(), expected.flat(), 1e-4);
  });
  it('we read what nibabel writes (float32 and uint8, with its own affine)', () => {
    const dir = tmp.dir;
    python(
      `import sys, numpy as np, nibabel as nib
aff = np.array([[-0.8, 0.1, 0, 90.5], [0.0, 0.9, 0.3, -12.0], [0.1, 0, 2.4, 33.0], [0, 0, 0, 1]])
q, _ = np.linalg.qr(aff[:3,:3]); q = q * np.sign(np.diag(np.linalg.qr(aff[:3,:3])[1]))
aff[:3,:3] = q @ np.diag([0.8, 0.9, 2.4])
data = (np.arange(7*6*5).reshape((7,6,5), order="F") * 1.25 - 40).astype(np.float32)
img = nib.Nifti1Image(data, aff); img.set_qform(aff, code=1); img.set_sform(aff, code=2)
nib.save(img, sys.argv[1] + "/nib.nii.gz")
nib.save(nib.Nifti1Image((np.arange(7*6*5) % 256).reshape((7,6,5), order="F").astype(np.uint8), aff), sys.argv[1] + "/nib_u8.nii")
np.save(sys.argv[1] + "/aff.npy", aff)
print(" ".join(str(x) for x in aff.flatten()))`,
      [dir],
    );
    const affText = python(`import sys, numpy as np; print(" ".join(repr(float(x)) for x in np.load(sys.argv[1]).flatten()))`, [join(dir, 'aff.npy')]);
    const aff = affText.trim().split(' ').map(Number);
    const f = readNifti(join(dir, 'nib.nii.gz'));
    expect(f.data).toBeInstanceOf(Float32Array);
    expect(f.shape).toEqual([7, 6, 5]);
    expect(Array.from(f.data.slice(0, 4))).toEqual([-40, -38.75, -37.5, -36.25]);
    expect(f.data[7 * 6 * 5 - 1]).toBe((7 * 6 * 5 - 1) * 1.25 - 40);
    // Our LPS point of voxel (2,3,4) equals nibabel's RAS point with x, y negated.
    const ras = [0, 1, 2].map((r) => aff[4 * r] * 2 + aff[4 * r + 1] * 3 + aff[4 * r + 2] * 4 + aff[4 * r + 3]);
    expectClose(indexToPoint(f, [2, 3, 4]), [-ras[0], -ras[1], ras[2]], 1e-4);
    const u = readNifti(join(dir, 'nib_u8.nii'));
    expect(u.data).toBeInstanceOf(Uint8Array);
    expect(u.data[209]).toBe(209);
    expectClose(indexToPoint(u, [2, 3, 4]), [-ras[0], -ras[1], ras[2]], 1e-4);
  });
});

describe('NIfTI bad input', () => {
  const good = () => encodeNifti(patternVolume(new Int16Array(60), [5, 4, 3]));
  it('truncated header and truncated data', () => {
    expect(errorOf(() => parseNifti('t.nii', good().subarray(0, 200))).code).toBe('TRUNCATED');
    const e = errorOf(() => parseNifti('t.nii', good().subarray(0, 352 + 50)));
    expect(e.code).toBe('TRUNCATED');
    expect(e.file).toBe('t.nii');
    expect(e.message).toContain('5x4x3');
  });
  it('truncated gzip stream', () => {
    const gz = gzipSync(good());
    expect(errorOf(() => parseNifti('t.nii.gz', gz.subarray(0, gz.length - 30))).code).toBe('TRUNCATED');
  });
  it('wrong magic', () => {
    const b = good();
    b[344] = 0x78;
    expect(errorOf(() => parseNifti('m.nii', b)).code).toBe('BAD_MAGIC');
    const c = good();
    new DataView(c.buffer).setInt32(0, 1234, true);
    expect(errorOf(() => parseNifti('m.nii', c)).code).toBe('BAD_MAGIC');
  });
  it('header/data mismatch: bitpix disagrees with datatype, trailing bytes', () => {
    const b = good();
    new DataView(b.buffer).setInt16(72, 32, true);
    expect(errorOf(() => parseNifti('b.nii', b)).code).toBe('SIZE_MISMATCH');
    const longer = new Uint8Array(good().length + 10);
    longer.set(good());
    expect(errorOf(() => parseNifti('b.nii', longer)).code).toBe('SIZE_MISMATCH');
  });
  it('18 GB declared in a 400-byte file fails before allocating', () => {
    const b = good().slice(0, 400);
    const dv = new DataView(b.buffer);
    [3, 3000, 3000, 1000].forEach((v, i) => dv.setInt16(40 + 2 * i, v, true)); // 9e9 int16 = 18 GB
    const p = join(tmp.dir, 'huge.nii');
    writeFileSync(p, b);
    const e = errorOf(() => readNifti(p));
    expect(e.code).toBe('TOO_LARGE');
    expect(e.file).toBe(p);
    // Even with the budget lifted, the size check against the bytes present stops it.
    expect(errorOf(() => parseNifti(p, b, { maxBytes: 1e11 })).code).toBe('TRUNCATED');
  });
  it('gzip bomb: a small header declaring 60 bytes followed by 200 MB of zeros', () => {
    const v = good();
    const big = new Uint8Array(200_000_000);
    big.set(v);
    const gz = gzipSync(big, { level: 1 });
    expect(gz.length).toBeLessThan(1_000_000);
    expect(errorOf(() => parseNifti('bomb.nii.gz', gz)).code).toBe('TOO_LARGE');
  });
  it('unsupported datatype names it', () => {
    const b = good();
    new DataView(b.buffer).setInt16(70, 128, true); // RGB24
    new DataView(b.buffer).setInt16(72, 24, true);
    const e = errorOf(() => parseNifti('rgb.nii', b));
    expect(e.code).toBe('UNSUPPORTED_DATATYPE');
    expect(e.reason).toContain('rgb24');
  });
  it('4-D with more than one volume is refused, a trailing singleton accepted', () => {
    const b = good();
    const dv = new DataView(b.buffer);
    dv.setInt16(40, 4, true);
    dv.setInt16(48, 1, true);
    expect(parseNifti('s.nii', b).shape).toEqual([5, 4, 3]);
    dv.setInt16(48, 2, true);
    expect(errorOf(() => parseNifti('s.nii', b)).code).toBe('UNSUPPORTED_DATATYPE');
  });
});
