import { describe, expect, test } from 'vitest';
import { applyField, drawSamplingField, gaussianBlur2D, PUBLIC_CODE_AUGMENT, type AugmentConfig } from './augment';
import { mulberry32 } from '@anatomynet/random';

const NONE: AugmentConfig = { probability: 1, rotationDeg: 0, scale: 0, shear: 0, translate: 0, elasticAlpha: 0, elasticSigma: 1, flipLR: 0 };

function ramp(shape: [number, number, number]): Float32Array {
  const [nx, ny, nz] = shape;
  const a = new Float32Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) a[i + nx * (j + ny * k)] = i + 10 * j + 100 * k;
  return a;
}

describe('augmentation', () => {
  test('a zero-strength field is the identity for image and labels (interior)', () => {
    const shape: [number, number, number] = [7, 6, 3];
    const img = ramp(shape);
    const lab = new Uint8Array(img.length).map((_, p) => p % 10);
    const f = drawSamplingField(7, 6, NONE, mulberry32(1))!;
    const out = applyField(f, img, lab, shape, -1);
    // Bilinear needs a right/bottom neighbour: the last column/row fall outside and take the fill value.
    for (let k = 0; k < 3; k++) for (let j = 0; j < 5; j++) for (let i = 0; i < 6; i++) {
      const p = i + 7 * (j + 6 * k);
      expect(out.image[p]).toBeCloseTo(img[p], 5);
    }
    expect(Array.from(out.labels!)).toEqual(Array.from(lab));
  });

  test('a left-right flip mirrors i and swaps L/R organ labels (4<->5, 6<->7, 8<->9)', () => {
    const shape: [number, number, number] = [5, 2, 1];
    const lab = new Uint8Array([6, 4, 0, 1, 9, 8, 2, 3, 5, 7]);
    const img = new Float32Array(10);
    const f = drawSamplingField(5, 2, { ...NONE, flipLR: 1 }, mulberry32(3))!;
    expect(f.flipped).toBe(true);
    const out = applyField(f, img, lab, shape, 0);
    expect(Array.from(out.labels!)).toEqual([8, 1, 0, 5, 7, 6, 4, 3, 2, 9]);
  });

  test('the same seed draws the same field; the same field deforms every slice identically', () => {
    const a = drawSamplingField(32, 24, PUBLIC_CODE_AUGMENT, mulberry32(42))!;
    const b = drawSamplingField(32, 24, PUBLIC_CODE_AUGMENT, mulberry32(42))!;
    expect(Array.from(a.srcX)).toEqual(Array.from(b.srcX));
    const shape: [number, number, number] = [32, 24, 2];
    const img = new Float32Array(32 * 24 * 2);
    for (let p = 0; p < 32 * 24; p++) img[p] = img[p + 32 * 24] = Math.sin(p);
    const out = applyField(a, img, null, shape, 0);
    expect(Array.from(out.image.subarray(0, 768))).toEqual(Array.from(out.image.subarray(768)));
  });

  test('labels are resampled by nearest neighbour: no new label values appear', () => {
    const shape: [number, number, number] = [40, 40, 2];
    const lab = new Uint8Array(40 * 40 * 2);
    for (let p = 0; p < lab.length; p++) lab[p] = (p % 40) < 20 ? 3 : 7;
    const f = drawSamplingField(40, 40, { ...PUBLIC_CODE_AUGMENT, elasticSigma: 4, elasticAlpha: 30 }, mulberry32(9))!;
    const out = applyField(f, new Float32Array(lab.length), lab, shape, 0);
    expect(new Set(out.labels!)).toEqual(new Set([0, 3, 7].filter((v) => out.labels!.includes(v))));
    for (const v of out.labels!) expect([0, 3, 7]).toContain(v);
  });

  test('gaussian blur keeps a constant interior and sums to one', () => {
    const f = new Float32Array(21 * 21).fill(0);
    f[10 * 21 + 10] = 1;
    gaussianBlur2D(f, 21, 21, 2);
    expect(f.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(f[10 * 21 + 10]).toBeCloseTo(1 / (2 * Math.PI * 4), 2);
  });
});
