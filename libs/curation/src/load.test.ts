import { describe, expect, it } from 'vitest';
import type { Volume } from '@anatomynet/data';
import { toInt16 } from './load';

describe('toInt16', () => {
  it('rounds and clamps to int16, and stores NaN (outside the scan) as air, counting each', () => {
    const v: Volume = { data: Float32Array.from([NaN, 1.4, -40000, 40000, -1000.6]), shape: [5, 1, 1], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
    const r = toInt16(v);
    expect(Array.from(r.volume.data)).toEqual([-1024, 1, -32768, 32767, -1001]);
    expect([r.clamped, r.notNumbers]).toEqual([2, 1]);
  });
});
