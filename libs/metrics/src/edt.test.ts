import { describe, expect, it } from 'vitest';
import { squaredDistance1d, squaredDistanceTransformMm } from './edt.js';
import { mulberry32 } from '@anatomynet/random';
import type { Shape3, SpacingMm } from './types.js';

function bruteForce(features: Uint8Array, shape: Shape3, s: SpacingMm): Float64Array {
  const [nx, ny, nz] = shape;
  const pts: [number, number, number][] = [];
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) if (features[i + nx * (j + ny * k)]) pts.push([i, j, k]);
  const out = new Float64Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        let best = Infinity;
        for (const [a, b, c] of pts) best = Math.min(best, ((i - a) * s[0]) ** 2 + ((j - b) * s[1]) ** 2 + ((k - c) * s[2]) ** 2);
        out[i + nx * (j + ny * k)] = best;
      }
    }
  }
  return out;
}

describe('squaredDistance1d', () => {
  it('gives squared mm to the nearest finite sample', () => {
    const f = Float64Array.from([Infinity, 0, Infinity, Infinity, Infinity, 0, Infinity]);
    const out = new Float64Array(7);
    squaredDistance1d(f, 7, 2, out, new Int32Array(7), new Float64Array(8));
    expect(Array.from(out)).toEqual([4, 0, 4, 16, 4, 0, 4]);
  });
  it('leaves a line with no finite sample at Infinity', () => {
    const out = new Float64Array(3);
    squaredDistance1d(Float64Array.from([Infinity, Infinity, Infinity]), 3, 1, out, new Int32Array(3), new Float64Array(4));
    expect(Array.from(out)).toEqual([Infinity, Infinity, Infinity]);
  });
});

describe('squaredDistanceTransformMm', () => {
  it('matches brute force on small random anisotropic volumes', () => {
    const rnd = mulberry32(7);
    for (let trial = 0; trial < 12; trial++) {
      const shape: Shape3 = [2 + Math.floor(rnd() * 9), 2 + Math.floor(rnd() * 9), 1 + Math.floor(rnd() * 7)];
      const spacing: SpacingMm = [0.3 + rnd() * 2, 0.3 + rnd() * 2, 0.5 + rnd() * 3];
      const density = [0.01, 0.05, 0.3][trial % 3]!;
      const f = new Uint8Array(shape[0] * shape[1] * shape[2]);
      for (let i = 0; i < f.length; i++) f[i] = rnd() < density ? 1 : 0;
      f[Math.floor(rnd() * f.length)] = 1;
      const got = squaredDistanceTransformMm(f, shape, spacing);
      const want = bruteForce(f, shape, spacing);
      for (let i = 0; i < f.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 9);
    }
  });
  it('is Infinity everywhere without features', () => {
    const d = squaredDistanceTransformMm(new Uint8Array(8), [2, 2, 2], [1, 1, 1]);
    expect(Array.from(d).every((x) => x === Infinity)).toBe(true);
  });
  it('rejects bad shapes and spacings', () => {
    expect(() => squaredDistanceTransformMm(new Uint8Array(7), [2, 2, 2], [1, 1, 1])).toThrow(/7 voxels given/);
    expect(() => squaredDistanceTransformMm(new Uint8Array(8), [2, 2, 2], [1, 0, 1])).toThrow(/spacingMm/);
  });
});
