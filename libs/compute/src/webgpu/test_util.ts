/**
 * Helpers for tests that run the same computation on the cpu backend (the reference) and on
 * webgpu. Not exported from the package: test-only.
 */
import * as tf from '@tensorflow/tfjs';
import { uniformValues } from '@anatomynet/random';
import { selectBackend } from '../backend';
import { requestDawnAdapter } from './dawn';
import { deviceSharedBytes, type WebGPUBackendLike } from './program';

/** Deterministic uniform values in [-1, 1), so failures reproduce. */
export function seededValues(n: number, seed: number): Float32Array {
  return uniformValues(n, seed, -1, 1);
}

/** Input description: a shape and seed; tensors are rebuilt on each backend from the same values. */
export interface InputSpec {
  shape: number[];
  seed: number;
}

/** The adapter probe tests use to decide between running and a visible skip. */
export const adapterPromise = requestDawnAdapter();

export type V5 = [number, number, number, number, number];
/** A stride-1 (or `stride`) conv of input x and filter f, as tfjs computes its geometry. */
export const convInfo = (x: V5, f: V5, pad: 'same' | 'valid' = 'same', stride = 1) => tf.backend_util.computeConv3DInfo(x, f, stride, 1, pad);

/** A conv case of the direct-kernel tests: input, filter, padding. */
export interface ConvCase {
  name: string;
  x: V5;
  f: V5;
  pad: 'same' | 'valid';
}

export const SKIP_NOTE = 'SKIPPED: no WebGPU adapter (Dawn needs a Vulkan driver; on Debian 12 install mesa-vulkan-drivers >= 25 from bookworm-backports)';

/** Activates webgpu (quietly) with this project's kernels; returns the workgroup memory the device grants. */
export async function startWebgpu(): Promise<number> {
  await selectBackend({ prefer: 'webgpu', log: () => undefined });
  return deviceSharedBytes(tf.backend() as unknown as WebGPUBackendLike);
}

/** Runs fn on `backend` with tensors built from specs; returns every output's values. */
export async function runOn(
  backend: string, specs: InputSpec[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<{ shape: number[]; values: Float32Array }[]> {
  await tf.setBackend(backend);
  const xs = specs.map((s) => tf.tensor(seededValues(s.shape.reduce((a, b) => a * b, 1), s.seed), s.shape));
  const ys = fn(...xs);
  const list = Array.isArray(ys) ? ys : [ys];
  const out = [];
  for (const y of list) out.push({ shape: y.shape, values: (await y.data()) as Float32Array });
  tf.dispose([...xs, ...list]);
  return out;
}

/** Largest |a - b| relative to (1 + max |b|): a scale-free error for comparing float32 results. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / (1 + scale);
}

/** Output-by-output comparison of webgpu against cpu. */
export async function compareWithCpu(
  specs: InputSpec[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<{ shapes: number[][]; cpuShapes: number[][]; errors: number[] }> {
  const gpu = await runOn('webgpu', specs, fn);
  const cpu = await runOn('cpu', specs, fn);
  return {
    shapes: gpu.map((g) => g.shape),
    cpuShapes: cpu.map((c) => c.shape),
    errors: gpu.map((g, i) => relativeError(g.values, cpu[i].values)),
  };
}

/** The Winograd tile sizes and transform layouts the tuner is offered (winogradCandidates). */
export const WINOGRAD_LAYOUTS = [{ m: 2, planes: false }, { m: 4, planes: false }, { m: 4, planes: true }] as const;

/** A Winograd test's conv, with the MiB per chunk to force (small: several chunks). */
export interface WinogradCase extends ConvCase {
  mib: number;
}

/** Shapes every Winograd pass is checked on: ragged tiles, channel counts that vec4 rows fit or not, several chunks. */
export const WINOGRAD_CASES: readonly WinogradCase[] = [
  { name: 'ragged tiles on every axis, 8 -> 16 (vec4 rows)', x: [1, 5, 7, 9, 8], f: [3, 3, 3, 8, 16], pad: 'same', mib: 64 },
  { name: 'batch 2, 14 -> 22 (scalar rows)', x: [2, 6, 5, 7, 14], f: [3, 3, 3, 14, 22], pad: 'same', mib: 64 },
  { name: "'valid', 16 -> 8", x: [1, 7, 6, 9, 16], f: [3, 3, 3, 16, 8], pad: 'valid', mib: 64 },
  { name: "the output block's 17 -> 10 (scalar rows both ways)", x: [1, 6, 9, 11, 17], f: [3, 3, 3, 17, 10], pad: 'same', mib: 64 },
  // F(2): 7 x 11 x 13 = 1,001 tiles, 256 a chunk; F(4): 4 x 6 x 7 = 168 tiles, 75 a chunk: the last partial
  { name: 'several chunks of tiles, 16 -> 16', x: [1, 14, 21, 26, 16], f: [3, 3, 3, 16, 16], pad: 'same', mib: 1 },
];

/** The shader keys of the programs the active webgpu backend runs during `f`, with its result. */
export async function programsOf<T>(f: () => Promise<T>): Promise<{ result: T; keys: string[] }> {
  const backend = tf.findBackend('webgpu') as unknown as { runWebGPUProgram: (program: { shaderKey: string }, ...rest: unknown[]) => unknown };
  const keys: string[] = [];
  const run = backend.runWebGPUProgram;
  backend.runWebGPUProgram = function (program, ...rest) {
    keys.push(program.shaderKey);
    return run.call(this, program, ...rest);
  };
  try {
    return { result: await f(), keys };
  } finally {
    backend.runWebGPUProgram = run;
  }
}
