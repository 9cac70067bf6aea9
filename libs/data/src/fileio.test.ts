import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { VolumeIOError } from './errors';
import { gunzipBounded, gzipDeterministic, writeFileAtomic } from './fileio';
import { tempDir } from './test-helpers';

const tmp = tempDir('fileio');
afterAll(tmp.cleanup);

describe('writeFileAtomic', () => {
  it('creates folders, replaces the old file and leaves no temp files', () => {
    const p = join(tmp.dir, 'a', 'b', 'x.bin');
    writeFileAtomic(p, 'old');
    writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(p)]).toEqual([1, 2, 3]);
    expect(readdirSync(join(tmp.dir, 'a', 'b'))).toEqual(['x.bin']);
  });
  it('throws a typed error and keeps the previous file when the target cannot be replaced', () => {
    const d = join(tmp.dir, 'dir-target');
    writeFileAtomic(join(d, 'keep.txt'), 'keep');
    // The target path is an existing non-empty folder: rename fails.
    expect(() => writeFileAtomic(d, 'x')).toThrow(VolumeIOError);
    expect(readFileSync(join(d, 'keep.txt'), 'utf8')).toBe('keep');
    expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('gzip', () => {
  it('is deterministic (no timestamp, fixed OS byte) and round-trips', () => {
    const data = new Uint8Array(100_000).map((_, i) => (i * 31) % 251);
    const a = gzipDeterministic(data, 6);
    const b = gzipDeterministic(data, 6);
    expect(a[9]).toBe(255);
    expect(Buffer.compare(a, b)).toBe(0);
    expect(a.readUInt32LE(4)).toBe(0);
    expect(Buffer.compare(gunzipSync(a), Buffer.from(data))).toBe(0);
  });
  it('refuses a gzip bomb beyond the declared size', () => {
    const bomb = gzipSync(new Uint8Array(50_000_000)); // 50 MB of zeros, ~50 KB compressed
    expect(bomb.length).toBeLessThan(100_000);
    let err: unknown;
    try {
      gunzipBounded('bomb.gz', bomb, 1_000_000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VolumeIOError);
    expect((err as VolumeIOError).code).toBe('TOO_LARGE');
    expect((err as VolumeIOError).file).toBe('bomb.gz');
  });
  it('reports a truncated stream', () => {
    const gz = gzipSync(new Uint8Array(10_000).map((_, i) => i % 7));
    expect(() => gunzipBounded('t.gz', gz.subarray(0, gz.length - 20), 1e6)).toThrow(expect.objectContaining({ code: 'TRUNCATED' }));
  });
});
