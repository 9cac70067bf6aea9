/**
 * Sliding-window inference, as nnU-Net and MONAI's `sliding_window_inference` do it: the network grid is
 * covered by overlapping tiles, each tile's class probabilities are weighted by a Gaussian centred on the
 * tile (sigma an eighth of its size, so the tile's edges, where its zero padding shows, count little) and
 * the weighted sum is divided by the summed weights. Memory then follows the tile, not the volume: for a
 * machine (a CPU workstation, a small GPU) that cannot hold a whole-volume forward pass of a full-size
 * model. The paper segments whole volumes, and so does everything here without a tile.
 *
 * Written here rather than borrowed: the tiling is a few lines over tfjs slices, and the sums are kept
 * on the host so that only one tile's tensors live on the device at a time.
 */
import * as tf from '@tensorflow/tfjs';
import type { Shape3 } from './resample';

/** A tile on the network grid: canonical [x, y, z] voxels, and the share of it that neighbouring tiles overlap. */
export interface TileOptions {
  size: Shape3;
  /** In [0, 1): 0.5 (nnU-Net's step of half a tile) by default. */
  overlap: number;
}

export const DEFAULT_TILE_OVERLAP = 0.5;

/** The smallest tile edge accepted from a user: below it a tile is mostly its own zero padding. */
export const MIN_TILE_VOXELS = 8;

/** A tile size as users write it: `N` (a cube) or `X,Y,Z`, whole voxels of at least {@link MIN_TILE_VOXELS}; null when it is not one. */
export function parseTileSize(text: string): Shape3 | null {
  const parts = text.split(',').map((t) => t.trim());
  if (parts.length !== 1 && parts.length !== 3) return null;
  if (!parts.every((t) => /^\d+$/.test(t) && Number(t) >= MIN_TILE_VOXELS)) return null;
  const n = parts.map(Number);
  return n.length === 1 ? [n[0]!, n[0]!, n[0]!] : [n[0]!, n[1]!, n[2]!];
}

/**
 * Where tiles start along one axis of `size` voxels: evenly spaced from 0 to `size - tile`, at most
 * `tile * (1 - overlap)` apart (nnU-Net's `compute_steps_for_sliding_window`), and symmetric about the
 * axis' middle, so that a mirrored volume is tiled by the mirrored tiles (test-time mirroring then
 * mirrors exactly): one tile more where a middle tile would start half a voxel off a whole one. One
 * tile at 0 where the axis fits in one.
 */
export function tileStarts(size: number, tile: number, overlap: number): number[] {
  if (!(tile >= 1) || !Number.isInteger(tile)) throw new RangeError(`tileStarts: tile ${tile} is not a whole number of voxels`);
  if (!(overlap >= 0 && overlap < 1)) throw new RangeError(`tileStarts: overlap ${overlap} is not in [0, 1)`);
  if (size <= tile) return [0];
  const span = size - tile;
  const step = Math.max(1, Math.floor(tile * (1 - overlap)));
  let n = Math.ceil(span / step) + 1;
  if (n % 2 === 1 && span % 2 === 1) n++;
  const actual = span / (n - 1);
  const starts = Array.from({ length: n }, (_, i) => Math.round(i * actual));
  for (let i = 0; i < n / 2; i++) starts[n - 1 - i] = span - starts[i]!;
  return starts;
}

/**
 * The weight of each voxel of a tile [tz][ty][tx] (x fastest): a Gaussian with sigma an eighth of the
 * tile along each axis, centred on the tile, 1 at its centre.
 */
