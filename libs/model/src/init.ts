import { mulberry32Open } from '@anatomynet/random';
import type { ParamSpec } from './summary';

/** FNV-1a hash of a string, mixed with a seed: each parameter gets its own stream. */
function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Initial values of one parameter, deterministic in (seed, name) and independent of the backend and
 * of the other parameters. 'he': normal with std sqrt(2 / ((1 + slope^2) fanIn)) (Kaiming, for
 * LeakyReLU); 'linear': std sqrt(1 / fanIn) (layers feeding softmax, sigmoid or a residual sum);
 * biases and beta 0, gamma and running variance 1. Normals are truncated at 2 std (redrawn) and rescaled to keep the variance.
 */
export function initialValues(spec: ParamSpec, seed: number, leakySlope: number): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (spec.init === 'zeros') return out;
  if (spec.init === 'ones') return out.fill(1);
  const gain = spec.init === 'he' ? 2 / (1 + leakySlope * leakySlope) : 1;
  // 0.8796 is the std of a unit normal truncated at +-2: dividing keeps the intended variance.
  const std = Math.sqrt(gain / spec.fanIn) / 0.87962566;
  const rand = mulberry32Open(streamSeed(seed, spec.name));
  for (let i = 0; i < n; ) {
    // Box-Muller gives two normals per pair of uniforms.
    const r = Math.sqrt(-2 * Math.log(rand()));
    const t = 2 * Math.PI * rand();
    for (const z of [r * Math.cos(t), r * Math.sin(t)]) {
      if (i < n && Math.abs(z) <= 2) out[i++] = z * std;
    }
  }
  return out;
}
