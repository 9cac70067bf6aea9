/**
 * Seeded random streams: every random choice of a run, every initial weight and every test's data
 * derive from a seed, so they repeat exactly. mulberry32 (Tommy Ettinger's 32-bit generator): one
 * word of state, well mixed, fast in JavaScript; written here because no maintained npm package
 * offers it alone, and the streams must not change with a dependency's version.
 */
export type Rng = () => number;

/** Uniform in [0, 1), multiples of 2^-32. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The same stream moved half a step into (0, 1): never 0, so safe under log (Box-Muller). */
export function mulberry32Open(seed: number): Rng {
  const next = mulberry32(seed);
  return () => next() + 2 ** -33;
}

/** Uniform in [lo, hi). */
export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng();
}

/** `n` values uniform in [lo, hi) as float32: test data rebuilt identically on every backend. */
export function uniformValues(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  const rng = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = uniform(rng, lo, hi);
  return out;
}

/** Derives an independent stream seed from a base seed and integers (e.g. epoch, case index). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = seed >>> 0;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x9e3779b1) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}
