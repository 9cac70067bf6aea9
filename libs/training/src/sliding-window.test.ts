import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, test } from 'vitest';
import { selectBackend } from '@anatomynet/compute';
import { buildModel, predict, validateModelConfig } from '@anatomynet/model';
import { mulberry32 } from '@anatomynet/random';
import { predictLabels } from './evaluate';
import { gaussianImportance, parseTileSize, slidingWindowProbabilities, tileStarts } from './sliding-window';

type Shape3 = [number, number, number];

beforeAll(() => selectBackend({ prefer: 'cpu', log: () => undefined }));

/** The tests' own account of the blending: each voxel's probabilities weighted by exp(-(d/sigma)^2 / 2) per axis from its tile's centre. */
function blendedByLoops(volume: Shape3, tile: Shape3, starts: number[][], tileProbs: (x0: number, y0: number, z0: number) => Float32Array, classes: number): Float32Array {
  const [w, h, d] = volume;
  const sum = new Float64Array(w * h * d * classes), weights = new Float64Array(w * h * d);
  const g = (i: number, n: number) => Math.exp(-0.5 * ((i - (n - 1) / 2) / (n / 8)) ** 2);
  for (const z0 of starts[2]!) for (const y0 of starts[1]!) for (const x0 of starts[0]!) {
    const p = tileProbs(x0, y0, z0);
    for (let z = 0; z < tile[2]; z++) for (let y = 0; y < tile[1]; y++) for (let x = 0; x < tile[0]; x++) {
      const wt = g(x, tile[0]) * g(y, tile[1]) * g(z, tile[2]);
      const v = ((z0 + z) * h + y0 + y) * w + x0 + x;
      weights[v] += wt;
      for (let c = 0; c < classes; c++) sum[v * classes + c] += wt * p[((z * tile[1] + y) * tile[0] + x) * classes + c]!;
    }
  }
  return Float32Array.from(sum, (s, i) => s / weights[Math.floor(i / classes)]!);
}

describe('tileStarts', () => {
  test('evenly spaced from 0 to size - tile, at most a step of tile * (1 - overlap) apart, symmetric about the middle', () => {
    expect(tileStarts(100, 128, 0.5)).toEqual([0]);
    expect(tileStarts(128, 128, 0.5)).toEqual([0]);
    expect(tileStarts(256, 128, 0.5)).toEqual([0, 64, 128]);
    expect(tileStarts(200, 128, 0.5)).toEqual([0, 36, 72]);
    expect(tileStarts(256, 128, 0)).toEqual([0, 128]);
    // three tiles would put the middle one at 64.5: four, mirrored pairs
    expect(tileStarts(257, 128, 0)).toEqual([0, 43, 86, 129]);
    expect(tileStarts(101, 40, 0)).toEqual([0, 20, 41, 61]); // 61 / 3 = 20.33: 20, and 61 - 20
    const rng = mulberry32(3);
    for (let n = 0; n < 200; n++) {
      const tile = 1 + Math.floor(rng() * 40), size = 1 + Math.floor(rng() * 200), overlap = Math.floor(rng() * 10) / 10;
      const s = tileStarts(size, tile, overlap);
      expect(s[0]).toBe(0);
      expect(s.at(-1)).toBe(Math.max(0, size - tile));
      expect(s.map((x) => Math.max(0, size - tile) - x).reverse()).toEqual(s);
      for (let i = 1; i < s.length; i++) {
        expect(s[i]! - s[i - 1]!).toBeGreaterThan(0);
        expect(s[i]! - s[i - 1]!).toBeLessThanOrEqual(Math.max(1, Math.floor(tile * (1 - overlap))));
      }
    }
  });

  test('refuses an overlap outside [0, 1) and a tile that is not a whole number of voxels', () => {
    expect(() => tileStarts(10, 4, 1)).toThrow(/overlap 1 is not in \[0, 1\)/);
    expect(() => tileStarts(10, 4, -0.1)).toThrow(/overlap/);
    expect(() => tileStarts(10, 2.5, 0.5)).toThrow(/tile 2.5/);
    expect(() => tileStarts(10, 0, 0.5)).toThrow(/tile 0/);
  });
});

describe('parseTileSize', () => {
  test('N is a cube, X,Y,Z a box; anything else, or an edge under 8 voxels, is no tile', () => {
    expect(parseTileSize('96')).toEqual([96, 96, 96]);
    expect(parseTileSize('96, 128,64')).toEqual([96, 128, 64]);
    for (const bad of ['7', '8,8', '8,8,8,8', '8.5', '-8', 'x', '', '96,7,96']) expect(parseTileSize(bad), bad).toBeNull();
  });
});

describe('gaussianImportance', () => {
  test('1 at the centre, symmetric, sigma an eighth of the tile along each axis', () => {
    const tile: Shape3 = [9, 5, 7];
    const g = gaussianImportance(tile);
    const at = (x: number, y: number, z: number) => g[(z * tile[1] + y) * tile[0] + x]!;
    expect(at(4, 2, 3)).toBe(1);
    expect(at(0, 0, 0)).toBe(at(8, 4, 6));
    expect(at(0, 2, 3)).toBeCloseTo(Math.exp(-0.5 * (4 / (9 / 8)) ** 2), 6);
    expect(at(4, 0, 3)).toBeCloseTo(Math.exp(-0.5 * (2 / (5 / 8)) ** 2), 6);
    expect(at(4, 2, 0)).toBeCloseTo(Math.exp(-0.5 * (3 / (7 / 8)) ** 2), 6);
    expect(Math.min(...g)).toBeGreaterThan(0);
  });
});

