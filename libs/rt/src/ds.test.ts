import { describe, expect, it } from 'vitest';
import { formatDS } from './ds';

describe('formatDS', () => {
  it('keeps up to 6 decimals, drops trailing zeros and negative zero', () => {
    expect(formatDS(-249.51171875)).toBe('-249.511719');
    expect(formatDS(12.5)).toBe('12.5');
    expect(formatDS(3)).toBe('3');
    expect(formatDS(-0)).toBe('0');
    expect(formatDS(-1e-9)).toBe('0');
    expect(formatDS(0.1 + 0.2)).toBe('0.3');
  });

  it('fits every value in 16 characters and is as precise as 16 characters (or 6 decimals) allow', () => {
    for (const x of [-123456789.123456, 98765432109.87654, -1e15 + 0.5, 1e17, -3.4e21, 1 / 3, -2 / 3 * 1e9]) {
      const s = formatDS(x);
      expect(s.length, `${x} -> ${s}`).toBeLessThanOrEqual(16);
      expect(Math.abs(Number(s) - x), `${x} -> ${s}`).toBeLessThanOrEqual(Math.max(5e-7, Math.abs(x) * 1e-13));
    }
    expect(() => formatDS(NaN)).toThrow(RangeError);
    expect(() => formatDS(Infinity)).toThrow(RangeError);
  });
});
