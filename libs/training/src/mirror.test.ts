import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, test } from 'vitest';
import { selectBackend } from '@anatomynet/compute';
import { buildModel, predict, validateModelConfig } from '@anatomynet/model';
import { mulberry32 } from '@anatomynet/random';
import { leftRightClassSwap } from './augment';
import { mirrorProbabilities, predictLabels } from './evaluate';
import { mirrorRefusal } from './run-folder';
import { segmentVolume } from './segment';
import type { Volume } from '@anatomynet/data';
import { resolveRunConfig } from './run-config';

type Shape3 = [number, number, number];

/** The volume (i fastest) mirrored along i, written with loops: the tests' independent account of a left-right mirror. */
function mirrorVolume<T extends Float32Array | Uint8Array>(v: T, [nx, ny, nz]: Shape3): T {
  const out = v.slice() as T;
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) out[i + nx * (j + ny * k)] = v[nx - 1 - i + nx * (j + ny * k)];
  return out;
}

const LEFT_RIGHT: Record<number, number> = { 4: 5, 5: 4, 6: 7, 7: 6, 8: 9, 9: 8 };
const swapLabels = (labels: Uint8Array) => labels.map((l) => LEFT_RIGHT[l] ?? l);

describe('test-time mirroring', () => {
  beforeAll(() => selectBackend({ prefer: 'cpu', log: () => undefined }));
  const model = buildModel(validateModelConfig({ filters: [4, 6], blocksPerStage: 1, block: 'residual', outputUpFilters: 4, outputFilters: 4 }), { seed: 11 });
  // odd sizes: a mirror has a middle column that stays in place
  const shape: Shape3 = [9, 8, 6];
  const rng = mulberry32(5);
  const image = Float32Array.from({ length: 9 * 8 * 6 }, () => rng());

  test('leftRightClassSwap swaps the optic nerves, parotids and submandibular glands, and keeps the rest', () => {
    expect(leftRightClassSwap(10)).toEqual([0, 1, 2, 3, 5, 4, 7, 6, 9, 8]);
    expect(leftRightClassSwap(7)).toEqual([0, 1, 2, 3, 5, 4, 6]);
  });

  test('mirrorProbabilities reverses the left-right axis and swaps each left organ with its partner; twice is the identity', async () => {
    const [d, h, w, c] = [2, 3, 5, 10];
    const values = Float32Array.from({ length: d * h * w * c }, (_, i) => i);
    const once = (await mirrorProbabilities(tf.tensor5d(values, [1, d, h, w, c])).data()) as Float32Array;
    const swap = leftRightClassSwap(c);
    for (let z = 0; z < d; z++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) {
      expect(once[((z * h + y) * w + x) * c + k]).toBe(values[((z * h + y) * w + (w - 1 - x)) * c + swap[k]]);
    }
    const twice = await mirrorProbabilities(mirrorProbabilities(tf.tensor5d(values, [1, d, h, w, c]))).data();
    expect(Array.from(twice)).toEqual(Array.from(values));
  });

  test('the labels are the argmax of the mean of the CT\'s probabilities and the mirrored CT\'s, mirrored back with left and right swapped', async () => {
    const probsOf = async (img: Float32Array) => {
      const x = tf.tensor5d(img, [1, shape[2], shape[1], shape[0], 1]);
      const p = predict(model, x);
      const data = (await p.data()) as Float32Array;
      tf.dispose([x, p]);
      return data;
    };
    const plain = await probsOf(image);
    const ofMirrored = await probsOf(mirrorVolume(image, shape));
    const swap = leftRightClassSwap(10);
    const expected = new Uint8Array(image.length);
    for (let k = 0; k < shape[2]; k++) for (let j = 0; j < shape[1]; j++) for (let i = 0; i < shape[0]; i++) {
      const v = i + shape[0] * (j + shape[1] * k), mirrored = shape[0] - 1 - i + shape[0] * (j + shape[1] * k);
      let best = 0, bestP = -1;
      for (let c = 0; c < 10; c++) {
        const p = (plain[v * 10 + c] + ofMirrored[mirrored * 10 + swap[c]]) / 2;
        if (p > bestP) [best, bestP] = [c, p];
      }
      expected[v] = best;
    }
    const labels = await predictLabels(model, image, shape, { mirror: true });
    expect(Array.from(labels)).toEqual(Array.from(expected));
    expect(Array.from(labels)).not.toEqual(Array.from(await predictLabels(model, image, shape)));
  });

  test('with mirroring, the mirrored CT gets exactly the mirrored labels, left and right swapped; without, a model need not', async () => {
    const mirroredImage = mirrorVolume(image, shape);
    const symmetric = async (o: { mirror: boolean }) => {
      const labels = await predictLabels(model, image, shape, o);
      const ofMirrored = await predictLabels(model, mirroredImage, shape, o);
      return Array.from(ofMirrored).every((l, v) => l === swapLabels(mirrorVolume(labels, shape))[v]);
    };
    expect(await symmetric({ mirror: true })).toBe(true);
    expect(await symmetric({ mirror: false })).toBe(false);
    // an ensemble is run member by member, each with its mirrored view
    const other = buildModel(model.config, { seed: 12 });
    const ensemble = await predictLabels([model, other], image, shape, { mirror: true });
    expect(ensemble.length).toBe(image.length);
    expect(Array.from(ensemble)).not.toEqual(Array.from(await predictLabels([model, other], image, shape)));
    other.dispose();
  });

  test('tiled, the mirrored CT gets exactly the mirrored labels too: symmetric tiles, blended in mirrored pairs', async () => {
    // 13 voxels in 8-voxel tiles: three tiles would put the middle one at 2.5
    const tiled: Shape3 = [13, 10, 8];
    const r = mulberry32(9);
    const ct = Float32Array.from({ length: 13 * 10 * 8 }, () => r());
    const mirroredCt = mirrorVolume(ct, tiled);
    for (const tile of [{ size: [8, 8, 8] as Shape3, overlap: 0.5 }, { size: [8, 8, 8] as Shape3, overlap: 0.8 }, { size: [9, 8, 8] as Shape3, overlap: 0.25 }]) {
      const labels = await predictLabels(model, ct, tiled, { mirror: true, tile });
      const ofMirrored = await predictLabels(model, mirroredCt, tiled, { mirror: true, tile });
      expect(Array.from(ofMirrored), JSON.stringify(tile)).toEqual(Array.from(swapLabels(mirrorVolume(labels, tiled))));
    }
  });

  test('mirrorRefusal: only models trained with left-right flips may be mirrored, and the refusal names the others', () => {
    const flips = (flipLR: number) => resolveRunConfig({ data: { augment: { probability: 1, rotationDeg: 0, scale: 0, shear: 0, translate: 0, elasticAlpha: 0, elasticSigma: 1, flipLR } } });
    const none = resolveRunConfig({ data: { augment: null } });
    expect(mirrorRefusal([flips(0.5)], ['runs/a'])).toBeUndefined();
    expect(mirrorRefusal([flips(0.5), flips(1)], ['runs/a', 'runs/b'])).toBeUndefined();
    expect(mirrorRefusal([flips(0)], ['runs/a'])).toMatch(/^--mirror needs models trained with left-right flips \(data\.augment\.flipLR above 0.*trained without: runs\/a\. Leave out --mirror for this model$/);
    expect(mirrorRefusal([flips(0.5), none], ['runs/a', 'runs/b'])).toMatch(/trained without: runs\/b\. Leave out --mirror for this ensemble$/);
  });
});

describe('test-time mirroring on webgpu (lavapipe in CI)', () => {
  let webgpu = false;
  beforeAll(async () => {
    webgpu = (await selectBackend({ prefer: 'webgpu', log: () => undefined })).backend === 'webgpu';
  });

  test('mirrorProbabilities moves the same values as on the cpu, and the mirrored CT gets exactly the mirrored labels', async (ctx) => {
    if (!webgpu) ctx.skip();
    const [d, h, w, c] = [3, 2, 7, 10];
    const values = Float32Array.from({ length: d * h * w * c }, (_, i) => i * 0.5);
    const onGpu = await mirrorProbabilities(tf.tensor5d(values, [1, d, h, w, c])).data();
    const swap = leftRightClassSwap(c);
    const expected = values.map((_, v) => {
      const k = v % c, x = Math.floor(v / c) % w, zy = Math.floor(v / (c * w));
      return values[(zy * w + (w - 1 - x)) * c + swap[k]];
    });
    expect(Array.from(onGpu)).toEqual(Array.from(expected));

    const model = buildModel(validateModelConfig({ filters: [4, 6], blocksPerStage: 1, block: 'residual', outputUpFilters: 4, outputFilters: 4 }), { seed: 11 });
    const shape: Shape3 = [11, 6, 4];
    const rng = mulberry32(9);
    const image = Float32Array.from({ length: 11 * 6 * 4 }, () => rng());
    const labels = await predictLabels(model, image, shape, { mirror: true });
    const ofMirrored = await predictLabels(model, mirrorVolume(image, shape), shape, { mirror: true });
    expect(Array.from(ofMirrored)).toEqual(Array.from(swapLabels(mirrorVolume(labels, shape))));
    expect(tf.getBackend()).toBe('webgpu');
    model.dispose();
  }, 120_000);
});

describe('test-time mirroring on the input grid', () => {
  beforeAll(() => selectBackend({ prefer: 'cpu', log: () => undefined }));

  test('mirrors along the patient\'s left-right axis whatever the index axes: a scan stored with i and j exchanged gets the same labels', async () => {
    const model = buildModel(validateModelConfig({ filters: [4, 6], blocksPerStage: 1, block: 'residual', outputUpFilters: 4, outputFilters: 4 }), { seed: 13 });
    const [nx, ny, nz] = [10, 7, 5];
    const rng = mulberry32(21);
    // HU with air and bone, so the input check passes
    const data = Float32Array.from({ length: nx * ny * nz }, () => -1000 + 2000 * rng());
    const axial: Volume = { data, shape: [nx, ny, nz], spacing: [1, 1, 2], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
    // the same voxels with i running posterior and j to the patient's left
    const swapped = new Float32Array(data.length);
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) swapped[j + ny * (i + nx * k)] = data[i + nx * (j + ny * k)]!;
    const transposed: Volume = { data: swapped, shape: [ny, nx, nz], spacing: [1, 1, 2], origin: [0, 0, 0], direction: [0, 1, 0, 1, 0, 0, 0, 0, 1] };
    const opts = { huWindow: { lo: -1000, hi: 1000 }, spacingMm: null, largestComponent: false, mirror: true };
    const a = await segmentVolume(model, axial, opts);
    const b = await segmentVolume(model, transposed, opts);
    const bBack = new Uint8Array(a.length);
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) bBack[i + nx * (j + ny * k)] = b[j + ny * (i + nx * k)]!;
    expect(Array.from(bBack)).toEqual(Array.from(a));
    // and the patient mirrored left to right (here: j reversed) gets the mirrored labels, left and right swapped
    const reverseJ = <T extends Float32Array | Uint8Array>(v: T) => v.map((_, p) => v[(p % ny) + ny * (nx - 1 - (Math.floor(p / ny) % nx)) + ny * nx * Math.floor(p / (ny * nx))]!) as T;
    const mirroredPatient = await segmentVolume(model, { ...transposed, data: reverseJ(swapped) }, opts);
    expect(Array.from(mirroredPatient)).toEqual(Array.from(swapLabels(reverseJ(b))));
    model.dispose();
  });
});
