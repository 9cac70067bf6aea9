/**
 * The smoke demo's unit of work on CPU: one training step (forward, loss, backward, RMSprop update) of a
 * grid's smoke cell at its crop size, with this project's cpu kernels and with stock tfjs-cpu, in one
 * process on the same random input. Training steps are >95% of the demo's time, so their ratio is the
 * end-to-end speed-up of the demo over tfjs-cpu. Prints one JSON object.
 *   npm run bench:smoke -- [--grid experiments/fig3-pooling.json --row pool1 --reps 20 --stock-reps 3]
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { registerCpuKernels, rmspropOptimizer, selectBackend, unregisterCpuKernels } from '@anatomynet/compute';
import { buildModel, trainStep } from '@anatomynet/model';
import { caseLoss, planGrid, readGridFile, type RunConfig } from '@anatomynet/training';

const a = await yargs(hideBin(process.argv))
  .scriptName('bench:smoke')
  .usage('$0 [options]\n\nSeconds per smoke training step: own cpu kernels vs stock tfjs-cpu.')
  .option('grid', { type: 'string', default: 'experiments/fig3-pooling.json', describe: 'grid file whose smoke profile to time' })
  .option('row', { type: 'string', default: 'pool1', describe: 'row key' })
  .option('reps', { type: 'number', default: 20, describe: 'timed steps with the own kernels' })
  .option('stock-reps', { type: 'number', default: 3, describe: 'timed steps on stock tfjs-cpu (slow)' })
  .strict()
  .help()
  .parseAsync();

const cell = planGrid(readGridFile(a.grid), 'smoke', a.grid).find((c) => c.key === a.row);
if (!cell) throw new Error(`${a.grid}: no row "${a.row}"`);
const cfg: RunConfig = cell.config;
const [cx, cy, cz] = cfg.data.cropVoxels ?? [32, 32, 32];
await selectBackend({ prefer: 'cpu', log: () => undefined });

// A typical case: two organs missing, so the mask (paper's or marginal) is what a real step uses.
const annotated = [true, false, true, true, true, true, true, false, false];
const x = tf.randomUniform([1, cz, cy, cx, 1], 0, 1, 'float32', 1) as tf.Tensor5D;
const y = tf.oneHot(tf.randomUniform([cx * cy * cz], 0, cfg.model.numClasses, 'int32', 2) as tf.Tensor1D, cfg.model.numClasses).reshape([1, cz, cy, cx, cfg.model.numClasses]) as tf.Tensor5D;
const lossFn = caseLoss(cfg);

async function secondsPerStep(reps: number): Promise<number> {
  const model = buildModel(cfg.model, { seed: cfg.seed });
  // the trainer's optimizer: fused updates with the own kernels, tfjs's after unregisterCpuKernels
  const opt = rmspropOptimizer(cfg.schedule.rmspropLr, cfg.schedule.rmspropDecay, cfg.schedule.rmspropMomentum);
  const step = () => trainStep(model, opt, x, (p) => lossFn(p, y, annotated));
  await step(); // warm-up: optimizer slots, kernel JIT
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await step();
  const s = (performance.now() - t0) / 1000 / reps;
  model.dispose();
  opt.dispose();
  return s;
}

const own = await secondsPerStep(a.reps);
unregisterCpuKernels();
const stock = await secondsPerStep(a['stock-reps']);
registerCpuKernels();
console.log(
  JSON.stringify({
    grid: cell.grid,
    row: cell.key,
    crop: [cx, cy, cz],
    filters: cfg.model.filters,
    ownSecondsPerStep: +own.toFixed(3),
    stockTfjsCpuSecondsPerStep: +stock.toFixed(3),
    speedup: +(stock / own).toFixed(1),
    loadAverage: +loadavg()[0].toFixed(2),
  }),
);
