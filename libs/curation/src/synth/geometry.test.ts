import { describe, expect, it } from 'vitest';
import { sampleScanGeometry } from './geometry';
import { samplePatient } from './patient';
import { Rng } from './prng';

describe('sampleScanGeometry', () => {
  // One patient (drawing one builds its whole anatomy); the scan draws are what vary here.
  const patient = samplePatient(Rng.from(1, 'patient'));
  const draws = (size: 'small' | 'full') => Array.from({ length: 100 }, (_, i) => sampleScanGeometry(Rng.from(i, 'scan'), patient, { size }));

  it.each(['small', 'full'] as const)('%s preset: clinical in-plane spacing (0.5-1.0 mm), 1.25-3 mm slices, head-and-neck field of view', (size) => {
    const g = draws(size);
    for (const { grid, fovMm } of g) {
      expect(grid.spacing[0]).toBeGreaterThanOrEqual(0.5);
      expect(grid.spacing[0]).toBeLessThanOrEqual(1.0);
      expect(grid.spacing[1]).toBe(grid.spacing[0]);
      expect(grid.spacing[2]).toBeGreaterThanOrEqual(1.25);
      expect(grid.spacing[2]).toBeLessThanOrEqual(3);
      expect(fovMm).toBeGreaterThanOrEqual(199);
    }
    // varied, not one value
    const spacings = new Set(g.map((x) => x.grid.spacing[0].toFixed(2)));
    expect(spacings.size).toBeGreaterThan(10);
  });

  it('a forced test matrix keeps the field of view and lets the spacing follow', () => {
    const { grid, fovMm } = sampleScanGeometry(Rng.from(3, 'scan'), patient, { matrix: 96 });
    expect(grid.shape.slice(0, 2)).toEqual([96, 96]);
    expect(fovMm).toBeGreaterThanOrEqual(199);
    expect(fovMm).toBeLessThanOrEqual(241);
  });
});
