#!/usr/bin/env node
// GPU memory of the reference training step (the one `npm run bench` times) on the webgpu backend, or
// of segmenting a volume (`--inference`: whole, and tile by tile with `--tile`), without running it: tfjs records and allocates as on a GPU while nothing is submitted
// (libs/compute dry_run.ts), so the figures come from any machine with a WebGPU adapter, lavapipe
// included, in seconds. Prints one JSON document on stdout (progress on stderr).
import * as tf from '@tensorflow/tfjs';
import {
  boundGpuBufferPool, capGpuBufferPool, gpuMemoryPeaks, gpuPoolStats, limitGpuMemory, loadTunedTilings, parseTunedTilings, selectBackend, trimGpuBufferPool,
  useBestFitGpuBuffers, withoutGpuExecution, assumeBindingLimit,
} from '@anatomynet/compute';
import { buildModel, DEFAULT_MODEL_CONFIG, readModelConfigFile, recomputeOption, trainStep, type ModelConfig, type Recompute } from '@anatomynet/model';
import { LOSS_NAMES, type LossName } from '@anatomynet/losses';
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { parseTileSize, predictLabels, type TileOptions } from '@anatomynet/training';
import { parseShapes, referenceOptimizer, referenceTarget, REFERENCE_LOSS, trainerLossTo, type Dhw } from './reference-step';

/** How the buffer pool is run: the trainer's defaults and its two alternatives. */
const POOLS = {
  /** Bounded between steps, best fit (the trainer's default). */
  'best-fit': { bestFit: true, capBytes: undefined },
  /** Bounded between steps, tfjs's exact sizes (`--no-gpu-best-fit`). */
  exact: { bestFit: false, capBytes: undefined },
  /** No freed buffer kept (`--gpu-pool-gb 0`): live tensors only, every buffer created anew. */
  cap0: { bestFit: false, capBytes: 0 },
} as const;
type PoolName = keyof typeof POOLS;

