/**
 * One place that picks the TensorFlow.js backend for training and inference.
 *
 * Order when nothing is forced: tensorflow (tfjs-node-gpu, then tfjs-node: optional native
 * packages, often absent) > webgpu (Dawn through the `webgpu` package, when a hardware adapter
 * exists) > cpu > wasm. Two departures from the obvious order, both measured: a software WebGPU
 * adapter (lavapipe/llvmpipe, `isFallbackAdapter`) is taken only when forced, since it runs conv3d
 * at ~0.3 GFLOP/s; and cpu comes before wasm because cpu carries this project's WebAssembly SIMD
 * conv3d kernels on all cores (a training step 10-30x faster than tfjs-wasm's, see cpu/BENCHMARKS.md). `prefer` (a CLI flag) or the ANATOMYNET_BACKEND environment variable force one;
 * a forced backend that cannot start throws {@link BackendUnavailableError} instead of falling
 * through, so a run never silently trains somewhere else. This project's kernels are registered
 * here too (webgpu replacements; cpu kernels when ./cpu exports registerCpuKernels).
 */
import * as tf from '@tensorflow/tfjs';
import { describeAdapter, requestDawnAdapter, webgpuBackendFactory, type AdapterReport } from './webgpu/dawn';
import { cacheBindGroups } from './webgpu/bind_groups';
import { registerWebgpuKernels } from './webgpu/register';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow', 'webgpu', 'cpu', 'wasm'];
export const BACKEND_ENV = 'ANATOMYNET_BACKEND';
/** Set to 0 to keep tfjs-webgpu's own bind groups and buffer order (webgpu/bind_groups.ts), for an A/B. */
export const BIND_GROUP_CACHE_ENV = 'ANATOMYNET_BIND_GROUP_CACHE';
/** tfjs-backend-webgpu's registration priority, kept when its factory is replaced. */
const WEBGPU_PRIORITY = 3;

export interface SelectBackendOptions {
  /** Force a backend (a CLI flag); wins over the environment variable. */
  prefer?: BackendName;
  /** Where the choice is reported; defaults to one line on stderr. */
  log?: (line: string) => void;
  /** Environment to read ANATOMYNET_BACKEND from (tests pass their own). */
  env?: Record<string, string | undefined>;
}

export interface BackendChoice {
  backend: BackendName;
  /** The WebGPU adapter's identity and limits, when webgpu was chosen. */
  adapter?: AdapterReport;
  /** Why this backend: forced by whom, or which better ones were unavailable and why. */
  reason: string;
  /** Kernels this project registered for the chosen backend. */
  kernels: string[];
}

export class BackendUnavailableError extends Error {
  constructor(readonly backend: string, readonly why: string) {
    super(`backend ${backend} is unavailable: ${why}`);
    this.name = 'BackendUnavailableError';
  }
}

type Attempt = { ok: true; adapter?: AdapterReport; kernels: string[]; note?: string } | { ok: false; why: string };

/** Imports a package by a computed name so bundlers and tsc do not require it to exist. */
async function optionalImport(name: string): Promise<unknown> {
  return import(/* @vite-ignore */ name);
}

async function activate(name: string): Promise<string | undefined> {
  try {
    if (!(await tf.setBackend(name))) return `tf.setBackend('${name}') returned false`;
    await tf.ready();
    return tf.getBackend() === name ? undefined : `active backend is ${tf.getBackend()}`;
  } catch (e) {
    return (e as Error).message;
  }
}

async function tryTensorflow(): Promise<Attempt> {
  const whys: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await optionalImport(pkg);
    } catch (e) {
      whys.push(`${pkg} not installed (${(e as Error).message.split('\n')[0]})`);
      continue;
    }
    const why = await activate('tensorflow');
    if (!why) return { ok: true, kernels: [] };
    whys.push(`${pkg}: ${why}`);
  }
  return { ok: false, why: whys.join('; ') };
}

