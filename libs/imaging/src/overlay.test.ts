import { inflateSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { largestAreaSlice, renderLabelSlice, renderOverlay } from './overlay';
import { crc32, encodePngRgb } from './png';

describe('png', () => {
  test('crc32 of "IEND" is the well-known AE426082', () => {
    expect((crc32(Buffer.from('IEND')) ^ 0xffffffff) >>> 0).toBe(0xae426082);
  });
  test('encodes a 2x1 image whose pixels decode back', () => {
    const png = encodePngRgb(new Uint8Array([255, 0, 0, 0, 0, 255]), 2, 1);
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(2);
    expect(png.readUInt32BE(20)).toBe(1);
    const idatLen = png.readUInt32BE(33);
    expect(png.subarray(37, 41).toString('ascii')).toBe('IDAT');
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    expect(Array.from(raw)).toEqual([0, 255, 0, 0, 0, 0, 255]);
  });
});

describe('overlay', () => {
  const shape: [number, number, number] = [10, 10, 3];
  const n = 300;
  const truth = new Uint8Array(n), pred = new Uint8Array(n), ct = new Int16Array(n).fill(40);
  // truth: 4 voxels on slice 1, 1 voxel on slice 2; prediction overlaps one truth voxel and adds one.
  for (const [x, y, z] of [[2, 2, 1], [3, 2, 1], [2, 3, 1], [3, 3, 1], [5, 5, 2]]) truth[x + 10 * (y + 10 * z)] = 6;
  for (const [x, y, z] of [[3, 3, 1], [4, 3, 1]]) pred[x + 10 * (y + 10 * z)] = 6;

  test('picks the slice of largest truth area', () => {
    expect(largestAreaSlice(truth, shape, 6)).toBe(1);
    expect(largestAreaSlice(truth, shape, 7)).toBe(-1);
  });

  test('colours truth-only green, prediction-only red, overlap yellow', () => {
    const o = renderOverlay({ ct, truth, prediction: pred, shape, spacingMm: [1, 1, 1], label: 6, marginMm: 0, sizePx: 3 })!;
    expect(o.slice).toBe(1);
    expect([o.width, o.height]).toEqual([3, 2]); // box x 2..4, y 2..3
    const px = (u: number, v: number) => Array.from(o.rgb.subarray((v * o.width + u) * 3, (v * o.width + u) * 3 + 3));
    const grey = Math.round((255 * (40 + 160)) / 400);
    const mix = (c: number) => Math.round(0.55 * c + 0.45 * grey);
    expect(px(0, 0)).toEqual([mix(0), mix(200), mix(0)]); // (2,2) truth only
    expect(px(1, 1)).toEqual([mix(255), mix(220), mix(0)]); // (3,3) overlap
    expect(px(2, 1)).toEqual([mix(230), mix(0), mix(0)]); // (4,3) prediction only
    expect(px(2, 0)).toEqual([grey, grey, grey]); // (4,2) neither
    expect([o.truthPixels, o.predictionPixels]).toEqual([4, 2]);
  });

  test('returns null when neither map has the organ', () => {
    expect(renderOverlay({ ct, truth, prediction: pred, shape, spacingMm: [1, 1, 1], label: 2 })).toBeNull();
  });

  test('draws every label of a slice in its colour, those without one not at all, cropped around the coloured', () => {
    const labels = truth.slice();
    labels[4 + 10 * (2 + 10 * 1)] = 3; // beside the organ: another colour
    labels[9 + 10 * (9 + 10 * 1)] = 8; // far away, no colour given: neither drawn nor in the crop
    const o = renderLabelSlice({ ct, labels, colours: { 6: [0, 200, 0], 3: [230, 230, 80] }, shape, spacingMm: [1, 1, 1], slice: 1, marginMm: 0, sizePx: 3 })!;
    expect([o.width, o.height]).toEqual([3, 2]);
    const px = (u: number, v: number) => Array.from(o.rgb.subarray((v * o.width + u) * 3, (v * o.width + u) * 3 + 3));
    const grey = Math.round((255 * (40 + 160)) / 400);
    const mix = (c: number) => Math.round(0.55 * c + 0.45 * grey);
    expect(px(0, 0)).toEqual([mix(0), mix(200), mix(0)]);
    expect(px(2, 0)).toEqual([mix(230), mix(230), mix(80)]);
    expect(px(2, 1)).toEqual([grey, grey, grey]);
    expect(renderLabelSlice({ ct, labels, colours: { 6: [0, 200, 0] }, shape, spacingMm: [1, 1, 1], slice: 0 })).toBeNull();
  });
});