const progress = (line: string) => process.stderr.write(`[bench-memory ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;

/**
 * `steps` training steps from an empty pool, recorded without running, the pool bounded after each as
 * the trainer does: the most bytes allocated in each and in all, the most in use, and what the last
 * (settled) step created. The model, made here, holds garbage afterwards.
 */
async function stepMemory(
  cfg: ModelConfig, shape: Dhw, recompute: Recompute, pool: PoolName, o: { steps: number; loss: LossName; budgetBytes?: number },
) {
  const { steps, loss: lossName, budgetBytes } = o;
  const { bestFit, capBytes } = POOLS[pool];
  trimGpuBufferPool();
  useBestFitGpuBuffers(bestFit);
  capGpuBufferPool(capBytes);
  limitGpuMemory(budgetBytes);
  const dry = await withoutGpuExecution(async () => {
    const model = buildModel(cfg, { seed: 1 });
    const x = tf.randomNormal([1, ...shape, 1], 0, 1, 'float32', 5);
    const target = referenceTarget(x, cfg.numClasses);
    const opt = referenceOptimizer();
    const loss = trainerLossTo(target, lossName);
    try {
      const allocatedPerStep: number[] = [];
      let inUsePeak = 0;
      let lastStep = { before: gpuPoolStats(), after: gpuPoolStats() };
      for (let i = 0; i < steps; i++) {
        const before = gpuPoolStats();
        gpuMemoryPeaks(true);
        await trainStep(model, opt, x, loss, { recompute });
        const peaks = gpuMemoryPeaks(true);
        allocatedPerStep.push(peaks.allocated);
        inUsePeak = Math.max(inUsePeak, peaks.inUse);
        boundGpuBufferPool();
        lastStep = { before, after: gpuPoolStats() };
      }
      const { before, after } = lastStep;
      return {
        allocatedPeakBytes: Math.max(...allocatedPerStep),
        inUsePeakBytes: inUsePeak,
        allocatedPeakPerStep: allocatedPerStep,
        buffersCreated: after.buffersCreated - before.buffersCreated,
        bytesCreated: after.bytesCreated - before.bytesCreated,
        largerServed: after.largerServed - before.largerServed,
        flushes: after.flushes - before.flushes,
        buffersEvicted: after.buffersEvicted - before.buffersEvicted,
        bytesEvicted: after.bytesEvicted - before.bytesEvicted,
      };
    } finally {
      tf.dispose([x, target]);
      opt.dispose();
      model.dispose();
    }
  });
  capGpuBufferPool(undefined);
  limitGpuMemory(undefined);
  trimGpuBufferPool();
  return { ...dry.result, droppedSubmits: dry.droppedSubmits, validationError: dry.validationError ?? null };
}

/**
 * Segmenting one volume as `trainer segment` does (the class probabilities, then their argmax), whole or
 * tile by tile, recorded without running from an empty pool: the most bytes allocated and in use.
 */
async function inferenceMemory(cfg: ModelConfig, shape: Dhw, tile: TileOptions | undefined) {
  trimGpuBufferPool();
  useBestFitGpuBuffers(true);
  const dry = await withoutGpuExecution(async () => {
    const model = buildModel(cfg, { seed: 1 });
    try {
      gpuMemoryPeaks(true);
      const [d, h, w] = shape;
      await predictLabels(model, new Float32Array(d * h * w), [w, h, d], tile ? { tile } : {});
      const peaks = gpuMemoryPeaks(true);
      return { allocatedPeakBytes: peaks.allocated, inUsePeakBytes: peaks.inUse };
    } finally {
      model.dispose();
    }
  });
  trimGpuBufferPool();
  return { ...dry.result, droppedSubmits: dry.droppedSubmits, validationError: dry.validationError ?? null };
}

const argv = await yargs(hideBin(process.argv))
  .scriptName('bench-memory')
  .usage(
    '$0 [options]\n\nGPU memory of the reference training step (npm run bench\'s) on webgpu, recorded without running the kernels: ' +
      'the most bytes allocated (tensors and the buffer pool) and in use by tensors, and the buffers a settled step creates, as JSON. ' +
      'Figures of the recording, not of a GPU: tfjs allocates the same whatever the device computes (libs/compute dry_run.test.ts).',
  )
  .option('config', { type: 'string', describe: 'model config JSON (libs/model/configs/*.json, as trainer model --config; default: the reference network, ref_anatomynet.py\'s)' })
  .option('shapes', { type: 'string', default: '178x302x225', describe: 'comma-separated DxHxW inputs' })
  .option('recompute', { type: 'boolean', default: true, describe: 'blocks recomputed in the backward pass (--no-recompute: activations kept)' })
  .option('pools', {
    type: 'string', default: 'best-fit,exact,cap0',
    describe: `buffer pools, comma-separated: ${Object.keys(POOLS).join(', ')} (the trainer's default, its --no-gpu-best-fit, its --gpu-pool-gb 0)`,
  })
  .option('keep-segments', { type: 'string', describe: 'with --recompute: segments not recomputed, comma-separated (enc0.b0 ... enc3.b0, dec2.b0 ... dec0.b0, out): their activations kept, for speed' })
  .option('steps', { type: 'number', default: 6, describe: 'steps recorded per figure: the peaks are the most over all of them, the buffers created those of the last (settled) one (a recomputed whole-volume step\'s pool grows for four)' })
  .option('tilings', { type: 'string', describe: 'tuned tilings JSON (npm run bench --save-tilings): their kernels\' scratch buffers, as on that GPU' })
  .option('loss', { type: 'string', default: 'dice+focal', choices: LOSS_NAMES, describe: 'the training loss (libs/losses, its defaults; the trainer\'s default: dice+focal)' })
  .option('budget-gb', { type: 'number', describe: 'the trainer\'s --gpu-memory-gb: free buffers destroyed before a creation would take the allocation past this many GB (1e9 bytes)' })
  .option('inference', { type: 'boolean', default: false, describe: 'record segmenting each shape (trainer segment\'s class probabilities and argmax) instead of training steps: whole, and with --tile tile by tile' })
  .option('tile', { type: 'string', array: true, describe: 'with --inference: also tile by tile, N or X,Y,Z voxels (trainer segment --tile), overlap 0.5; repeat for several sizes' })
  .option('binding-gib', { type: 'number', describe: 'the recorded GPU\'s largest storage binding, which bounds the Winograd kernel\'s chunks (2 on an H100 or H200; default: this adapter\'s)' })
  .check((a) => {
    for (const p of a.pools.split(',')) if (!(p in POOLS)) throw new Error(`--pools: "${p}" is none of ${Object.keys(POOLS).join(', ')}`);
    if (a.budgetGb != null && !(Number(a.budgetGb) > 0)) throw new Error(`--budget-gb ${a.budgetGb}: give a positive number of GB`);
    if (a.bindingGib != null && !(Number(a.bindingGib) > 0)) throw new Error(`--binding-gib ${a.bindingGib}: give a positive number of GiB`);
    const tiles = (a.tile as string[] | undefined) ?? [];
    if (tiles.length && !a.inference) throw new Error('--tile goes with --inference');
    for (const t of tiles) if (!parseTileSize(t)) throw new Error(`--tile ${t}: give N or X,Y,Z, whole numbers of voxels of at least 8`);
    if (!(Number.isInteger(a.steps) && a.steps >= 2)) throw new Error(`--steps ${a.steps}: give 2 or more (the first makes the optimizer's slots)`);
    return true;
  })
  .strict()
  .help()
  .parseAsync();

