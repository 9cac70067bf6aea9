/**
 * Compute benchmark: GFLOP/s of Conv3D forward and both gradients at AnatomyNet's layer shapes,
 * AnatomyNet forward and training-step seconds, and what dominates a training step, on one
 * backend, with stock tfjs-cpu measured in the same run for the ratio. Prints one JSON object.
 *   npm run bench -- --backend cpu|wasm|webgpu [--shape 64,128,128] [--stock-shape 16,32,32]
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import {
  conv3dEngine, conv3dFlops, conv3dGeometry, FUSED_CONV3D, hasFusions, registerCpuKernels, withoutFusions, selectBackend, unregisterCpuKernels,
  type BackendName,
} from '@anatomynet/compute';
import { buildModel, forward, trainStep, type AnatomyNetModel } from '@anatomynet/model';

type S3 = [number, number, number];
type S5 = [number, number, number, number, number];
type Pass = 'forward' | 'backpropInput' | 'backpropFilter';
const PASSES: Pass[] = ['forward', 'backpropInput', 'backpropFilter'];

/** One distinct convolution of the network, at full-resolution input shape `base` = 1. */
interface ConvLayer {
  name: string;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  /** Input resolution relative to the network input (1 full, 0.5 half). */
  scale: number;
  /** How many times the network runs it per forward pass. */
  count: number;
}

const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const parseShape = (s: string): S3 => {
  const v = s.split(/[,x]/).map(Number);
  if (v.length !== 3 || v.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`bad shape "${s}": want D,H,W`);
  return v as S3;
};

const seconds = (t0: number): number => (performance.now() - t0) / 1e3;

/** CPU seconds (all threads of this process) of the last {@link timeIt} call's median run. */
let lastCpuSeconds = 0;

/**
 * Median wall seconds of `reps` timed runs after one warm-up; `fn` must free what it makes.
 * Also records the CPU seconds of that run in lastCpuSeconds: on a machine shared with other
 * work, FLOP per CPU-second x cores estimates what the kernels give on an idle machine.
 */
async function timeIt(fn: () => Promise<void> | void, reps: number): Promise<number> {
  await fn();
  const t: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const c = process.cpuUsage(c0);
    t.push({ wall: seconds(t0), cpu: (c.user + c.system) / 1e6 });
  }
  t.sort((a, b) => a.wall - b.wall);
  const m = t[Math.floor(t.length / 2)];
  lastCpuSeconds = m.cpu;
  return m.wall;
}

/**
 * The network's distinct convolutions, read from a profiled forward pass at a small shape
 * (input/output shapes of every Conv3D kernel; 'same' padding, stride from the size ratio).
 */
async function traceConvs(model: AnatomyNetModel, small: S3): Promise<ConvLayer[]> {
  const x = tf.randomNormal([1, ...small, 1]);
  const info = await tf.profile(() => tf.tidy(() => forward(model, x, { training: false })));
  x.dispose();
  const seen = new Map<string, ConvLayer>();
  for (const k of info.kernels) {
    // eval mode runs the fused conv where the backend has it; its first two inputs are x and the filter
    if (k.name !== 'Conv3D' && k.name !== FUSED_CONV3D) continue;
    const [xs, ws] = k.inputShapes;
    const [kd, , , cin, cout] = ws;
    const scale = xs[1] / small[0];
    const stride = Math.round(xs[1] / k.outputShapes[0][1]);
    const key = `${cin}->${cout} k${kd} s${stride} @${scale}`;
    const l = seen.get(key);
    if (l) l.count++;
    else seen.set(key, { name: key, cin, cout, k: kd, stride, scale, count: 1 });
  }
  return [...seen.values()];
}