async function tryWebgpu(forced: boolean, env: Record<string, string | undefined>): Promise<Attempt> {
  const adapter = await requestDawnAdapter();
  if (!adapter) return { ok: false, why: 'no WebGPU adapter (Dawn found no Vulkan device)' };
  const report = describeAdapter(adapter);
  if (!forced && report.isFallbackAdapter) {
    return { ok: false, why: `only a software adapter (${report.description || report.device}); force it with webgpu to use it anyway` };
  }
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!tf.findBackendFactory('webgpu')) return { ok: false, why: 'tfjs-backend-webgpu did not register (navigator.gpu was missing at import)' };
  // our device (more storage buffers per dispatch), unless a 'webgpu' backend already runs
  if (!(tf.engine() as unknown as { registry: Record<string, unknown> }).registry.webgpu) {
    tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', webgpuBackendFactory() as () => Promise<tf.KernelBackend>, WEBGPU_PRIORITY);
  }
  const kernels = registerWebgpuKernels();
  const why = await activate('webgpu');
  if (why) return { ok: false, why };
  // before the first pipeline: pipelines made earlier keep uncached bind groups
  if (env[BIND_GROUP_CACHE_ENV] !== '0') cacheBindGroups(tf.backend() as unknown as Parameters<typeof cacheBindGroups>[0]);
  return { ok: true, adapter: report, kernels };
}

async function tryWasm(): Promise<Attempt> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    return { ok: false, why: `@tensorflow/tfjs-backend-wasm failed to load: ${(e as Error).message}` };
  }
  const why = await activate('wasm');
  return why ? { ok: false, why } : { ok: true, kernels: [] };
}

async function tryCpu(): Promise<Attempt> {
  let kernels: string[] = [];
  let note: string | undefined;
  try {
    const own = (await import('./index')) as { registerCpuKernels?: () => string[] | void };
    if (typeof own.registerCpuKernels === 'function') kernels = own.registerCpuKernels() ?? [];
  } catch (e) {
    // the stock cpu kernels still work: run on them, and say so in the reason
    note = `own cpu kernels not registered: ${(e as Error).message.split('\n')[0]}`;
  }
  const why = await activate('cpu');
  if (why) return { ok: false, why };
  // tfjs's cpu backend prints a banner on its first tensor telling Node users to install tfjs-node;
  // the selection's reason already says why that backend was not used (a field of tfjs 4.22's MathBackendCPU)
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return { ok: true, kernels, note };
}

const ATTEMPTS: Record<BackendName, (forced: boolean, env: Record<string, string | undefined>) => Promise<Attempt>> = {
  tensorflow: tryTensorflow,
  webgpu: tryWebgpu,
  wasm: tryWasm,
  cpu: tryCpu,
};

function parseForced(value: string | undefined, source: string): BackendName | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.trim().toLowerCase();
  if ((BACKEND_ORDER as readonly string[]).includes(v)) return v as BackendName;
  throw new BackendUnavailableError(value, `${source} must be one of ${BACKEND_ORDER.join(', ')}`);
}

/** Human-readable one-line summary of a choice, as logged. */
export function describeChoice(c: BackendChoice): string {
  const a = c.adapter;
  const gpu = a
    ? ` adapter=${JSON.stringify({ vendor: a.vendor, architecture: a.architecture, description: a.description, limits: a.limits })}`
    : '';
  return `backend=${c.backend} (${c.reason})${gpu}${c.kernels.length ? ` own-kernels=${c.kernels.length}` : ''}`;
}

/**
 * Selects, activates and reports the backend. Throws BackendUnavailableError when a forced
 * backend cannot start (or an unknown name is forced).
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendChoice> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const forced = parseForced(options.prefer, 'prefer') ?? parseForced(env[BACKEND_ENV], BACKEND_ENV);
  let choice: BackendChoice | undefined;
  if (forced) {
    const r = await ATTEMPTS[forced](true, env);
    if (!r.ok) throw new BackendUnavailableError(forced, r.why);
    const by = options.prefer ? 'forced by option' : `forced by ${BACKEND_ENV}`;
    choice = { backend: forced, adapter: r.adapter, reason: r.note ? `${by}; ${r.note}` : by, kernels: r.kernels };
  } else {
    const skipped: string[] = [];
    for (const name of BACKEND_ORDER) {
      const r = await ATTEMPTS[name](false, env);
      if (r.ok) {
        const reason = [skipped.length ? `best available; skipped ${skipped.join('; ')}` : 'best available', r.note]
          .filter(Boolean).join('; ');
        choice = { backend: name, adapter: r.adapter, reason, kernels: r.kernels };
        break;
      }
      skipped.push(`${name}: ${r.why}`);
    }
    if (!choice) throw new BackendUnavailableError('any', skipped.join('; '));
  }
  log(describeChoice(choice));
  return choice;
}
