import { describe, expect, it } from 'vitest';
import { deriveSeed, mulberry32, mulberry32Open, uniform, uniformValues } from './random';

describe('mulberry32', () => {
  it('gives the words of the reference C implementation (Tommy Ettinger, 2017), seed 42', () => {
    // the first three outputs of `t = a += 0x6D2B79F5; t = (t ^ t >> 15) * (t | 1);
    // t ^= t + (t ^ t >> 7) * (t | 61); return t ^ t >> 14;` compiled with gcc, a = 42
    const rng = mulberry32(42);
    expect([rng(), rng(), rng()].map((u) => u * 2 ** 32)).toEqual([2581720956, 1925393290, 3661312704]);
  });

  it('repeats for a seed, differs between seeds, stays in [0, 1) with the moments of a uniform', () => {
    const a = Array.from({ length: 20000 }, mulberry32(7));
    expect(Array.from({ length: 20000 }, mulberry32(7))).toEqual(a);
    expect(Array.from({ length: 5 }, mulberry32(8))).not.toEqual(a.slice(0, 5));
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThan(1);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    const variance = a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01); // sd of the mean: 0.002
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.003);
  });

  it('has an open variant: the same stream half a step up, never 0', () => {
    const closed = mulberry32(3), open = mulberry32Open(3);
    for (let i = 0; i < 1000; i++) {
      const u = open();
      expect(u).toBe(closed() + 2 ** -33);
      expect(u).toBeGreaterThan(0);
    }
  });
});

describe('uniform and uniformValues', () => {
  it('scale the stream to [lo, hi) as float32, identically each time', () => {
    const rng = mulberry32(5);
    const expected = Float32Array.from({ length: 100 }, () => uniform(rng, -1, 1));
    const values = uniformValues(100, 5, -1, 1);
    expect(values).toEqual(expected);
    expect(uniformValues(100, 5, -1, 1)).toEqual(values);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(uniformValues(3, 5)[0]).toBe(Math.fround(mulberry32(5)()));
  });
});

describe('deriveSeed', () => {
  it('gives 32-bit seeds that depend on every part and its order', () => {
    const seeds = new Set<number>();
    for (let epoch = 0; epoch < 50; epoch++) for (let item = 0; item < 50; item++) seeds.add(deriveSeed(1234, epoch, item));
    expect(seeds.size).toBe(2500);
    expect(deriveSeed(7, 1, 2)).not.toBe(deriveSeed(7, 2, 1));
    expect(deriveSeed(7, 1, 2)).toBe(deriveSeed(7, 1, 2));
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
  });
});
