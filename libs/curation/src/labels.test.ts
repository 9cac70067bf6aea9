import { describe, expect, it } from 'vitest';
import { mergeLabels } from '@anatomynet/rt';
import { availabilityOf, buildLabelMap, intersectionCount, maskToOffsets, unionOffsets, voxelsToMl } from './labels';
import { ORGANS, type OrganKey } from './organs';
import { sphereMask } from './testing/phantom';
import type { Vec3 } from '@anatomynet/data';

describe('availability', () => {
  it('tells annotated, annotated-but-empty and not annotated apart', () => {
    const a = availabilityOf(new Map<OrganKey, Int32Array>([['BrainStem', Int32Array.of(1, 2)], ['Chiasm', new Int32Array(0)]]));
    expect(a.BrainStem).toBe('annotated');
    expect(a.Chiasm).toBe('annotated-empty');
    expect(a.Mandible).toBe('not-annotated');
    expect(Object.keys(a)).toEqual(ORGANS.map((o) => o.key));
  });
});

describe('sparse masks', () => {
  it('union and intersection of sorted offsets', () => {
    expect([...unionOffsets(Int32Array.of(1, 3, 5), Int32Array.of(2, 3, 9))]).toEqual([1, 2, 3, 5, 9]);
    expect(intersectionCount(Int32Array.of(1, 3, 5, 9), Int32Array.of(2, 3, 9))).toBe(2);
  });
  it('mL from voxels: 1000 voxels of 1 mm³ = 1 mL; 2x2x2.5 mm voxels', () => {
    expect(voxelsToMl(1000, [1, 1, 1])).toBe(1);
    expect(voxelsToMl(100, [2, 2, 2.5])).toBe(1);
  });
});

describe('buildLabelMap', () => {
  const shape: Vec3 = [20, 20, 20];
  const big = sphereMask(shape, [8, 10, 10], 5), small = sphereMask(shape, [12, 10, 10], 2);
  const masks = new Map<OrganKey, Int32Array>([['Parotid_L', maskToOffsets(big)], ['OpticNerve_L', maskToOffsets(small)]]);
  const lm = buildLabelMap(shape, masks);

  it('gives overlapping voxels to the smaller organ and counts the overlap', () => {
    const both = intersectionCount(maskToOffsets(big), maskToOffsets(small));
    expect(both).toBeGreaterThan(0);
    expect(lm.overlaps).toEqual([{ a: 'OpticNerve_L', b: 'Parotid_L', voxels: both }]);
    expect(lm.voxels.OpticNerve_L).toBe(maskToOffsets(small).length);
    expect(lm.voxels.Parotid_L).toBe(maskToOffsets(big).length - both);
    expect(lm.labels[12 + 20 * (10 + 20 * 10)]).toBe(4);
  });

  it('equals mergeLabels of @anatomynet/rt (independent implementation of the same rule)', () => {
    const ref = mergeLabels([
      { label: 6, mask: big, voxels: maskToOffsets(big).length },
      { label: 4, mask: small, voxels: maskToOffsets(small).length },
    ]);
    expect(Buffer.from(lm.labels).equals(Buffer.from(ref.labelmap))).toBe(true);
    expect(ref.overlapsVoxels[0].voxels).toBe(lm.overlaps[0].voxels);
  });

  it('breaks size ties towards the lower label, like mergeLabels', () => {
    const a = sphereMask(shape, [8, 10, 10], 3), b = sphereMask(shape, [10, 10, 10], 3);
    const mine = buildLabelMap(shape, new Map<OrganKey, Int32Array>([['Parotid_L', maskToOffsets(a)], ['Parotid_R', maskToOffsets(b)]]));
    const ref = mergeLabels([{ label: 6, mask: a, voxels: maskToOffsets(a).length }, { label: 7, mask: b, voxels: maskToOffsets(b).length }]);
    expect(Buffer.from(mine.labels).equals(Buffer.from(ref.labelmap))).toBe(true);
  });
});

describe('maskToOffsets', () => {
  it('finds every non-zero voxel, word-aligned or not, any array type', () => {
    const m = new Uint8Array(4099);
    for (const p of [0, 3, 4, 1000, 1001, 4095, 4096, 4098]) m[p] = p % 2 ? 255 : 1;
    expect([...maskToOffsets(m)]).toEqual([0, 3, 4, 1000, 1001, 4095, 4096, 4098]);
    expect([...maskToOffsets(m.subarray(1))]).toEqual([2, 3, 999, 1000, 4094, 4095, 4097]);
    expect([...maskToOffsets(Float32Array.of(0, 0.5, 0, -1))]).toEqual([1, 3]);
  });
});
