#!/usr/bin/env node
// GPU benchmark: the reference AnatomyNet (shared/bench/ref_anatomynet.py) forward and one training
// step, then every distinct conv's forward / dx / dW GFLOP/s, on the selected backend. Prints one
// JSON document on stdout (progress on stderr). Runs on the device machine through
// shared/bench/devpack.sh: `devpack.sh apps/bench/src/gpu.ts` then `run.sh .devpack/bench.mjs ARGS`.
import * as tf from '@tensorflow/tfjs';
import {
  autotuneConv, BACKEND_ORDER, FUSED_CONV3D, hasFusions, settle, withoutFusions, timeBatched, benchConvGflops, boundGpuBufferPool, capGpuBufferPool, gpuAllocationPeak, gpuPoolStats, limitGpuMemory, trimGpuBufferPool, useBestFitGpuBuffers, dawnFlags, loadTunedTilings, parseTunedTilings, referenceConvInput, REFERENCE_CONVS,
  bindGroupCacheStats, BIND_GROUP_CACHE_ENV, convTilingKey, countDispatches, measureDispatchCost, registerWebgpuKernels, selectBackend, TILING_KINDS, tunedTilings, useStockWebgpuKernels, withoutOwnWebgpuKernels, type BackendName, type GemmPass,
} from '@anatomynet/compute';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { writeFileAtomic } from '@anatomynet/data';
import { buildModel, DEFAULT_MODEL_CONFIG, predict, recomputeOption, summarizeModel, trainStep, type AnatomyNetModel, type Recompute } from '@anatomynet/model';
import { benchMemoryPasses } from './passes';
import { parseShapes, referenceOptimizer, referenceTarget, REFERENCE_LOSS, REFERENCE_OPTIMIZER, trainerLossTo, type Dhw } from './reference-step';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

