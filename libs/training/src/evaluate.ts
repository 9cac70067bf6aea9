/**
 * Prediction and evaluation of prepared cases: argmax labels on the training grid (validation), or on
 * the case's own published grid (the final test evaluation and segmentation), where Dice, HD95 and
 * surface Dice are computed with its physical spacing; never on a padded grid.
 */
import * as tf from '@tensorflow/tfjs';
import { predict, type AnatomyNetModel } from '@anatomynet/model';
import { confusionCounts, diceFromCounts, evaluateLabels, largeConnectedComponents, largestConnectedComponent } from '@anatomynet/metrics';
import { ORGANS } from '@anatomynet/curation';
import type { PreparedCase } from './dataset';
import type { RunConfig } from './run-config';
import { canonicalShape, fromCanonical, type Orientation } from './orientation';
import { argmaxOfLinearResample, type Shape3 } from './resample';
import { leftRightClassSwap } from './augment';
import { slidingWindowProbabilities, type TileOptions } from './sliding-window';

/**
 * One trained model, or an ensemble (e.g. a grid row's seed replicates, `trainer segment --run A --run
 * B`) whose members see the same input grid and whose class probabilities are averaged before the
 * argmax, as nnU-Net ensembles its folds.
 */
export type Predictor = AnatomyNetModel | readonly AnatomyNetModel[];

export const membersOf = (p: Predictor): readonly AnatomyNetModel[] => (Array.isArray(p) ? p : [p as AnatomyNetModel]);

/**
 * How class probabilities are taken. `mirror`: averaged with those of the left-right mirrored CT, mirrored
 * back with left and right organs swapped (test-time augmentation, as nnU-Net mirrors along the axes it
 * trained with): one model's labels then mirror exactly with the CT (an ensemble's, up to the rounding of
 * its sums), and each member is run twice. Only for models trained with left-right flips (run-folder.ts
 * `mirrorRefusal`). `tile`: sliding-window inference over tiles of the network grid (sliding-window.ts)
 * where the volume is larger than one, for memory that cannot hold a whole-volume pass; each tile is
 * mirrored and ensembled as a volume would be.
 */
export interface PredictOptions {
  mirror?: boolean;
  tile?: TileOptions;
}

/**
 * Mirrors class probabilities [1, D, H, W, C] (W: the patient's left-right axis, canonical grid) along W
 * and swaps each left organ's class with its right partner's; its own inverse. Takes ownership of `p`.
 */
export function mirrorProbabilities(p: tf.Tensor5D): tf.Tensor5D {
  const [b, d, h, w, c] = p.shape;
  // rank 3: tfjs's Reverse kernels are not written for every backend above rank 4
  const flat = tf.reshape(p, [b * d * h, w, c]);
  p.dispose();
  const reversed = tf.reverse(flat, 1);
  flat.dispose();
  const swapped = tf.gather(reversed, leftRightClassSwap(c), 2);
  reversed.dispose();
  const out = tf.reshape(swapped, [b, d, h, w, c]) as tf.Tensor5D;
  swapped.dispose();
  return out;
}

/** The input CT [1, D, H, W, 1] mirrored along W. */
function mirrorInput(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [b, d, h, w, c] = x.shape;
    return tf.reshape(tf.reverse(tf.reshape(x, [b * d * h, w, c]), 1), x.shape);
  });
}

/** The class probabilities of `x`: the model's, or the mean of the members' (and of their mirrored views), one member in memory at a time. */
function predictProbabilities(p: Predictor, x: tf.Tensor, o: Pick<PredictOptions, 'mirror'> = {}): tf.Tensor {
  const mirrored = o.mirror ? mirrorInput(x) : null;
  const views = membersOf(p).flatMap((m) => [() => predict(m, x), ...(mirrored ? [() => mirrorProbabilities(predict(m, mirrored))] : [])]);
  let sum = views[0]();
  for (const view of views.slice(1)) {
    const next = view();
    const added = tf.add(sum, next) as tf.Tensor5D;
    tf.dispose([sum, next]);
    sum = added;
  }
  mirrored?.dispose();
  if (views.length === 1) return sum;
  const mean = tf.div(sum, views.length);
  sum.dispose();
  return mean;
}

/** The tile to slide over `x` [1, D, H, W, 1], or undefined where there is none or the volume fits in one. */
function tileFor(x: tf.Tensor, o: PredictOptions): TileOptions | undefined {
  const [, d, h, w] = x.shape;
  const tile = o.tile;
  return tile && (tile.size[0] < w! || tile.size[1] < h! || tile.size[2] < d!) ? tile : undefined;
}

/**
 * The class probabilities of `x` on the host, [D, H, W, C] with C fastest: {@link predictProbabilities}
 * of the whole volume, or blended tile by tile (then the whole map never lives on the device).
 */
async function probabilityData(p: Predictor, x: tf.Tensor, o: PredictOptions): Promise<Float32Array> {
  const tile = tileFor(x, o);
  if (tile) return (await slidingWindowProbabilities(x, tile, (part) => predictProbabilities(p, part, o))).data;
  const probs = predictProbabilities(p, x, o);
  const data = (await probs.data()) as Float32Array;
  probs.dispose();
  return data;
}

/** Label map (argmax over classes) of one prepared case, on its training grid, [nx, ny, nz] i fastest. */
export async function predictLabels(model: Predictor, image: Float32Array, shape: [number, number, number], o: PredictOptions = {}): Promise<Uint8Array> {
  const x = tf.tensor5d(image, [1, shape[2], shape[1], shape[0], 1]);
  if (tileFor(x, o)) {
    const data = await probabilityData(model, x, o);
    x.dispose();
    return argmaxOfClasses(data, membersOf(model)[0].config.numClasses);
  }
  const probs = predictProbabilities(model, x, o);
  const labels = tf.tidy(() => tf.argMax(probs, -1));
  const data = await labels.data();
  tf.dispose([x, probs, labels]);
  return Uint8Array.from(data);
}