export function gaussianImportance(tile: Shape3): Float32Array {
  const axis = (n: number) => {
    const sigma = n / 8, centre = (n - 1) / 2;
    return Float64Array.from({ length: n }, (_, i) => Math.exp(-0.5 * ((i - centre) / sigma) ** 2));
  };
  const [wx, wy, wz] = tile.map(axis);
  const peak = Math.max(...wx!) * Math.max(...wy!) * Math.max(...wz!);
  const out = new Float32Array(tile[0] * tile[1] * tile[2]);
  for (let z = 0, o = 0; z < tile[2]; z++) for (let y = 0; y < tile[1]; y++) for (let x = 0; x < tile[0]; x++, o++) out[o] = (wz![z]! * wy![y]! * wx![x]!) / peak;
  return out;
}

/**
 * Class probabilities of `input` [1, D, H, W, 1] (D: z) tile by tile, on the host: [D, H, W, C], C
 * fastest. `predictTile` gets each tile [1, tz, ty, tx, 1] and returns its probabilities
 * [1, tz, ty, tx, C] (which this takes ownership of). A tile larger than the volume along an axis
 * shrinks to it.
 */
export async function slidingWindowProbabilities(input: tf.Tensor, tile: TileOptions, predictTile: (x: tf.Tensor) => tf.Tensor): Promise<{ data: Float32Array; classes: number }> {
  const [, d, h, w] = input.shape as number[];
  const size: Shape3 = [Math.min(tile.size[0], w!), Math.min(tile.size[1], h!), Math.min(tile.size[2], d!)];
  const weight = gaussianImportance(size);
  const [xs, ys, zs] = [tileStarts(w!, size[0], tile.overlap), tileStarts(h!, size[1], tile.overlap), tileStarts(d!, size[2], tile.overlap)];
  let sum: Float32Array | null = null, pairSum: Float32Array | null = null;
  let classes = 0;
  const weights = new Float32Array(d! * h! * w!), pairWeights = new Float32Array(size[2] * size[1] * w!);
  // Along W (left-right), a tile and its mirror image's partner are blended together first, then added
  // pair by pair from the outside in: a left-right mirrored volume, tiled by the mirrored tiles, then
  // gets exactly the mirrored sums (a + b is b + a; a longer sum would depend on its order).
  const pairs = Array.from({ length: Math.ceil(xs!.length / 2) }, (_, k) => [...new Set([xs![k]!, xs![xs!.length - 1 - k]!])]);
  for (const z0 of zs!) for (const y0 of ys!) for (const pair of pairs) {
    pairWeights.fill(0);
    pairSum?.fill(0);
    for (const x0 of pair) {
      const part = tf.slice(input, [0, z0, y0, x0, 0], [1, size[2], size[1], size[0], 1]);
      const probs = predictTile(part);
      part.dispose();
      const p = (await probs.data()) as Float32Array;
      classes = probs.shape[4]!;
      probs.dispose();
      pairSum ??= new Float32Array(pairWeights.length * classes);
      for (let z = 0, t = 0; z < size[2]; z++) {
        for (let y = 0; y < size[1]; y++) {
          let r = (z * size[1] + y) * w! + x0;
          for (let x = 0; x < size[0]; x++, t++, r++) {
            const g = weight[t]!;
            pairWeights[r]! += g;
            for (let c = 0; c < classes; c++) pairSum[r * classes + c]! += Math.fround(g * p[t * classes + c]!); // each term a float32, as the mirrored pair adds it
          }
        }
      }
    }
    sum ??= new Float32Array(d! * h! * w! * classes);
    for (let z = 0; z < size[2]; z++) {
      for (let y = 0; y < size[1]; y++) {
        const r0 = (z * size[1] + y) * w!, v0 = ((z0 + z) * h! + y0 + y) * w!;
        for (let x = 0; x < w!; x++) {
          weights[v0 + x]! += pairWeights[r0 + x]!;
          for (let c = 0; c < classes; c++) sum[(v0 + x) * classes + c]! += pairSum![(r0 + x) * classes + c]!;
        }
      }
    }
  }
  for (let v = 0; v < weights.length; v++) for (let c = 0; c < classes; c++) sum![v * classes + c]! /= weights[v]!;
  return { data: sum!, classes };
}