/** Runs one pass of a layer at spatial size `full` on the active backend; returns seconds. */
async function timeConvPass(l: ConvLayer, full: S3, pass: Pass, reps: number): Promise<{ s: number; cpu: number; flops: number }> {
  const xs: S5 = [1, ...full.map((d) => Math.max(1, Math.round(d * l.scale))) as S3, l.cin];
  const ws: S5 = [l.k, l.k, l.k, l.cin, l.cout];
  const g = conv3dGeometry(xs, ws, l.stride, 'same');
  const x = tf.randomNormal(xs);
  const w = tf.randomNormal(ws);
  const dy = tf.randomNormal([1, g.outD, g.outH, g.outW, l.cout]);
  const attrs = { strides: l.stride, pad: 'same' };
  const run = async (): Promise<void> => {
    const out = pass === 'forward'
      ? tf.engine().runKernel('Conv3D', { x, filter: w }, { ...attrs, dilations: 1, dataFormat: 'NDHWC' })
      : pass === 'backpropInput'
        ? tf.engine().runKernel('Conv3DBackpropInputV2', { dy, filter: w }, { ...attrs, inputShape: xs })
        : tf.engine().runKernel('Conv3DBackpropFilterV2', { x, dy }, { ...attrs, filterShape: ws });
    await (out as tf.Tensor).data();
    (out as tf.Tensor).dispose();
  };
  const s = await timeIt(run, reps);
  tf.dispose([x, w, dy]);
  return { s, cpu: lastCpuSeconds, flops: conv3dFlops(g) };
}

/** gflops: wall-clock; gflopsPerCpuSecond: FLOP per CPU-second of this process (all threads). */
interface PassResult { gflops: number; gflopsPerCpuSecond: number; seconds: number; gflop: number }
type LayerResult = Record<Pass, PassResult>;

async function benchLayers(layers: ConvLayer[], full: S3, reps: number, label: string): Promise<Record<string, LayerResult>> {
  const out: Record<string, LayerResult> = {};
  for (const l of layers) {
    const r = {} as LayerResult;
    for (const p of PASSES) {
      const { s, cpu, flops } = await timeConvPass(l, full, p, reps);
      r[p] = {
        gflops: +(flops / s / 1e9).toFixed(2), gflopsPerCpuSecond: +(flops / Math.max(cpu, 1e-6) / 1e9).toFixed(2),
        seconds: +s.toFixed(4), gflop: +(flops / 1e9).toFixed(3),
      };
      progress(`[${label}] ${l.name} ${p}: ${r[p].gflops} GFLOP/s wall, ${r[p].gflopsPerCpuSecond} per CPU-second (${r[p].seconds} s)`);
    }
    out[l.name] = r;
  }
  return out;
}

/** FLOP-weighted GFLOP/s of each pass over the whole network's convolutions (counts included). */
function aggregate(layers: ConvLayer[], res: Record<string, LayerResult>, perCpu = false): Record<Pass, number> {
  const agg = {} as Record<Pass, number>;
  for (const p of PASSES) {
    let f = 0, s = 0;
    for (const l of layers) {
      const r = res[l.name][p];
      f += r.gflop * l.count;
      s += (perCpu ? r.gflop / r.gflopsPerCpuSecond : r.seconds) * l.count;
    }
    agg[p] = +(f / s).toFixed(2);
  }
  return agg;
}

function diceLoss(labels: tf.Tensor5D): (p: tf.Tensor5D) => tf.Scalar {
  return (p) => tf.tidy(() => {
    const inter = tf.sum(tf.mul(p, labels));
    const denom = tf.add(tf.sum(p), tf.sum(labels));
    return tf.sub(1, tf.div(tf.mul(2, inter), denom)) as tf.Scalar;
  });
}

