import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { readNifti, writeNifti } from './nifti';
import { parseNrrd, readNrrd, writeNrrd } from './nrrd';
import { errorOf, expectClose, patternVolume, python, rotation, run, tempDir } from './test-helpers';
import { readVolume, writeVolume } from './volume-io';
import type { Vec3 } from './volume';

const tmp = tempDir('nrrd');
afterAll(tmp.cleanup);

const oblique = { spacing: [0.7, 1.3, 2.5] as Vec3, origin: [-120.5, 33.25, -17.75] as Vec3, direction: rotation([1, 2, 3], 23) };

function header(lines: string[]): string {
  return ['NRRD0004', ...lines].join('\n') + '\n\n';
}

describe('NRRD round trip', () => {
  for (const encoding of ['raw', 'gzip'] as const) {
    for (const ext of ['.nrrd', '.nhdr']) {
      it(`${encoding} ${ext}: exact voxels and geometry, key/values kept`, () => {
        const v = patternVolume(new Int16Array(5 * 4 * 3), [5, 4, 3], oblique);
        const p = join(tmp.dir, `rt-${encoding}${ext}`);
        const keyValues = { 'anatomynet.case': 'case 7', multi: 'line1\nline2 \\ done' };
        writeNrrd(p, v, { encoding, keyValues });
        const r = readNrrd(p);
        expect(r.keyValues).toEqual(keyValues);
        expect(r.volume.data).toEqual(v.data);
        expect(r.volume.shape).toEqual(v.shape);
        // Text doubles: the geometry comes back exactly up to the spacing * direction product.
        expectClose(r.volume.spacing, v.spacing, 1e-12);
        expectClose(r.volume.direction, v.direction, 1e-12);
        expect(r.volume.origin).toEqual(v.origin);
      });
    }
  }
  it('float32 and uint8 survive; gzip output is byte-identical across writes', () => {
    for (const data of [new Float32Array(24), new Uint8Array(24)]) {
      const v = patternVolume(data, [2, 3, 4], oblique);
      writeNrrd(join(tmp.dir, 'a.nrrd'), v);
      writeNrrd(join(tmp.dir, 'b.nrrd'), v);
      expect(Buffer.compare(readFileSync(join(tmp.dir, 'a.nrrd')), readFileSync(join(tmp.dir, 'b.nrrd')))).toBe(0);
      expect(readNrrd(join(tmp.dir, 'a.nrrd')).volume.data).toEqual(v.data);
    }
  });
  it('NIfTI -> Volume -> NRRD -> Volume -> NIfTI keeps voxels bit-exact and geometry', () => {
    const v = patternVolume(new Int16Array(6 * 5 * 4), [6, 5, 4], oblique);
    writeVolume(join(tmp.dir, 'chain.nii.gz'), v);
    const a = readVolume(join(tmp.dir, 'chain.nii.gz'));
    writeVolume(join(tmp.dir, 'chain.nrrd'), a);
    const b = readVolume(join(tmp.dir, 'chain.nrrd'));
    writeNifti(join(tmp.dir, 'chain2.nii'), b);
    const c = readNifti(join(tmp.dir, 'chain2.nii'));
    for (const x of [a, b, c]) {
      expect(x.data).toEqual(v.data);
      expectClose(x.spacing, v.spacing, 1e-5);
      expectClose(x.origin, v.origin, 1e-4);
      expectClose(x.direction, v.direction, 1e-5);
    }
  });
  it('reads RAS and converts to LPS', () => {
    const body = new Int16Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const h = header(['type: short', 'dimension: 3', 'space: right-anterior-superior', 'sizes: 2 2 2', 'space directions: (-0.5,0,0) (0,-0.75,0) (0,0,3)', 'endian: little', 'encoding: raw', 'space origin: (10,20,30)']);
    const r = parseNrrd('ras.nrrd', Buffer.concat([Buffer.from(h), Buffer.from(body.buffer)])).volume;
    expect(r.spacing).toEqual([0.5, 0.75, 3]);
    expect(r.origin).toEqual([-10, -20, 30]);
    expect(r.direction).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(Array.from(r.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
  it('reads a 4-D file with a trailing singleton axis, big endian', () => {
    const body = Buffer.alloc(16);
    for (let i = 0; i < 8; i++) body.writeInt16BE(i * 100 - 300, 2 * i);
    const h = header(['type: int16', 'dimension: 4', 'space: left-posterior-superior', 'sizes: 2 2 2 1', 'space directions: (1,0,0) (0,1,0) (0,0,2) none', 'kinds: domain domain domain list', 'endian: big', 'encoding: gzip', 'space origin: (1,2,3)']);
    const r = parseNrrd('4d.nrrd', Buffer.concat([Buffer.from(h), gzipSync(body)])).volume;
    expect(r.shape).toEqual([2, 2, 2]);
    expect(r.spacing).toEqual([1, 1, 2]);
    expect(Array.from(r.data)).toEqual([-300, -200, -100, 0, 100, 200, 300, 400]);
  });
  it('an independent reader (numpy on the raw bytes after the header) sees our voxels in Fortran order', () => {
    const v = patternVolume(new Int16Array(4 * 3 * 2), [4, 3, 2], oblique);
    const p = join(tmp.dir, 'np.nrrd');
    writeNrrd(p, v, { encoding: 'raw' });
    const out = python(
      `import sys, numpy as np
b = open(sys.argv[1], "rb").read(); i = b.index(b"\\n\\n") + 2
hdr = b[:i].decode()
sizes = [int(x) for x in [l for l in hdr.splitlines() if l.startswith("sizes:")][0].split()[1:]]
a = np.frombuffer(b[i:], dtype="<i2").reshape(sizes, order="F")
print(int(a[3, 2, 1]), int(a[1, 0, 0]))`,
      [p],
    );
    expect(out.trim()).toBe(`${v.data[3 + 4 * (2 + 3 * 1)]} ${v.data[1]}`);
  });
});

describe('ITK (through plastimatch) reads what we write', () => {
  it('our .nii.gz and .nrrd: same header geometry, and converting back gives our voxels', () => {
    const v = patternVolume(new Int16Array(5 * 4 * 3), [5, 4, 3], oblique);
    for (const name of ['itk.nii.gz', 'itk.nrrd']) {
      const p = join(tmp.dir, name);
      writeVolume(p, v);
      const h = run('plastimatch', ['header', p]);
      expect(h.status, h.out).toBe(0);
      const field = (k: string) => h.out.split('\n').find((l) => l.startsWith(`${k} =`))!.split('=')[1].trim().split(/\s+/).map(Number);
      expect(field('Size')).toEqual([5, 4, 3]);
      expectClose(field('Origin'), v.origin, 1e-3);
      expectClose(field('Spacing'), v.spacing, 1e-3);
      expectClose(field('Direction'), v.direction, 1e-3);
      const back = join(tmp.dir, `${name}.back.nrrd`);
      const c = run('plastimatch', ['convert', '--input', p, '--output-img', back]);
      expect(c.status, c.out).toBe(0);
      const r = readNrrd(back).volume;
      expect(Array.from(r.data)).toEqual(Array.from(v.data));
      expectClose(r.origin, v.origin, 1e-4);
      expectClose(r.direction, v.direction, 1e-5);
    }
  });
});

describe('NRRD bad input', () => {
  const v = patternVolume(new Int16Array(8), [2, 2, 2]);
  it('detached data file escaping the header folder is refused', () => {
    const d = join(tmp.dir, 'esc', 'inner');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(tmp.dir, 'esc', 'secret.raw'), Buffer.alloc(16));
    for (const name of ['../secret.raw', join(tmp.dir, 'esc', 'secret.raw'), 'sub/../../secret.raw']) {
      const h = join(d, 'x.nhdr');
      writeFileSync(h, header(['type: short', 'dimension: 3', 'sizes: 2 2 2', 'encoding: raw', `data file: ${name}`]));
      const e = errorOf(() => readNrrd(h));
      expect(e.code).toBe('PATH_ESCAPE');
      expect(e.file).toBe(h);
    }
  });
  it('a detached file inside the folder is read', () => {
    const d = join(tmp.dir, 'ok');
    writeNrrd(join(d, 'v.nhdr'), v, { encoding: 'raw' });
    expect(readNrrd(join(d, 'v.nhdr')).volume.data).toEqual(v.data);
  });
  it('wrong magic, missing fields, unknown type and encoding', () => {
    expect(errorOf(() => parseNrrd('m.nrrd', Buffer.from('NRRX0004\n\n'))).code).toBe('BAD_MAGIC');
    expect(errorOf(() => parseNrrd('f.nrrd', Buffer.from(header(['dimension: 3', 'sizes: 2 2 2', 'encoding: raw'])))).code).toBe('BAD_HEADER');
    expect(errorOf(() => parseNrrd('t.nrrd', Buffer.from(header(['type: block', 'dimension: 3', 'sizes: 2 2 2', 'encoding: raw'])))).code).toBe('UNSUPPORTED_DATATYPE');
    expect(errorOf(() => parseNrrd('e.nrrd', Buffer.from(header(['type: short', 'dimension: 3', 'sizes: 2 2 2', 'encoding: bzip2'])))).code).toBe('UNSUPPORTED_ENCODING');
  });
  it('truncated and oversized data, huge declared size, gzip bomb', () => {
    const h = header(['type: short', 'dimension: 3', 'sizes: 2 2 2', 'endian: little', 'encoding: raw']);
    expect(errorOf(() => parseNrrd('t.nrrd', Buffer.concat([Buffer.from(h), Buffer.alloc(15)]))).code).toBe('TRUNCATED');
    expect(errorOf(() => parseNrrd('t.nrrd', Buffer.concat([Buffer.from(h), Buffer.alloc(17)]))).code).toBe('SIZE_MISMATCH');
    const huge = header(['type: short', 'dimension: 3', 'sizes: 3000 3000 1000', 'encoding: raw']);
    expect(errorOf(() => parseNrrd('h.nrrd', Buffer.concat([Buffer.from(huge), Buffer.alloc(16)]))).code).toBe('TOO_LARGE');
    expect(errorOf(() => parseNrrd('h.nrrd', Buffer.concat([Buffer.from(huge), Buffer.alloc(16)]), { maxBytes: 1e11 })).code).toBe('TRUNCATED');
    const gzh = header(['type: short', 'dimension: 3', 'sizes: 2 2 2', 'encoding: gzip']);
    expect(errorOf(() => parseNrrd('bomb.nrrd', Buffer.concat([Buffer.from(gzh), gzipSync(Buffer.alloc(100_000_000), { level: 1 })]))).code).toBe('TOO_LARGE');
  });
  it('non-singleton extra axis and unsupported space are refused', () => {
    const h4 = header(['type: short', 'dimension: 4', 'space: LPS', 'sizes: 2 2 2 3', 'space directions: (1,0,0) (0,1,0) (0,0,1) none', 'encoding: raw']);
    expect(errorOf(() => parseNrrd('4.nrrd', Buffer.concat([Buffer.from(h4), Buffer.alloc(48)]))).code).toBe('UNSUPPORTED_DATATYPE');
    const hs = header(['type: short', 'dimension: 3', 'space: scanner-xyz', 'sizes: 2 2 2', 'space directions: (1,0,0) (0,1,0) (0,0,1)', 'encoding: raw']);
    expect(errorOf(() => parseNrrd('s.nrrd', Buffer.concat([Buffer.from(hs), Buffer.alloc(16)]))).code).toBe('BAD_GEOMETRY');
  });
});
