import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Conv3dEngine } from './engine';
import { conv3dGeometry } from './geometry';
import { mulberry32 } from '@anatomynet/random';
import { registerCpuKernels, unregisterCpuKernels, cpuKernelsRegistered } from './kernels';

type S5 = [number, number, number, number, number];

const randomTensor = (shape: number[], r: () => number): tf.Tensor =>
  tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1), shape);

function expectClose(got: tf.Tensor, want: tf.Tensor, what: string): void {
  expect(got.shape, what).toEqual(want.shape);
  const a = got.dataSync(), b = want.dataSync();
  let scale = 1, worst = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  expect(worst / scale, `${what}: max |diff| ${worst} at scale ${scale}`).toBeLessThan(2e-5);
}

interface Case { x: S5; k: [number, number, number]; cin: number; cout: number; s: number | [number, number, number]; pad: 'same' | 'valid' }

/** Random shapes: odd sizes, strides 1 and 2, both paddings, channels not multiples of 4. */
function randomCases(n: number, seed: number): Case[] {
  const r = mulberry32(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const out: Case[] = [];
  for (let i = 0; i < n; i++) {
    const cin = pick([1, 2, 3, 5, 7, 9, 17]);
    const k = pick<[number, number, number]>([[3, 3, 3], [1, 1, 1], [3, 3, 3], [2, 3, 1], [3, 1, 3]]);
    out.push({
      x: [pick([1, 2]), 3 + Math.floor(r() * 6), 3 + Math.floor(r() * 7), 3 + Math.floor(r() * 9), cin],
      k, cin, cout: pick([1, 3, 4, 6, 10, 13, 16, 17]),
      s: pick<number | [number, number, number]>([1, 2, 1, [2, 1, 2]]),
      pad: pick<'same' | 'valid'>(['same', 'valid']),
    });
  }
  return out;
}

/** Forward, dx, dw of one case, computed by whichever kernels are registered. */
function runCase(c: Case, seed: number): { y: tf.Tensor; dx: tf.Tensor; dw: tf.Tensor } {
  const r = mulberry32(seed);
  const x = randomTensor(c.x, r) as tf.Tensor5D;
  const w = randomTensor([...c.k, c.cin, c.cout], r) as tf.Tensor5D;
  const y = tf.conv3d(x, w, c.s, c.pad);
  const dy = randomTensor(y.shape, r) as tf.Tensor5D;
  const dx = tf.engine().runKernel('Conv3DBackpropInputV2', { dy, filter: w },
    { strides: c.s, pad: c.pad, inputShape: c.x }) as tf.Tensor;
  const dw = tf.engine().runKernel('Conv3DBackpropFilterV2', { x, dy },
    { strides: c.s, pad: c.pad, filterShape: w.shape }) as tf.Tensor;
  return { y, dx, dw };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => unregisterCpuKernels());

describe('wasm conv3d kernels against stock tfjs-cpu', () => {
  const cases = randomCases(24, 20261126);
  it.each(cases.map((c, i) => [i, JSON.stringify(c), c] as const))('case %i %s', (i, _name, c) => {
    unregisterCpuKernels();
    const want = tf.tidy(() => runCase(c, 1000 + i));
    registerCpuKernels();
    expect(cpuKernelsRegistered()).toBe(true);
    const got = tf.tidy(() => runCase(c, 1000 + i));
    expectClose(got.y, want.y, 'Conv3D');
    expectClose(got.dx, want.dx, 'Conv3DBackpropInputV2');
    expectClose(got.dw, want.dw, 'Conv3DBackpropFilterV2');
    tf.dispose([got.y, got.dx, got.dw, want.y, want.dx, want.dw]);
  });

  it('tf.grad of a two-layer conv net matches the stock gradients (x and both filters)', () => {
    const r = mulberry32(7);
    const x = randomTensor([1, 9, 10, 11, 3], r);
    const w1 = randomTensor([3, 3, 3, 3, 6], r);
    const w2 = randomTensor([3, 3, 3, 6, 5], r);
    const target = randomTensor([1, 5, 5, 6, 5], r);
    const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor): tf.Scalar => {
      const h = tf.relu(tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, 2, 'same'));
      const o = tf.conv3d(h, c as tf.Tensor5D, 1, 'same');
      return tf.sum(tf.mul(o, target));
    };
    const grads = () => tf.grads(loss)([x, w1, w2]);
    unregisterCpuKernels();
    const want = grads();
    registerCpuKernels();
    const got = grads();
    ['dx', 'dw1', 'dw2'].forEach((n, i) => expectClose(got[i], want[i], n));
  });

  it('falls back to the stock kernel for a non-float32 tensor', () => {
    registerCpuKernels();
    const x = tf.ones([1, 3, 3, 3, 1], 'int32');
    const w = tf.ones([1, 1, 1, 1, 2]);
    const y = tf.engine().runKernel('Conv3D', { x, filter: w }, { strides: 1, pad: 'valid', dilations: 1 }) as tf.Tensor;
    expect(Array.from(y.dataSync()).slice(0, 4)).toEqual([1, 1, 1, 1]);
  });

  it.each([5, 9])('gives bit-identical results with 1 and 3 threads, and right ones with dilation 2 (Cin %i)', (cin) => {
    const r = mulberry32(11 + cin);
    const g = conv3dGeometry([1, 9, 8, 13, cin], [3, 3, 3, cin, 7], 1, 'same', 2);
    const x = Float32Array.from({ length: 9 * 8 * 13 * cin }, () => r() - 0.5);
    const w = Float32Array.from({ length: 27 * cin * 7 }, () => r() - 0.5);
    const one = new Conv3dEngine(1), three = new Conv3dEngine(3);
    try {
      const y1 = one.conv3d(g, x, w);
      expect(three.conv3d(g, x, w)).toEqual(y1);
      unregisterCpuKernels();
      const want = tf.conv3d(tf.tensor5d(x, [1, 9, 8, 13, cin]), tf.tensor5d(w, [3, 3, 3, cin, 7]), 1, 'same', 'NDHWC', 2);
      expectClose(tf.tensor(y1, want.shape), want, 'dilated Conv3D');
      const f1 = one.conv3dBackpropFilter(g, x, y1), f3 = three.conv3dBackpropFilter(g, x, y1);
      // Bit-identical, not just close: the reduction order does not depend on threads or timing.
      expect(f3).toEqual(f1);
      expect(three.conv3dBackpropFilter(g, x, y1)).toEqual(f3);
      expect(three.conv3dBackpropInput(g, y1, w)).toEqual(one.conv3dBackpropInput(g, y1, w));
    } finally {
      one.dispose();
      three.dispose();
    }
  });
});

describe('conv3d.wasm', () => {
  const native = fileURLToPath(new URL('./native/', import.meta.url));
  let hasClang = false;
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    hasClang = existsSync('/usr/bin/wasm-ld') || !!execFileSync('sh', ['-c', 'command -v wasm-ld || true']).toString().trim();
  } catch {
    hasClang = false;
  }
  it.skipIf(!hasClang)('rebuilds from conv3d.c byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conv3d-wasm-'));
    try {
      const out = join(dir, 'conv3d.wasm');
      execFileSync('sh', [join(native, 'build.sh'), out]);
      expect(Buffer.compare(readFileSync(out), readFileSync(join(native, 'conv3d.wasm')))).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