/** Per voxel, the class of the largest probability (the first on a tie, as tf.argMax); `p` holds `classes` values per voxel. */
function argmaxOfClasses(p: Float32Array, classes: number): Uint8Array {
  const out = new Uint8Array(p.length / classes);
  for (let v = 0, o = 0; v < out.length; v++, o += classes) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (p[o + c]! > p[o + best]!) best = c;
    out[v] = best;
  }
  return out;
}

/**
 * Label map on the volume's own grid (`sourceShape`, source axis order) from the network's view of it.
 * When the network grid is coarser, the class probabilities are resampled linearly before the argmax
 * (smooth edges; on the synthetic cohort's 4 mm smoke grid this raised test Dice by about 0.03 on the
 * mandible and 0.015 on the parotids over repeating the coarse labels).
 */
export async function predictOnSourceGrid(
  model: Predictor, image: Float32Array, networkShape: Shape3, sourceShape: Shape3, orientation: Orientation, o: PredictOptions = {},
): Promise<Uint8Array> {
  const cShape = canonicalShape(sourceShape, orientation);
  if (networkShape.join() === cShape.join()) return fromCanonical(await predictLabels(model, image, networkShape, o), sourceShape, orientation);
  const x = tf.tensor5d(image, [1, networkShape[2], networkShape[1], networkShape[0], 1]);
  const data = await probabilityData(model, x, o);
  x.dispose();
  return fromCanonical(argmaxOfLinearResample(data, membersOf(model)[0].config.numClasses, networkShape, cShape), sourceShape, orientation);
}

/**
 * Keeps the largest 26-connected component of each organ, and with minShare < 1 every component of
 * at least that share of the largest: far-away false positives go to background.
 */
export function keepLargestComponents(labels: Uint8Array, shape: [number, number, number], numClasses: number, minShare = 1): Uint8Array {
  const out = new Uint8Array(labels.length);
  for (let c = 1; c < numClasses; c++) {
    const mask = new Uint8Array(labels.length);
    let any = false;
    for (let p = 0; p < labels.length; p++) {
      if (labels[p] === c) {
        mask[p] = 1;
        any = true;
      }
    }
    if (!any) continue;
    const kept = minShare < 1 ? largeConnectedComponents(mask, shape, minShare, 26) : largestConnectedComponent(mask, shape, 26);
    for (let p = 0; p < labels.length; p++) if (kept[p]) out[p] = c;
  }
  return out;
}

/** Hard Dice per organ (1..9) of annotated organs; NaN where not annotated. */
export function validationDice(pred: Uint8Array, c: PreparedCase, numClasses: number): number[] {
  const counts = confusionCounts(pred, c.labels, numClasses);
  return ORGANS.map((o, i) => (c.annotated[i] ? diceFromCounts(counts[o.index]!) : NaN));
}

export interface OrganResult {
  organ: string;
  label: number;
  dsc: number;
  hd95Mm: number;
  surfaceDice: number;
  meanSurfaceDistanceMm: number;
  tp: number;
  fp: number;
  fn: number;
}

/** Final metrics of one case on its own grid (`predOnSourceGrid` from {@link predictOnSourceGrid}), annotated organs only. */
export function evaluateOnSourceGrid(
  predOnSourceGrid: Uint8Array,
  c: PreparedCase,
  opts: { numClasses: number; toleranceMm: number; largestComponent: boolean; componentMinShare?: number },
): { rows: OrganResult[]; labels: Uint8Array } {
  let pred = predOnSourceGrid;
  if (opts.largestComponent) pred = keepLargestComponents(pred, c.source.shape, opts.numClasses, opts.componentMinShare ?? 1);
  const organs = ORGANS.filter((_, i) => c.annotated[i]);
  if (!organs.length) return { rows: [], labels: pred };
  const rows = evaluateLabels(pred, c.source.labels, c.source.shape, c.source.spacingMm, opts.numClasses, {
    labels: organs.map((o) => o.index),
    toleranceMm: opts.toleranceMm,
  });
  const out = rows.map((r, i) => ({
    organ: organs[i].key,
    label: r.label,
    dsc: r.dice,
    hd95Mm: r.hd95Mm,
    surfaceDice: r.surfaceDice,
    meanSurfaceDistanceMm: r.meanSurfaceDistanceMm,
    tp: r.tp,
    fp: r.fp,
    fn: r.fn,
  }));
  return { rows: out, labels: pred };
}

/** How a run config measures a case (the test split, and external datasets alike). */
export const evaluationOptions = (cfg: RunConfig) => ({
  numClasses: cfg.model.numClasses,
  toleranceMm: cfg.evaluation.surfaceToleranceMm,
  largestComponent: cfg.evaluation.largestComponent,
  componentMinShare: cfg.evaluation.componentMinShare,
});

/** Segments one prepared case on its own grid and scores the organs it annotates. */
export async function evaluateCase(model: Predictor, c: PreparedCase, cfg: RunConfig, o: PredictOptions = {}): Promise<{ rows: OrganResult[]; labels: Uint8Array }> {
  const pred = await predictOnSourceGrid(model, c.image, c.shape, c.source.shape, c.orientation, o);
  return evaluateOnSourceGrid(pred, c, evaluationOptions(cfg));
}

/** Mean over finite values; NaN when none. */
export function nanMean(v: readonly number[]): number {
  const f = v.filter(Number.isFinite);
  return f.length ? f.reduce((a, b) => a + b, 0) / f.length : NaN;
}