/** Stops with the reason on one line (a bad config file, an unknown segment, no adapter): no stack. */
function fail(message: string, code = 1): never {
  process.stderr.write(`bench-memory: ${message}\n`);
  process.exit(code);
}
let cfg: ModelConfig = DEFAULT_MODEL_CONFIG;
let recompute: Recompute = false;
try {
  if (argv.config) cfg = readModelConfigFile(argv.config);
  recompute = recomputeOption(argv.recompute, argv.keepSegments);
} catch (e) {
  fail((e as Error).message);
}
const choice = await selectBackend({ prefer: 'webgpu', log: progress });
if (choice.backend !== 'webgpu') {
  fail(`needs a WebGPU adapter (got ${choice.backend}: ${choice.reason}); on a machine without a GPU, install mesa-vulkan-drivers (lavapipe, see shared/FACTS.md)`, 2);
}
try {
  if (argv.tilings) loadTunedTilings(parseTunedTilings(readFileSync(argv.tilings, 'utf8'), argv.tilings));
} catch (e) {
  fail((e as Error).message);
}
if (argv.bindingGib != null) assumeBindingLimit(Math.min(argv.bindingGib * 2 ** 30, 2 ** 32 - 4));

const a = choice.adapter;
const rows: Record<string, unknown>[] = [];
const budgetBytes = argv.budgetGb == null ? undefined : argv.budgetGb * 1e9;
const tiles: (TileOptions | undefined)[] = [undefined, ...(argv.tile ?? []).map((t) => ({ size: parseTileSize(t)!, overlap: 0.5 }))];
for (const shape of argv.inference ? parseShapes(argv.shapes) : []) {
  for (const tile of tiles) {
    const t0 = performance.now();
    const m = await inferenceMemory(cfg, shape, tile).catch((e: Error) => fail(`${shape.join('x')} inference: ${e.message}`));
    rows.push({ shape, inference: true, tile: tile ?? null, ...m });
    progress(`${shape.join('x')} segmented ${tile ? `in tiles of ${tile.size.join('x')} voxels` : 'whole'}: at most ${gb(m.allocatedPeakBytes)} allocated, ${gb(m.inUsePeakBytes)} in use (recorded in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
}
for (const shape of argv.inference ? [] : parseShapes(argv.shapes)) {
  for (const pool of argv.pools.split(',') as PoolName[]) {
    const t0 = performance.now();
    const m = await stepMemory(cfg, shape, recompute, pool, { steps: argv.steps, loss: argv.loss as LossName, budgetBytes }).catch((e: Error) => fail(`${shape.join('x')} ${pool}: ${e.message}`));
    rows.push({ shape, recompute, pool, ...m });
    progress(
      `${shape.join('x')} ${pool}: at most ${gb(m.allocatedPeakBytes)} allocated (steps: ${m.allocatedPeakPerStep.map(gb).join(', ')}), ` +
        `${gb(m.inUsePeakBytes)} in use; a settled step creates ${m.buffersCreated} buffer(s), ${gb(m.bytesCreated)}, submits ${m.flushes} time(s) to free buffers first, destroys ${m.buffersEvicted} free one(s), ${gb(m.bytesEvicted)}, for the budget (recorded in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }
}
process.stdout.write(`${JSON.stringify({
  recordedOn: a ? [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') : null,
  config: argv.config ?? 'reference (DEFAULT_MODEL_CONFIG)',
  tilings: argv.tilings ?? null,
  optimizer: argv.inference ? null : 'RMSprop (npm run bench\'s)',
  loss: argv.inference ? null : argv.loss === 'dice+focal' ? REFERENCE_LOSS : `${argv.loss} (libs/losses defaults)`,
  results: rows,
})}\n`);
process.exit(0);
