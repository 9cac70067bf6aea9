/**
 * Checkpoints: a folder per epoch holding the model (libs/model format, digest-checked), the optimizer's
 * slots and the loop's state, written under a temporary name and renamed, so a kill -9 leaves either the
 * previous checkpoint or the new one, never half of one.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadModel, saveModel, type AnatomyNetModel } from '@anatomynet/model';
import type { AverageValues } from './weight-average';

export interface LoopState {
  /** Epochs completed. */
  epoch: number;
  /** Optimisation steps completed. */
  step: number;
  phase: 'rmsprop' | 'sgd';
  bestValDice: number;
  bestEpoch: number;
}

export interface Checkpoint {
  dir: string;
  state: LoopState;
  /** sha256 over the folder's files (model digest, optimizer, weight average, state). */
  sha256: string;
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** Float arrays back to back, as optimizer.bin and average.bin store them. */
const floatBytes = (arrays: Float32Array[]) => Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));

/** A .bin file of floats (copied, so the array is aligned whatever the Buffer's offset). */
function readFloats(path: string): Float32Array {
  const bin = readFileSync(path);
  return new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
}

/** Optimizer slots in creation order (tfjs matches them to variables by index, not by name). */
async function optimizerBytes(opt: tf.Optimizer): Promise<{ meta: { name: string; shape: number[] }[]; bin: Buffer }> {
  const weights = await opt.getWeights();
  const meta: { name: string; shape: number[] }[] = [];
  const parts: Float32Array[] = [];
  for (const w of weights) {
    meta.push({ name: w.name.replace(/^anatomynet\d+\//, ''), shape: w.tensor.shape });
    parts.push((await w.tensor.data()) as Float32Array);
  }
  return { meta, bin: floatBytes(parts) };
}

/** The weight average's arrays in name order, concatenated. */
function averageBytes(average: AverageValues): { names: string[]; bin: Buffer } {
  const names = [...average.keys()].sort();
  return { names, bin: floatBytes(names.map((n) => average.get(n)!)) };
}

/** Writes a checkpoint; `average` (a run with schedule.emaDecay) goes to average.bin, so a resumed run continues it. */
export async function saveCheckpoint(dir: string, model: AnatomyNetModel, opt: tf.Optimizer, state: LoopState, average?: AverageValues): Promise<Checkpoint> {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await saveModel(model, join(tmp, 'model'));
  const { meta, bin } = await optimizerBytes(opt);
  const avg = average ? averageBytes(average) : null;
  const stateText = `${JSON.stringify({ state, optimizer: { className: opt.getClassName(), slots: meta }, ...(avg ? { average: avg.names } : {}) }, null, 1)}\n`;
  writeFileSync(join(tmp, 'optimizer.bin'), bin);
  if (avg) writeFileSync(join(tmp, 'average.bin'), avg.bin);
  writeFileSync(join(tmp, 'state.json'), stateText);
  const digest = sha256(readFileSync(join(tmp, 'model', 'digest.sha256')) + sha256(bin) + (avg ? sha256(avg.bin) : '') + sha256(stateText));
  mkdirSync(dirname(dir), { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, state, sha256: digest };
}

/** Loads a checkpoint's model, its state and weight average (if it has one), and restores the optimizer's slots into `opt`. */
export async function loadCheckpoint(dir: string, makeOptimizer: (phase: LoopState['phase']) => tf.Optimizer): Promise<{
  model: AnatomyNetModel;
  optimizer: tf.Optimizer;
  state: LoopState;
  average?: AverageValues;
}> {
  if (!existsSync(join(dir, 'state.json'))) throw new Error(`${dir}: not a checkpoint (state.json missing)`);
  const { state, optimizer: o, average: averageNames } = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
    state: LoopState;
    optimizer: { className: string; slots: { name: string; shape: number[] }[] };
    average?: string[];
  };
  const model = loadModel(join(dir, 'model'));
  const optimizer = makeOptimizer(state.phase);
  if (optimizer.getClassName() !== o.className) throw new Error(`${dir}: optimizer ${o.className} saved, ${optimizer.getClassName()} expected`);
  const floats = readFloats(join(dir, 'optimizer.bin'));
  let off = 0;
  const weights = o.slots.map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(floats.slice(off, off + n), s.shape);
    off += n;
    return { name: s.name, tensor: t };
  });
  if (off !== floats.length) throw new Error(`${dir}: optimizer.bin holds ${floats.length} floats, slots need ${off}`);
  await optimizer.setWeights(weights);
  tf.dispose(weights.map((w) => w.tensor));
  return { model, optimizer, state, average: averageNames ? readAverage(dir, averageNames, model) : undefined };
}

function readAverage(dir: string, names: string[], model: AnatomyNetModel): AverageValues {
  const floats = readFloats(join(dir, 'average.bin'));
  const sizes = new Map([...model.params, ...model.buffers].map(([n, v]) => [n, v.size]));
  const out: AverageValues = new Map();
  let off = 0;
  for (const n of names) {
    const size = sizes.get(n);
    if (size === undefined) throw new Error(`${dir}: average.bin names ${n}, which the model does not have`);
    out.set(n, floats.slice(off, off + size));
    off += size;
  }
  if (off !== floats.length) throw new Error(`${dir}: average.bin holds ${floats.length} floats, the names need ${off}`);
  return out;
}

/**
 * Deletes the epoch checkpoints of `dir` (`epoch-NNNNN` folders) but the latest `keep` (0 keeps all):
 * a 200-epoch run of the paper's network would otherwise keep about 2 GB of them. Two by default, so a
 * checkpoint damaged on disk still leaves one to resume from. Returns the folders deleted.
 */
export function pruneCheckpoints(dir: string, keep: number): string[] {
  if (keep <= 0 || !existsSync(dir)) return [];
  const epochs = readdirSync(dir).filter((f) => /^epoch-\d+$/.test(f)).sort();
  const old = epochs.slice(0, Math.max(0, epochs.length - keep)).map((f) => join(dir, f));
  for (const f of old) rmSync(f, { recursive: true, force: true });
  return old;
}