/** Forward (eval) and training-step seconds; optionally the top kernels of one profiled step. */
async function benchModel(shape: S3, classes: number, reps: number, profileTop: number, label: string) {
  const model = buildModel({}, { seed: 1 });
  const x = tf.randomNormal([1, ...shape, 1]);
  const labels = tf.tidy(() => tf.oneHot(tf.randomUniform([1, ...shape], 0, classes, 'int32'), classes).toFloat()) as tf.Tensor5D;
  const opt = tf.train.adam(1e-3);
  const loss = diceLoss(labels);
  progress(`[${label}] model ${shape.join('x')}: forward`);
  const fwd = await timeIt(async () => {
    const y = tf.tidy(() => forward(model, x, { training: false }));
    await y.data();
    y.dispose();
  }, reps);
  const fwdCpu = lastCpuSeconds;
  // the same forward with the eval-mode fusions off (composed conv, bias, norm, LeakyReLU, sum)
  const fwdComposed = !hasFusions() ? undefined
    : await withoutFusions(() => timeIt(async () => {
      const y = tf.tidy(() => forward(model, x, { training: false }));
      await y.data();
      y.dispose();
    }, reps));
  progress(`[${label}] model ${shape.join('x')}: forward ${fwd.toFixed(2)} s${fwdComposed === undefined ? '' : ` (eval-mode fusions off: ${fwdComposed.toFixed(2)} s)`}; training step`);
  const step = await timeIt(async () => { await trainStep(model, opt, x, loss); }, reps);
  const stepCpu = lastCpuSeconds;
  progress(`[${label}] model ${shape.join('x')}: training step ${step.toFixed(2)} s`);
  let top: { kernel: string; ms: number; share: number; calls: number }[] | undefined;
  if (profileTop > 0) {
    const info = await tf.profile(async () => { await trainStep(model, opt, x, loss); });
    const by = new Map<string, { ms: number; calls: number }>();
    let total = 0;
    for (const k of info.kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      total += ms;
      const e = by.get(k.name) ?? { ms: 0, calls: 0 };
      e.ms += ms;
      e.calls++;
      by.set(k.name, e);
    }
    top = [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, profileTop)
      .map(([kernel, e]) => ({ kernel, ms: Math.round(e.ms), share: +(e.ms / total).toFixed(3), calls: e.calls }));
  }
  tf.dispose([x, labels, ...model.params.values()]);
  opt.dispose();
  return {
    forwardSeconds: +fwd.toFixed(3), trainStepSeconds: +step.toFixed(3),
    ...(fwdComposed === undefined ? {} : { forwardWithoutEvalFusionsSeconds: +fwdComposed.toFixed(3) }),
    forwardCpuSeconds: +fwdCpu.toFixed(3), trainStepCpuSeconds: +stepCpu.toFixed(3),
    ...(top ? { trainStepTopKernels: top } : {}),
  };
}