const progress = (line: string) => process.stderr.write(`[bench-gpu ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/**
 * GPU milliseconds per kernel name over one call of `f` (timestamp queries), largest first; and the
 * conv kernels per input shapes (which conv of the network costs what, in place).
 */
async function kernelProfile(f: () => tf.TensorContainer | Promise<tf.TensorContainer>): Promise<{ byName: Record<string, number>; convs: Record<string, number> }> {
  const info = await tf.profile(f);
  const byName = new Map<string, number>();
  const convs = new Map<string, number>();
  for (const k of info.kernels) {
    const ms = Number(k.kernelTimeMs ?? 0);
    byName.set(k.name, (byName.get(k.name) ?? 0) + ms);
    if (k.name.startsWith('Conv3D') || k.name === FUSED_CONV3D) {
      const key = `${k.name} ${k.inputShapes.map((s) => (s ?? []).join('x')).join(' ')}`;
      convs.set(key, (convs.get(key) ?? 0) + ms);
    }
  }
  tf.dispose(info.result);
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  const round = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([n, ms]) => [n, Math.round(ms * 100) / 100] as const);
  return { byName: Object.fromEntries([['TOTAL', Math.round(total * 100) / 100], ...round(byName)]), convs: Object.fromEntries(round(convs)) };
}

/** WebGPU errors nobody caught (out-of-memory, validation): counted so a bad figure is visible. */
const gpuErrors: string[] = [];
function watchGpuErrors(): void {
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  const record = (e: Event) => {
    if (gpuErrors.length < 20) gpuErrors.push((e as GPUUncapturedErrorEvent).error?.message ?? String(e));
  };
  if (device?.addEventListener) device.addEventListener('uncapturederror', record);
  else if (device) (device as unknown as { onuncapturederror: (e: Event) => void }).onuncapturederror = record;
}

/** V8's sampling profiler over `body`, written to `file` (a .cpuprofile, as node --cpu-prof writes). */
async function cpuProfiled<T>(file: string | undefined, body: () => Promise<T>): Promise<T> {
  if (!file) return body();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await body();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  }
}

/**
 * Seconds per eval forward over `reps` runs queued back to back (one read-back at the end), and the
 * JavaScript side of each (tfjs and Dawn recording the kernels): well below `seconds` the GPU bounds
 * the forward, near it the CPU does.
 */
async function timeForward(model: AnatomyNetModel, x: tf.Tensor, reps: number): Promise<{ seconds: number; enqueue: number }> {
  const t0 = performance.now();
  let enqueue = 0;
  for (let i = 0; i < reps; i++) {
    const t1 = performance.now();
    const y = predict(model, x);
    enqueue += performance.now() - t1;
    if (i === reps - 1) await settle(y);
    y.dispose();
  }
  return { seconds: (performance.now() - t0) / 1000 / reps, enqueue: enqueue / 1000 / reps };
}

async function benchModel(
  shape: Dhw, reps: number, train: boolean, recompute: Recompute,
  opts: { boundPool: boolean; trainProfile: boolean; cpuProfile?: string },
) {
  const cfg = DEFAULT_MODEL_CONFIG;
  const model = buildModel(cfg, { seed: 1 });
  const x = tf.randomNormal([1, ...shape, 1], 0, 1, 'float32', 5);
  const summary = summarizeModel(cfg, shape);
  const out: Record<string, unknown> = {
    shape,
    recompute,
    // the estimate of libs/model's summary, for all segments recomputed or none
    trainingBytesEstimate: recompute ? summary.trainingBytesRecompute : summary.trainingBytes,
  };
  try {
    let t0 = performance.now();
    const y = predict(model, x);
    await settle(y);
    y.dispose();
    out.forwardFirst_s = (performance.now() - t0) / 1000;
    // dispatches counted during the timed runs (a counter per dispatch; no run of its own)
    const webgpu = tf.getBackend() === 'webgpu';
    const counted = async <T>(f: () => Promise<T>): Promise<{ result: T; dispatches?: number }> => (webgpu ? countDispatches(f) : { result: await f() });
    // Two untimed forwards more, as ref_anatomynet.py warms up: on the H100 the first forwards after
    // compiling ran at a fraction of the speed (64x128x128: 0.083 s timed first, 0.020-0.029 s later
    // in the same process, against 17 ms of GPU kernels; 2026-11-28)
    await timeForward(model, x, 2);
    const fwd = await counted(() => timeForward(model, x, reps));
    const timed = fwd.result;
    if (fwd.dispatches !== undefined) out.forwardDispatches = fwd.dispatches / reps;
    out.forward_s = timed.seconds;
    out.forwardEnqueue_s = timed.enqueue;
    progress(`forward ${shape.join('x')}: ${(out.forward_s as number).toFixed(4)} s (JavaScript side ${(out.forwardEnqueue_s as number).toFixed(4)} s)`);
    // A/B in the same process: the eval-mode fusions (conv + bias + norm + LeakyReLU, residual sum, SE gate) off
    if (hasFusions()) {
      out.forwardComposed_s = await withoutFusions(async () => {
        await timeForward(model, x, 2); // compiles the composed path's shaders, and warms up as above
        return (await timeForward(model, x, reps)).seconds;
      });
      progress(`forward ${shape.join('x')}, eval-mode fusions off: ${(out.forwardComposed_s as number).toFixed(4)} s`);
    }
    if (tf.getBackend() === 'webgpu') {
      const prof = await kernelProfile(() => predict(model, x));
      [out.forwardProfile, out.forwardConvs] = [prof.byName, prof.convs];
      progress(`forward kernels (GPU ms): ${JSON.stringify(out.forwardProfile)}`);
    }
    if (train) {
      const target = referenceTarget(x, cfg.numClasses);
      const opt = referenceOptimizer();
      out.optimizer = REFERENCE_OPTIMIZER;
      out.lossFunction = REFERENCE_LOSS;
      const loss = trainerLossTo(target);
      t0 = performance.now();
      const first = await trainStep(model, opt, x, loss, { recompute });
      out.trainFirst_s = (performance.now() - t0) / 1000;
      if (opts.boundPool) boundGpuBufferPool();
      await trainStep(model, opt, x, loss, { recompute }); // a second untimed step, as ref_anatomynet.py
      if (opts.boundPool) boundGpuBufferPool();
      gpuAllocationPeak(true);
      const poolBefore = gpuPoolStats();
      t0 = performance.now();
      let last = first;
      let enqueue = 0;
      const steps = await counted(() => cpuProfiled(opts.cpuProfile, async () => {
        for (let i = 0; i < reps; i++) {
          // trainStep returns at its first await, the loss read-back: everything is recorded by then
          const t1 = performance.now();
          const pending = trainStep(model, opt, x, loss, { recompute });
          enqueue += performance.now() - t1;
          last = await pending;
          if (opts.boundPool) boundGpuBufferPool();
        }
      }));
      // Before the profiled steps below, which must not count in the time.
      out.trainStep_s = (performance.now() - t0) / 1000 / reps;
      out.trainStepEnqueue_s = enqueue / 1000 / reps;
      // most bytes tfjs-webgpu held at once during the timed steps (live tensors and its pool)
      out.gpuBytesAllocatedPeak = gpuAllocationPeak();
      const pool = gpuPoolStats();
      // buffers a timed step created anew (and destroyed to keep within --memory-budget-gb)
      out.trainStepPool = {
        buffersCreated: (pool.buffersCreated - poolBefore.buffersCreated) / reps,
        bytesCreated: (pool.bytesCreated - poolBefore.bytesCreated) / reps,
        buffersEvicted: (pool.buffersEvicted - poolBefore.buffersEvicted) / reps,
      };
      out.boundPool = opts.boundPool;
      progress(`train step ${shape.join('x')}: ${(out.trainStep_s as number).toFixed(4)} s (JavaScript side ${(out.trainStepEnqueue_s as number).toFixed(4)} s)${opts.boundPool ? '' : ' (buffer pool not bounded between steps)'}${webgpu ? `, at most ${((out.gpuBytesAllocatedPeak as number) / 1e9).toFixed(1)} GB allocated` : ''}`);
      if (steps.dispatches !== undefined) {
        out.trainStepDispatches = steps.dispatches / reps;
        progress(`train step ${shape.join('x')}: ${out.trainStepDispatches} dispatches, forward ${out.forwardDispatches}`);
      }
      boundGpuBufferPool();
      // Peak bytes of live tensors during one step (tfjs's own count: any backend, no buffer pool).
      if (opts.trainProfile) out.trainTensorPeakBytes = (await tf.profile(() => trainStep(model, opt, x, loss, { recompute }))).peakBytes;
      boundGpuBufferPool();
      if (tf.getBackend() === 'webgpu' && opts.trainProfile) {
        const prof = await kernelProfile(() => trainStep(model, opt, x, loss, { recompute }));
        [out.trainProfile, out.trainConvs] = [prof.byName, prof.convs];
        progress(`train-step kernels (GPU ms): ${JSON.stringify(out.trainProfile)}`);
        boundGpuBufferPool();
      }
      out.loss = { first, last };
      const mem = tf.memory() as tf.MemoryInfo & { numBytesAllocatedInGPU?: number; numBytesInGPU?: number };
      out.gpuBytesAllocated = mem.numBytesAllocatedInGPU ?? null;
      out.gpuBytesInUse = mem.numBytesInGPU ?? null;
      opt.dispose();
      target.dispose();
    }
  } catch (e) {
    out.error = (e as Error).message;
    progress(`model at ${shape.join('x')} failed: ${out.error}`);
  } finally {
    x.dispose();
    model.dispose();
  }
  return out;
}

const CONV_KERNELS = ['Conv3D', 'Conv3DBackpropInputV2', 'Conv3DBackpropFilterV2'];

async function benchConvs(shape: Dhw, reps: number, compareStock: boolean) {
  const rows = [];
  for (const c of REFERENCE_CONVS) {
    const input = referenceConvInput(c, shape);
    const row: Record<string, unknown> = { name: c.name, input };
    for (const variant of compareStock ? ['own', 'stock'] : ['own']) {
      if (variant === 'stock') useStockWebgpuKernels(CONV_KERNELS);
      try {
        const r = await benchConvGflops({ input, cin: c.cin, cout: c.cout, k: c.k, stride: c.stride, reps });
        Object.assign(row, { outShape: r.outShape, gflop: r.flops / 1e9, [variant]: r.passes });
        progress(`${c.name} @${input.join('x')} ${variant}: ${Object.entries(r.passes).map(([p, v]) => `${p} ${v!.gflops.toFixed(1)} GF/s${v!.gpuGflops ? ` (GPU time: ${v!.gpuGflops.toFixed(1)})` : ''}`).join(', ')}`);
      } catch (e) {
        row[`${variant}Error`] = (e as Error).message;
      } finally {
        if (variant === 'stock') registerWebgpuKernels();
        trimGpuBufferPool();
      }
    }
    rows.push(row);
  }
  return rows;
}

/**
 * A sum over the voxels of a half-resolution activation (the SE mean; in training also the bias,
 * norm and SE gradients), written as a ones row times [voxels, C] the way libs/model does it:
 * ours (split-K) against tfjs-webgpu's own BatchMatMul.
 */
async function benchVoxelSums(shape: Dhw) {
  const rows = Math.ceil(shape[0] / 2) * Math.ceil(shape[1] / 2) * Math.ceil(shape[2] / 2);
  const out: Record<string, unknown> = { rows, channels: 32 };
  const ones = tf.ones([1, 1, rows]);
  const x = tf.randomUniform([1, rows, 32], -1, 1, 'float32', 9);
  try {
    for (const variant of ['own', 'stock']) {
      if (variant === 'stock') useStockWebgpuKernels(['BatchMatMul']);
      try {
        const t = await timeBatched(() => tf.matMul(ones, x), { minReps: 3, minSeconds: 0.05 });
        out[`${variant}_s`] = t.seconds;
      } finally {
        if (variant === 'stock') registerWebgpuKernels();
      }
    }
    progress(`voxel sum ${rows}x32: own ${((out.own_s as number) * 1e3).toFixed(3)} ms, stock ${((out.stock_s as number) * 1e3).toFixed(3)} ms`);
  } catch (e) {
    out.error = (e as Error).message;
  } finally {
    tf.dispose([ones, x]);
  }
  return out;
}

const PASSES: GemmPass[] = ['forward', 'dx', 'dw'];

/** The names of a comma-separated `option`, each one of `allowed`, refusing others and an empty list. */
function namesOf<T extends string>(option: string, list: string, allowed: readonly T[]): T[] {
  const names = list.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const unknown = names.filter((p) => !(allowed as readonly string[]).includes(p));
  if (unknown.length > 0 || names.length === 0) throw new Error(`${option}: give some of ${allowed.join(', ')}; got '${list}'`);
  return names as T[];
}

const tunePasses = (list: string): GemmPass[] => namesOf('--tune-passes', list, PASSES);
/** --tune-kinds (undefined: every kind). */
const tuneKinds = (list: string | undefined): string[] | undefined => (list === undefined ? undefined : namesOf('--tune-kinds', list, TILING_KINDS));

/**
 * Times every candidate tiling of the given passes of each reference conv at `shape` and keeps the
 * fastest. Past `budgetSeconds` the classes not yet begun are left as they are (untuned, or the loaded
 * tilings), so a device call's time limit still leaves time to measure the network.
 */
async function tuneConvs(
  shape: Dhw, reps: number, passes: GemmPass[], only?: RegExp, kinds?: string[], afterClass: () => void = () => undefined, budgetSeconds = Infinity,
) {
  const rows = [];
  const t0 = performance.now();
  for (const c of REFERENCE_CONVS.filter((r) => !only || only.test(r.name))) {
    const input = referenceConvInput(c, shape);
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed > budgetSeconds) {
      rows.push({ name: c.name, input, skipped: `tuning budget of ${budgetSeconds} s spent (${elapsed.toFixed(0)} s)` });
      progress(`tune ${c.name} skipped: the tuning budget of ${budgetSeconds} s is spent`);
      continue;
    }
    try {
      const results = await autotuneConv({ input, cin: c.cin, cout: c.cout, k: c.k, stride: c.stride }, passes, reps, undefined, kinds);
      for (const r of results) {
        const speedup = r.defaultSeconds / r.bestSeconds;
        progress(`tune ${c.name} ${r.pass}: best ${convTilingKey(r.best)} ${(r.bestSeconds * 1e3).toFixed(2)} ms, default ${(r.defaultSeconds * 1e3).toFixed(2)} ms (${speedup.toFixed(2)}x), ${Object.keys(r.candidates).length} candidates`);
      }
      rows.push({ name: c.name, input, results });
    } catch (e) {
      rows.push({ name: c.name, input, error: (e as Error).message });
      progress(`tune ${c.name} failed: ${(e as Error).message}`);
    }
    // a conv that failed may have tuned some of its passes before
    afterClass();
  }
  return rows;
}


/** Max relative error of webgpu convs (all three passes) against tfjs-cpu on small odd shapes. */
async function checkAgainstCpu() {
  const cases: { x: [number, number, number, number, number]; cin: number; cout: number; stride: number }[] = [
    { x: [1, 9, 11, 10, 40], cin: 40, cout: 48, stride: 1 },
    { x: [1, 9, 11, 10, 17], cin: 17, cout: 16, stride: 1 },
    { x: [1, 10, 9, 11, 1], cin: 1, cout: 32, stride: 2 },
    { x: [1, 9, 8, 7, 104], cin: 104, cout: 48, stride: 1 },
    { x: [1, 9, 8, 7, 16], cin: 16, cout: 10, stride: 1 },
  ];
  const rows = [];
  for (const c of cases) {
    const f = [3, 3, 3, c.cin, c.cout] as [number, number, number, number, number];
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.randomUniform(c.x, -1, 1, 'float32', 11) as tf.Tensor5D;
      const w = tf.randomUniform(f, -0.2, 0.2, 'float32', 12) as tf.Tensor5D;
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, c.stride, 'same'))));
      const y = tf.conv3d(x, w, c.stride, 'same');
      const [dx, dw] = grads([x, w]);
      const out = [await y.data(), await dx.data(), await dw.data()];
      tf.dispose([x, w, y, dx, dw]);
      return out;
    };
    const gpu = await run('webgpu');
    const cpu = await run('cpu');
    await tf.setBackend('webgpu');
    const err = gpu.map((g, i) => {
      let d = 0;
      let m = 0;
      for (let j = 0; j < g.length; j++) {
        d = Math.max(d, Math.abs(g[j] - cpu[i][j]));
        m = Math.max(m, Math.abs(cpu[i][j]));
      }
      return d / (1 + m);
    });
    rows.push({ x: c.x, cout: c.cout, stride: c.stride, forward: err[0], dx: err[1], dw: err[2] });
    progress(`check ${c.x.join('x')} -> ${c.cout}: rel err fwd ${err[0].toExponential(1)} dx ${err[1].toExponential(1)} dW ${err[2].toExponential(1)}`);
  }
  return rows;
}

const argv = await yargs(hideBin(process.argv))
  .scriptName('bench-gpu')
  .usage('$0 [options]\n\nReference AnatomyNet forward, training step and per-conv GFLOP/s as JSON.')
  .option('backend', { choices: [...BACKEND_ORDER], describe: 'force a backend (default: best available)' })
  .option('shapes', { type: 'string', default: '64x128x128,178x302x225', describe: 'comma-separated DxHxW inputs' })
  .option('reps', { type: 'number', default: 3, describe: 'timed repetitions after a warm-up' })
  .option('model', { type: 'boolean', default: true, describe: 'time the whole network (--no-model to skip)' })
  .option('train', { type: 'boolean', default: true, describe: 'time a training step too (--no-train to skip)' })
  .option('train-shapes', { type: 'string', describe: 'comma-separated DxHxW at which to time the training step (default: every --shapes)' })
  .option('recompute', { type: 'boolean', default: false, describe: 'training step with each block recomputed in the backward pass (memory for compute)' })
  .option('keep-segments', { type: 'string', describe: 'with --recompute: segments not recomputed, comma-separated (the trainer\'s --keep-segments)' })
  .option('convs', { type: 'boolean', default: true, describe: 'time every distinct conv (--no-convs to skip)' })
  .option('conv-shapes', { type: 'string', describe: 'comma-separated DxHxW at which to time the convs (default: every --shapes)' })
  .option('pass-shapes', { type: 'string', describe: 'webgpu: comma-separated DxHxW at which to time the memory-bound passes (concat, split, SE end, upsampling, norm; default: where the convs are timed)' })
  .option('bound-pool', { type: 'boolean', default: true, describe: 'webgpu: after each timed training step, destroy the pooled buffers the step did not reuse, as the trainer does (--no-bound-pool keeps them all)' })
  .option('best-fit', { type: 'boolean', default: true, describe: 'webgpu: a request of 1 MiB or more with no pooled buffer of its size takes one up to twice as large, as the trainer does (--no-best-fit: tfjs\'s exact sizes, the trainer\'s --no-gpu-best-fit)' })
  .option('memory-budget-gb', { type: 'number', describe: 'webgpu: destroy the largest free buffers before a creation would take what is allocated past this many GB (the trainer\'s --gpu-memory-gb)' })
  .option('pool-cap-gb', { type: 'number', describe: 'webgpu: cap the free part of the buffer pool at this many GiB (the trainer\'s --gpu-pool-gb)' })
  .option('train-profile', { type: 'boolean', default: true, describe: 'after the timed steps, one step for the tensor peak and one for the GPU kernel profile' })
  .option('cpu-profile', { type: 'string', describe: 'write a V8 CPU profile (.cpuprofile) of the timed training steps to this file, one shape per run (summary: src/cpuprof-summary.mjs; their time then includes the sampler\'s small overhead)' })
  .option('compare-stock', { type: 'boolean', default: false, describe: 'webgpu: also time tfjs-backend-webgpu\'s own conv kernels' })
  .option('stock-shapes', { type: 'string', default: '64x128x128', describe: 'shapes at which --compare-stock times the stock convs' })
  .option('tune', { type: 'boolean', default: true, describe: 'webgpu: time every tiling (GEMM, direct, Winograd) per conv first and keep the fastest' })
  .option('tune-filter', { type: 'string', describe: 'tune only the reference convs whose name matches this regular expression (also after --tilings)' })
  .option('tune-passes', { type: 'string', default: 'forward,dx,dw', describe: 'the conv passes to tune, comma-separated (forward, dx, dw)' })
  .check((a) => tunePasses(String(a.tunePasses)) !== undefined)
  .option('tune-kinds', { type: 'string', describe: 'for conv classes already tuned (--tilings), time only these kernels\' candidates against the loaded winner (gemm, direct, direct-dw, winograd; default: all)' })
  .check((a) => tuneKinds(a.tuneKinds as string | undefined) !== null)
  .option('tune-shape', { type: 'string', default: '64x128x128', describe: 'DxHxW at which the tilings are timed' })
  .option('tune-reps', { type: 'number', default: 2, describe: 'timed runs per candidate tiling' })
  .option('tune-budget-s', { type: 'number', describe: 'stop tuning after this many seconds: the conv classes not yet begun keep their loaded (or untuned) tilings' })
  .check((a) => {
    if (a.tuneBudgetS !== undefined && !(Number(a.tuneBudgetS) > 0)) throw new Error(`--tune-budget-s: give a positive number of seconds; got ${a.tuneBudgetS}`);
    if (a.memoryBudgetGb !== undefined && !(Number(a.memoryBudgetGb) > 0)) throw new Error(`--memory-budget-gb: give a positive number of GB; got ${a.memoryBudgetGb}`);
    return true;
  })
  .option('tilings', { type: 'string', describe: 'load tuned tilings from this JSON (skips --tune unless --tune-filter)' })
  .option('save-tilings', { type: 'string', describe: 'write the tuned tilings to this JSON' })
  .option('json-out', { type: 'string', describe: 'also write the JSON so far to this file after each phase (survives a timeout)' })
  .option('check', { type: 'boolean', default: true, describe: 'webgpu: compare the conv kernels with tfjs-cpu on small shapes first' })
  .option('submit-batch', { type: 'number', describe: 'webgpu: dispatches per queue submit (tfjs\'s WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE, default 15)' })
  .option('bind-group-cache', {
    type: 'boolean', default: true,
    describe: 'webgpu: reuse bind groups and hand out pooled buffers lowest-number first (--no-bind-group-cache: tfjs\'s own, for an A/B; same as ANATOMYNET_BIND_GROUP_CACHE=0)',
  })
  .option('dispatch-cost', { type: 'boolean', default: true, describe: 'webgpu: time the WebGPU calls of one dispatch first (about a second)' })
  .option('own-fused', {
    type: 'boolean', default: true,
    describe: 'webgpu: the kernels under this project\'s own names: fused optimizer update, LeakyRelu gradient, norm, fused conv, residual sums, SE gate and its backward, upsampling, the losses\' voxel sums (--no-own-fused: tfjs\'s composed ops, for an A/B in one call)',
  })
  .strict()
  .help()
  .parseAsync();

if (!argv.bindGroupCache) process.env[BIND_GROUP_CACHE_ENV] = '0';
const recompute = recomputeOption(argv.recompute, argv.keepSegments);
const choice = await selectBackend({ prefer: argv.backend as BackendName | undefined, log: progress });
const webgpu = choice.backend === 'webgpu';
if (webgpu) watchGpuErrors();
if (webgpu && argv.submitBatch !== undefined) tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', argv.submitBatch);
if (webgpu && argv.poolCapGb !== undefined) capGpuBufferPool(argv.poolCapGb * 2 ** 30);
if (webgpu) useBestFitGpuBuffers(argv.bestFit);
if (webgpu && argv.memoryBudgetGb !== undefined) limitGpuMemory(argv.memoryBudgetGb * 1e9);
const withoutFused = webgpu && !argv.ownFused ? withoutOwnWebgpuKernels() : [];
const doc: Record<string, unknown> = {
  backend: choice.backend, reason: choice.reason, adapter: choice.adapter, ownKernels: choice.kernels.filter((k) => !withoutFused.includes(k)),
  dawnFlags: dawnFlags(), poolCapGb: argv.poolCapGb ?? null, memoryBudgetGb: argv.memoryBudgetGb ?? null, bestFit: webgpu && argv.bestFit,
  submitBatch: webgpu ? tf.env().getNumber('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') : null,
};
const device = webgpu ? (tf.backend() as unknown as { device: GPUDevice }).device : undefined;
const emit = () => process.stdout.write(`${JSON.stringify(doc)}\n`);
const saveTilings = () => {
  if (argv.saveTilings) writeFileAtomic(argv.saveTilings, JSON.stringify(tunedTilings(), null, 1));
};
const checkpoint = () => {
  doc.bindGroupCache = device ? bindGroupCacheStats(device) ?? null : null;
  if (!argv.jsonOut) return;
  writeFileSync(`${argv.jsonOut}.tmp`, JSON.stringify(doc));
  renameSync(`${argv.jsonOut}.tmp`, argv.jsonOut);
};
try {
  if (webgpu && argv.check) doc.check = await checkAgainstCpu();
  if (webgpu && argv.dispatchCost) {
    const cost = await measureDispatchCost();
    doc.dispatchCost = cost;
    progress(`dispatch cost (us): ${Object.entries(cost).map(([k, v]) => `${k.replace(/_us$/, '')} ${Number(v.toFixed(1))}`).join(', ')}`);
  }
  checkpoint();
  if (webgpu && argv.tilings) loadTunedTilings(parseTunedTilings(readFileSync(argv.tilings, 'utf8'), argv.tilings));
  if (webgpu && argv.tune && (!argv.tilings || argv.tuneFilter)) {
    const t0 = performance.now();
    // the file after each conv's tuning, so that a device call's time limit keeps what was tuned
    doc.tune = await tuneConvs(parseShapes(argv.tuneShape)[0], argv.tuneReps, tunePasses(argv.tunePasses), argv.tuneFilter ? new RegExp(argv.tuneFilter) : undefined,
      tuneKinds(argv.tuneKinds), saveTilings, argv.tuneBudgetS);
    doc.tune_s = (performance.now() - t0) / 1000;
    trimGpuBufferPool();
  }
  if (webgpu) doc.tilings = tunedTilings();
  // the tuned kernels (direct convs included) against tfjs-cpu too, not only the defaults
  if (webgpu && argv.check && Object.keys(tunedTilings()).length > 0) doc.checkTuned = await checkAgainstCpu();
  saveTilings();
  checkpoint();
  const stockAt = new Set(argv.stockShapes.split(',').map((t) => t.trim()));
  const results: Record<string, unknown>[] = [];
  doc.results = results;
  for (const shape of parseShapes(argv.shapes)) {
    const row: Record<string, unknown> = { shape };
    results.push(row);
    // convs first: the whole-volume training step leaves the least memory behind
    const convsHere = argv.convs && (!argv.convShapes || parseShapes(argv.convShapes).some((t) => t.join('x') === shape.join('x')));
    if (convsHere) row.convs = await benchConvs(shape, argv.reps, argv.compareStock && webgpu && stockAt.has(shape.join('x')));
    if (convsHere && webgpu) row.voxelSum = await benchVoxelSums(shape);
    const passesHere = argv.passShapes ? parseShapes(argv.passShapes).some((t) => t.join('x') === shape.join('x')) : convsHere;
    if (passesHere && webgpu) row.passes = await benchMemoryPasses(shape, progress);
    trimGpuBufferPool();
    checkpoint();
    const trainHere = argv.train && (!argv.trainShapes || parseShapes(argv.trainShapes).some((t) => t.join('x') === shape.join('x')));
    if (argv.model) Object.assign(row, await benchModel(shape, argv.reps, trainHere, recompute, { boundPool: argv.boundPool, trainProfile: argv.trainProfile, cpuProfile: argv.cpuProfile }));
    trimGpuBufferPool();
    row.gpuErrors = [...gpuErrors];
    checkpoint();
  }
} catch (e) {
  doc.error = (e as Error).stack ?? String(e);
  progress(`failed: ${doc.error}`);
}
checkpoint();
emit();
process.exit(0);
