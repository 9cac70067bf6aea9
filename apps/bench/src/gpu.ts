#!/usr/bin/env node
// GPU benchmark: the reference AnatomyNet (shared/bench/ref_anatomynet.py) forward and one training
// step, then every distinct conv's forward / dx / dW GFLOP/s, on the selected backend. Prints one
// JSON document on stdout (progress on stderr). Runs on the device machine through
// shared/bench/devpack.sh: `devpack.sh apps/bench/src/gpu.ts` then `run.sh .devpack/bench.mjs ARGS`.
import * as tf from '@tensorflow/tfjs';
import {
  BACKEND_ORDER, benchConvGflops, referenceConvInput, REFERENCE_CONVS, registerWebgpuKernels, selectBackend,
  useStockWebgpuKernels, type BackendName,
} from '@anatomynet/compute';
import { buildModel, DEFAULT_MODEL_CONFIG, predict, summarizeModel, trainStep } from '@anatomynet/model';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

type Dhw = [number, number, number];

function parseShapes(s: string): Dhw[] {
  return s.split(',').map((t) => {
    const v = t.trim().split('x').map(Number);
    if (v.length !== 3 || v.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`--shapes: "${t}" is not DxHxW`);
    return v as Dhw;
  });
}

const progress = (line: string) => process.stderr.write(`[bench-gpu ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** Soft Dice over the 10 classes against a fixed label pattern: the loss the trainer optimises. */
function softDiceTo(target: tf.Tensor2D) {
  return (p: tf.Tensor5D): tf.Scalar =>
    tf.tidy(() => {
      const pf = p.reshape([-1, p.shape[4]]);
      const inter = tf.sum(tf.mul(pf, target), 0);
      const denom = tf.add(tf.sum(pf, 0), tf.sum(target, 0));
      return tf.sub(1, tf.mean(tf.div(tf.mul(2, inter), tf.add(denom, 1e-5)))) as tf.Scalar;
    });
}

async function settle(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(t.reshape([-1]), 0, 1));
  await one.data();
  one.dispose();
}

async function benchModel(shape: Dhw, reps: number, train: boolean) {
  const cfg = DEFAULT_MODEL_CONFIG;
  const model = buildModel(cfg, { seed: 1 });
  const x = tf.randomNormal([1, ...shape, 1], 0, 1, 'float32', 5);
  const out: Record<string, unknown> = { shape, trainingBytesEstimate: summarizeModel(cfg, shape).trainingBytes };
  try {
    let t0 = performance.now();
    let y = predict(model, x);
    await settle(y);
    y.dispose();
    out.forwardFirst_s = (performance.now() - t0) / 1000;
    t0 = performance.now();
    for (let i = 0; i < reps; i++) {
      y = predict(model, x);
      if (i === reps - 1) await settle(y);
      y.dispose();
    }
    out.forward_s = (performance.now() - t0) / 1000 / reps;
    progress(`forward ${shape.join('x')}: ${(out.forward_s as number).toFixed(4)} s`);
    if (train) {
      const target = tf.tidy(() =>
        tf.oneHot(tf.cast(tf.mul(tf.sigmoid(x), 9.99), 'int32').reshape([-1]), cfg.numClasses).toFloat()) as tf.Tensor2D;
      const opt = tf.train.sgd(1e-3);
      const loss = softDiceTo(target);
      t0 = performance.now();
      const first = await trainStep(model, opt, x, loss);
      out.trainFirst_s = (performance.now() - t0) / 1000;
      t0 = performance.now();
      let last = first;
      for (let i = 0; i < reps; i++) last = await trainStep(model, opt, x, loss);
      out.trainStep_s = (performance.now() - t0) / 1000 / reps;
      out.loss = { first, last };
      progress(`train step ${shape.join('x')}: ${(out.trainStep_s as number).toFixed(4)} s`);
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
        progress(`${c.name} @${input.join('x')} ${variant}: ${Object.entries(r.passes).map(([p, v]) => `${p} ${v!.gflops.toFixed(1)} GF/s`).join(', ')}`);
      } catch (e) {
        row[`${variant}Error`] = (e as Error).message;
      } finally {
        if (variant === 'stock') registerWebgpuKernels();
      }
    }
    rows.push(row);
  }
  return rows;
}

const argv = await yargs(hideBin(process.argv))
  .scriptName('bench-gpu')
  .usage('$0 [options]\n\nReference AnatomyNet forward, training step and per-conv GFLOP/s as JSON.')
  .option('backend', { choices: [...BACKEND_ORDER], describe: 'force a backend (default: best available)' })
  .option('shapes', { type: 'string', default: '178x302x225,64x128x128', describe: 'comma-separated DxHxW inputs' })
  .option('reps', { type: 'number', default: 3, describe: 'timed repetitions after a warm-up' })
  .option('model', { type: 'boolean', default: true, describe: 'time the whole network (--no-model to skip)' })
  .option('train', { type: 'boolean', default: true, describe: 'time a training step too (--no-train to skip)' })
  .option('convs', { type: 'boolean', default: true, describe: 'time every distinct conv (--no-convs to skip)' })
  .option('compare-stock', { type: 'boolean', default: false, describe: 'webgpu: also time tfjs-backend-webgpu\'s own conv kernels' })
  .strict()
  .help()
  .parseAsync();

const choice = await selectBackend({ prefer: argv.backend as BackendName | undefined, log: progress });
const results = [];
for (const shape of parseShapes(argv.shapes)) {
  const row: Record<string, unknown> = { shape };
  if (argv.model) Object.assign(row, await benchModel(shape, argv.reps, argv.train));
  if (argv.convs) row.convs = await benchConvs(shape, argv.reps, argv.compareStock && choice.backend === 'webgpu');
  results.push(row);
}
process.stdout.write(`${JSON.stringify({ backend: choice.backend, reason: choice.reason, adapter: choice.adapter, ownKernels: choice.kernels, results })}\n`);
process.exit(0);
