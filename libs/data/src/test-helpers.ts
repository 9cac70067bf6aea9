/** Test-only helpers: temp folders, synthetic volumes, Debian's Python (nibabel, pydicom) as an oracle. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VolumeIOError } from './errors';
import type { Mat3, Vec3, Volume, VoxelArray } from './volume';

export { htj2kSlice } from './testing/htj2k';

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `anatomynet-data-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Rotation by `deg` about a unit axis, as a row-major matrix (columns = rotated basis vectors). */
export function rotation(axis: Vec3, deg: number): Mat3 {
  const [x, y, z] = axis.map((v) => v / Math.hypot(...axis));
  const c = Math.cos((deg * Math.PI) / 180), s = Math.sin((deg * Math.PI) / 180), t = 1 - c;
  return [t * x * x + c, t * x * y - s * z, t * x * z + s * y, t * x * y + s * z, t * y * y + c, t * y * z - s * x, t * x * z - s * y, t * y * z + s * x, t * z * z + c];
}

/** A deterministic volume whose every voxel differs from its neighbours (catches axis swaps). */
export function patternVolume<T extends VoxelArray>(data: T, shape: Vec3, geometry: Partial<Pick<Volume, 'spacing' | 'origin' | 'direction'>> = {}): Volume<T> {
  const n = shape[0] * shape[1] * shape[2];
  if (data.length !== n) throw new RangeError('patternVolume: length');
  for (let i = 0; i < n; i++) {
    const v = ((i * 7919) % 4093) - 1500;
    data[i] = data instanceof Uint8Array || data instanceof Uint16Array || data instanceof Uint32Array ? Math.abs(v) % (data instanceof Uint8Array ? 256 : 65536) : data instanceof Int8Array ? v % 128 : data instanceof Float32Array || data instanceof Float64Array ? v * 0.37 : v;
  }
  return { data, shape, spacing: geometry.spacing ?? [1, 1, 1], origin: geometry.origin ?? [0, 0, 0], direction: geometry.direction ?? [1, 0, 0, 0, 1, 0, 0, 0, 1] };
}

/** Runs Debian's /usr/bin/python3 (which has nibabel, pydicom, numpy) and returns stdout; throws on failure. */
export function python(script: string, args: string[] = []): string {
  const r = spawnSync('/usr/bin/python3', ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function run(cmd: string, args: string[]): { status: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tol)) throw new Error(`element ${i}: ${a[i]} vs ${b[i]} (tol ${tol}); ${JSON.stringify(Array.from(a))} vs ${JSON.stringify(Array.from(b))}`);
  }
}

/** The typed error `f` throws; fails the test if it returns or throws anything else. */
export function errorOf(f: () => unknown): VolumeIOError {
  try {
    f();
  } catch (e) {
    if (e instanceof VolumeIOError) return e;
    throw new Error(`expected a VolumeIOError, got ${String(e)}`);
  }
  throw new Error('expected a VolumeIOError, nothing was thrown');
}