describe('slidingWindowProbabilities', () => {
  // odd sizes, tiles that do not divide them
  const volume: Shape3 = [11, 17, 13];
  const n = volume[0] * volume[1] * volume[2];
  const rng = mulberry32(7);
  const image = Float32Array.from({ length: n }, () => rng() * 2 - 1);
  const input = () => tf.tensor5d(image, [1, volume[2], volume[1], volume[0], 1]);

  test('a voxel-wise model gives exactly its whole-volume probabilities, whatever the tiles', async () => {
    const voxelwise = (x: tf.Tensor) => tf.tidy(() => tf.softmax(tf.concat([x, tf.mul(x, 2), tf.neg(x)], 4)));
    const whole = (await voxelwise(input()).data()) as Float32Array;
    for (const [tile, overlap] of [[[5, 6, 7], 0.5], [[4, 4, 4], 0], [[11, 3, 13], 0.25]] as [Shape3, number][]) {
      const { data: tiled, classes } = await slidingWindowProbabilities(input(), { size: tile, overlap }, voxelwise);
      expect(classes).toBe(3);
      let worst = 0;
      tiled.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - whole[i]!))));
      expect(worst, `tile ${tile} overlap ${overlap}`).toBeLessThan(1e-6);
    }
  });

  test('a left-right mirrored volume gets exactly the mirrored probabilities, however many tiles overlap a voxel', async () => {
    const voxelwise = (x: tf.Tensor) => tf.tidy(() => tf.softmax(tf.concat([x, tf.mul(x, 2), tf.neg(x)], 4)));
    const mirrored = () => tf.reverse(input(), 3);
    for (const [tile, overlap] of [[[5, 6, 7], 0.5], [[4, 8, 8], 0.8], [[8, 8, 8], 0.6], [[10, 9, 9], 0.25]] as [Shape3, number][]) {
      const a = (await slidingWindowProbabilities(input(), { size: tile, overlap }, voxelwise)).data;
      const b = (await slidingWindowProbabilities(mirrored(), { size: tile, overlap }, voxelwise)).data;
      const back = (await tf.reverse(tf.tensor5d(b, [1, volume[2], volume[1], volume[0], 3]), 3).data()) as Float32Array;
      expect(Array.from(back), `tile ${tile} overlap ${overlap}`).toEqual(Array.from(a));
    }
  });

  test('blends each tile\'s own output by its Gaussian weights, as written with loops', async () => {
    // a model whose output says where in its tile a voxel lies: any misplaced tile or axis shows
    const tile: Shape3 = [5, 6, 7];
    const local = (t: Shape3) => Float32Array.from({ length: t[0] * t[1] * t[2] * 3 }, (_, i) => {
      const v = Math.floor(i / 3), x = v % t[0], y = Math.floor(v / t[0]) % t[1], z = Math.floor(v / (t[0] * t[1]));
      return [x, 10 * y, 100 * z][i % 3]!;
    });
    const byTile = () => tf.tensor5d(local(tile), [1, tile[2], tile[1], tile[0], 3]);
    const tiled = (await slidingWindowProbabilities(input(), { size: tile, overlap: 0.5 }, byTile)).data;
    const starts = [0, 1, 2].map((a) => tileStarts(volume[a]!, tile[a]!, 0.5));
    const expected = blendedByLoops(volume, tile, starts, () => local(tile), 3);
    tiled.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 3));
  });

  test('an AnatomyNet: the labels are the argmax of its tiles\' probabilities blended as written with loops; a tile as large as the volume is the whole-volume pass', async () => {
    const model = buildModel(validateModelConfig({ filters: [4, 6], blocksPerStage: 1, block: 'residual', outputUpFilters: 4, outputFilters: 4 }), { seed: 11 });
    const tile: Shape3 = [6, 8, 7];
    const starts = [0, 1, 2].map((a) => tileStarts(volume[a]!, tile[a]!, 0.5));
    const ofTile = (x0: number, y0: number, z0: number) => {
      const x = tf.slice(input(), [0, z0, y0, x0, 0], [1, tile[2], tile[1], tile[0], 1]);
      const p = predict(model, x);
      const data = p.dataSync() as Float32Array;
      tf.dispose([x, p]);
      return data;
    };
    const blended = blendedByLoops(volume, tile, starts, ofTile, 10);
    const expected = Uint8Array.from({ length: n }, (_, v) => {
      let best = 0;
      for (let c = 1; c < 10; c++) if (blended[v * 10 + c]! > blended[v * 10 + best]!) best = c;
      return best;
    });
    const tiled = await predictLabels(model, image, volume, { tile: { size: tile, overlap: 0.5 } });
    // float sums in another order could tip an argmax tie; on this volume none does
    expect(Array.from(tiled)).toEqual(Array.from(expected));
    const whole = await predictLabels(model, image, volume);
    expect(Array.from(await predictLabels(model, image, volume, { tile: { size: [11, 17, 13], overlap: 0.5 } }))).toEqual(Array.from(whole));
    expect(Array.from(await predictLabels(model, image, volume, { tile: { size: [64, 64, 64], overlap: 0.5 } }))).toEqual(Array.from(whole));
    // and tiles do change the answer somewhere (the test can fail)
    expect(tiled.some((l, v) => l !== whole[v])).toBe(true);
  });
});