/** OpenBLAS sgemm 2048^3 through Debian's numpy, as the machine's native ceiling (if present). */
function blasPeak(): number | undefined {
  try {
    const code = 'import numpy as n,time;a=n.random.rand(2048,2048).astype(n.float32);b=a.copy();a@b;'
      + 't=time.perf_counter();[a@b for _ in range(5)];print(5*2*2048**3/(time.perf_counter()-t)/1e9)';
    return +Number(execFileSync('/usr/bin/python3', ['-c', code], { encoding: 'utf8', timeout: 60_000 })).toFixed(1);
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('bench')
    .usage('$0 [options]\n\nConv3D GFLOP/s per pass at AnatomyNet shapes, model forward/training-step seconds, stock tfjs-cpu ratio; prints JSON.')
    .option('backend', { choices: ['cpu', 'wasm', 'webgpu'] as const, default: 'cpu' as const, describe: 'backend under test (cpu = tfjs-cpu with this project\'s wasm SIMD conv kernels)' })
    .option('shape', { type: 'string', default: '64,128,128', describe: 'input D,H,W for ops and the model' })
    .option('stock-shape', { type: 'string', default: '16,32,32', describe: 'smaller D,H,W for stock tfjs-cpu (it is ~50x slower); ours is re-run there for the ratio' })
    .option('reps', { type: 'number', default: 2, describe: 'timed repetitions after a warm-up (median reported)' })
    .option('threads', { type: 'number', default: availableParallelism(), describe: 'threads of the cpu conv kernels' })
    .option('ops', { type: 'boolean', default: true, describe: 'benchmark the conv passes per layer' })
    .option('model', { type: 'boolean', default: true, describe: 'benchmark AnatomyNet forward and training step' })
    .option('stock', { type: 'boolean', default: true, describe: 'measure stock tfjs-cpu too' })
    .option('profile-top', { type: 'number', default: 12, describe: 'kernels listed from a profiled training step (0: no profile)' })
    .option('peak', { type: 'boolean', default: true, describe: 'measure the micro-kernel peak and numpy sgemm' })
    .strict()
    .help()
    .parseAsync();

  const shape = parseShape(argv.shape);
  const stockShape = parseShape(argv['stock-shape']);
  const report: Record<string, unknown> = {
    date: new Date().toISOString(), node: process.version, cores: availableParallelism(),
    backend: argv.backend, shape, stockShape, reps: argv.reps, threads: argv.threads,
    loadAverageAtStart: loadavg().map((v) => +v.toFixed(2)),
  };
  const choice = await selectBackend({ prefer: argv.backend as BackendName, log: progress });
  report.backendChoice = { backend: choice.backend, reason: choice.reason, kernels: choice.kernels };
  if (argv.backend === 'cpu') registerCpuKernels({ threads: argv.threads });

  if (argv.peak) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const oneWall = conv3dEngine(argv.threads).measurePeak(1);
    const c = process.cpuUsage(c0);
    const one = oneWall * seconds(t0) / ((c.user + c.system) / 1e6);
    report.peak = {
      wasmMicroKernelOneThreadGflops: +one.toFixed(1),
      wasmMicroKernelAllThreadsGflops: +(one * argv.threads).toFixed(1),
      numpySgemmGflops: blasPeak(),
      wasmMicroKernelOneThreadWallGflops: +oneWall.toFixed(1),
      note: '4x8 f32x4 micro-kernel on L1-resident data (mul+add, no FMA in Node 20 wasm), per CPU-second; numpy = OpenBLAS sgemm 2048^3 (wall)',
    };
    progress(`peak: ${JSON.stringify(report.peak)}`);
  }

  await tf.setBackend('cpu');
  const traceModel = buildModel({}, { seed: 1 });
  const resolved = await traceConvs(traceModel, [8, 16, 16]);
  tf.dispose([...traceModel.params.values()]);
  report.layers = resolved.map(({ name, count }) => ({ name, count }));
  await tf.setBackend(choice.backend);

  const results: Record<string, unknown> = {};
  if (argv.ops) {
    const ours = await benchLayers(resolved, shape, argv.reps, `${argv.backend} ${shape.join('x')}`);
    results.ops = ours;
    results.opsNetworkWeighted = aggregate(resolved, ours);
    results.opsNetworkWeightedPerCpuSecond = aggregate(resolved, ours, true);
    if (argv.stock) {
      const oursSmall = await benchLayers(resolved, stockShape, argv.reps, `${argv.backend} ${stockShape.join('x')}`);
      await tf.setBackend('cpu');
      unregisterCpuKernels();
      const stock = await benchLayers(resolved, stockShape, 1, `stock tfjs-cpu ${stockShape.join('x')}`);
      if (argv.backend === 'cpu') registerCpuKernels({ threads: argv.threads });
      await tf.setBackend(choice.backend);
      const a = aggregate(resolved, oursSmall), b = aggregate(resolved, stock);
      results.stockComparison = {
        shape: stockShape,
        ours: a,
        stockTfjsCpu: b,
        oursPerCpuSecond: aggregate(resolved, oursSmall, true),
        stockTfjsCpuPerCpuSecond: aggregate(resolved, stock, true),
        speedup: Object.fromEntries(PASSES.map((p) => [p, +(a[p] / b[p]).toFixed(1)])),
        stockOps: stock,
      };
    }
  }
  if (argv.model) {
    results.model = await benchModel(shape, 10, Math.max(1, argv.reps - 1), argv['profile-top'], argv.backend);
    if (argv.stock) {
      const oursSmall = await benchModel(stockShape, 10, argv.reps, 0, `${argv.backend} ${stockShape.join('x')}`);
      await tf.setBackend('cpu');
      unregisterCpuKernels();
      const stock = await benchModel(stockShape, 10, 1, argv['profile-top'], `stock tfjs-cpu ${stockShape.join('x')}`);
      if (argv.backend === 'cpu') registerCpuKernels({ threads: argv.threads });
      results.modelStockComparison = {
        shape: stockShape, ours: oursSmall, stockTfjsCpu: stock,
        speedup: {
          forward: +(stock.forwardSeconds / oursSmall.forwardSeconds).toFixed(1),
          trainStep: +(stock.trainStepSeconds / oursSmall.trainStepSeconds).toFixed(1),
        },
      };
    }
  }
  report.loadAverageAtEnd = loadavg().map((v) => +v.toFixed(2));
  process.stdout.write(`${JSON.stringify({ ...report, ...results }, null, 2)}\n`);
  conv3dEngine().dispose();
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
