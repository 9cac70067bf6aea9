import { describe, expect, it } from 'vitest';
import { indexToPoint, type Vec3 } from '@anatomynet/data';
import { boxContains, computeCropBox, cropVolume, findShoulders, maskBounds, smooth } from './crop';
import { headNeckPhantom, PHANTOM_SHAPE, sphereMask } from './testing/phantom';
import { maskToOffsets, offsetsBounds } from './labels';
import type { CropBox } from './crop';

function organBoxes(masks: Map<string, Uint8Array>): Map<string, CropBox> {
  const out = new Map<string, CropBox>();
  for (const [k, m] of masks) out.set(k, maskBounds(m, PHANTOM_SHAPE)!);
  return out;
}

describe('findShoulders', () => {
  it('finds the neck valley and the first slice at 1.5x the neck area', () => {
    //          vertex .. head ........ neck ........ shoulders/chest
    const p = [10, 50, 100, 120, 110, 60, 40, 40, 45, 55, 70, 200, 300, 300];
    expect(findShoulders(p)).toEqual({ neck: 6, shoulder: 10 });
  });
  it('finds nothing on a head-only profile (no larger area below the neck)', () => {
    expect(findShoulders([10, 60, 100, 120, 100, 60, 40, 40])).toEqual({ neck: null, shoulder: null });
  });
  it('smooth is a centred moving average', () => {
    expect(smooth([0, 3, 6, 3, 0], 3)).toEqual([1.5, 3, 4, 3, 1.5]);
  });
});

describe('computeCropBox on a head-neck-shoulders phantom', () => {
  const ph = headNeckPhantom();
  const r = computeCropBox(ph.ct, organBoxes(ph.masks));

  it('cuts the chest where the shoulders begin and keeps the head to its top', () => {
    // Shoulders/chest occupy k 0..24 (superior is +k here); the neck is k 25..33.
    expect(r.shoulderSlice).not.toBeNull();
    expect(r.shoulderSlice!).toBeGreaterThanOrEqual(23);
    expect(r.shoulderSlice!).toBeLessThanOrEqual(26);
    expect(r.box.start[2]).toBe(r.shoulderSlice);
    expect(r.box.end[2]).toBe(60);
    expect(r.neckSlice!).toBeGreaterThanOrEqual(25);
    expect(r.neckSlice!).toBeLessThanOrEqual(33);
    expect(r.warnings).toEqual([]);
  });

  it('crops x/y to the body of the kept slices (head width 20 vox + margin), never the couch', () => {
    // Head radii 10 x 12 voxels around (32, 32); margin 5 mm = 2 voxels; the coarse grid is 2 voxels.
    expect(r.box.start[0]).toBeGreaterThanOrEqual(18);
    expect(r.box.start[0]).toBeLessThanOrEqual(22);
    expect(r.box.end[0]).toBeGreaterThanOrEqual(43);
    expect(r.box.end[0]).toBeLessThanOrEqual(47);
    expect(r.box.end[1]).toBeLessThan(58); // couch rows 58-59 left out
  });

  it('keeps every organ inside the box', () => {
    for (const [, m] of ph.masks) expect(boxContains(r.box, maskBounds(m, PHANTOM_SHAPE)!)).toBe(true);
  });

  it('counts internal air as body (the chest lungs do not make a fake neck)', () => {
    const chest = r.areaProfileMm2[10], neck = r.areaProfileMm2[30];
    // Chest ellipse 27 x 15 voxels of 16 mm²: ~ pi*27*15*16 = 20358 mm², lungs included.
    expect(chest).toBeGreaterThan(18000);
    expect(neck).toBeLessThan(2500);
  });

  it('widens the box and warns when an annotated organ lies outside', () => {
    const boxes = organBoxes(ph.masks);
    boxes.set('Submandibular_L', maskBounds(sphereMask(PHANTOM_SHAPE, [36, 26, 12], 2), PHANTOM_SHAPE)!);
    const w = computeCropBox(ph.ct, boxes);
    expect(w.warnings).toEqual(['crop widened to keep Submandibular_L inside']);
    expect(w.box.start[2]).toBeLessThanOrEqual(10);
    for (const [, b] of boxes) expect(boxContains(w.box, b)).toBe(true);
  });

  it('keeps the volume whole along k, with a warning, when there is no neck', () => {
    const head = headNeckPhantom();
    head.ct.data.fill(40, 0, 64 * 64 * 34); // a block with no neck
    const w = computeCropBox(head.ct);
    expect(w.box.start[2]).toBe(0);
    expect(w.warnings.some((x) => x.includes('no neck'))).toBe(true);
  });
});

describe('cropVolume', () => {
  it('copies the box and moves the origin to its first voxel', () => {
    const ph = headNeckPhantom();
    const box: CropBox = { start: [10, 20, 30], end: [40, 50, 60] };
    const c = cropVolume(ph.ct, box);
    expect(c.shape).toEqual([30, 30, 30]);
    expect(c.origin).toEqual(indexToPoint(ph.ct, [10, 20, 30]));
    const at = (i: number, j: number, k: number) => ph.ct.data[i + 64 * (j + 64 * k)];
    expect(c.data[5 + 30 * (7 + 30 * 9)]).toBe(at(15, 27, 39));
    expect(c.data).toBeInstanceOf(Int16Array);
    expect(() => cropVolume(ph.ct, { start: [0, 0, 0], end: [65, 1, 1] })).toThrow(RangeError);
  });
  it('agrees with offsetsBounds', () => {
    const m = sphereMask(PHANTOM_SHAPE, [10, 11, 12] as Vec3, 2);
    expect(offsetsBounds(maskToOffsets(m), PHANTOM_SHAPE)).toEqual(maskBounds(m, PHANTOM_SHAPE));
    expect(offsetsBounds(maskToOffsets(m), PHANTOM_SHAPE)).toEqual({ start: [8, 9, 10], end: [13, 14, 15] });
  });
});
