/**
 * One training sample from a prepared case: the augmentation drawn from the sample's own seed, then an
 * optional random crop. Pure apart from the RNG it is given.
 */
import { applyField, drawSamplingField } from './augment';
import type { PreparedCase } from './dataset';
import { type Rng } from '@anatomynet/random';
import type { DataConfig } from './run-config';

export interface Sample {
  shape: [number, number, number];
  image: Float32Array;
  labels: Uint8Array;
}

/** Copies the box [start, start+size) of a volume. */
export function cropVolume<T extends Float32Array | Uint8Array>(src: T, shape: [number, number, number], start: number[], size: number[]): T {
  const out = new (src.constructor as { new (n: number): T })(size[0] * size[1] * size[2]);
  let o = 0;
  for (let k = 0; k < size[2]; k++)
    for (let j = 0; j < size[1]; j++) {
      const from = start[0] + shape[0] * (start[1] + j + shape[1] * (start[2] + k));
      out.set(src.subarray(from, from + size[0]), o);
      o += size[0];
    }
  return out;
}

/**
 * Where a crop starts: uniformly at random, or (nnU-Net's foreground oversampling) centred on a random
 * organ voxel, so small organs are seen often even when crops are much smaller than the volume.
 */
export function cropStart(labels: Uint8Array, shape: readonly number[], size: readonly number[], foreground: boolean, rng: Rng): number[] {
  const uniformStart = () => shape.map((n, a) => Math.floor(rng() * (n - size[a] + 1)));
  if (!foreground) return uniformStart();
  let count = 0;
  for (let p = 0; p < labels.length; p++) if (labels[p]) count++;
  if (!count) return uniformStart();
  let pick = Math.floor(rng() * count), p = 0;
  for (; p < labels.length; p++) if (labels[p] && pick-- === 0) break;
  const centre = [p % shape[0], Math.floor(p / shape[0]) % shape[1], Math.floor(p / (shape[0] * shape[1]))];
  return shape.map((n, a) => Math.min(n - size[a], Math.max(0, centre[a] - Math.floor(size[a] / 2))));
}

export function drawSample(c: PreparedCase, data: DataConfig, rng: Rng): Sample {
  let image = c.image, labels = c.labels;
  if (data.augment) {
    const field = drawSamplingField(c.shape[0], c.shape[1], data.augment, rng);
    // 0 is the bottom of the HU window (air): what lies outside the field of view.
    if (field) ({ image, labels } = applyField(field, image, labels, c.shape, 0) as { image: Float32Array; labels: Uint8Array });
  }
  if (!data.cropVoxels) return { shape: [...c.shape] as Sample['shape'], image, labels };
  const size = c.shape.map((n, a) => Math.min(n, data.cropVoxels![a]));
  const start = cropStart(labels, c.shape, size, rng() < data.foregroundCrop, rng);
  return { shape: size as Sample['shape'], image: cropVolume(image, c.shape, start, size), labels: cropVolume(labels, c.shape, start, size) };
}
