/**
 * DICOM Decimal String formatting: at most 16 bytes per value (PS3.5 6.2), which planning systems
 * enforce strictly. Coordinates in mm keep up to 6 decimals (a micrometre is far below any voxel).
 */

/**
 * Formats a finite number as a DS value of at most 16 characters, with at most `maxDecimals`
 * decimals, no trailing zeros and no "-0".
 * @throws RangeError for NaN or infinities (DS cannot hold them).
 */
export function formatDS(x: number, maxDecimals = 6): string {
  if (!Number.isFinite(x)) throw new RangeError(`formatDS: ${x} cannot be written as a Decimal String`);
  for (let d = maxDecimals; d >= 0; d--) {
    let s = x.toFixed(d);
    if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
    if (s === '-0') s = '0';
    if (s.length <= 16) return s;
  }
  // |x| >= 1e16: scientific notation, shortened until it fits.
  for (let p = 10; p >= 1; p--) {
    const s = x.toExponential(p);
    if (s.length <= 16) return s;
  }
  throw new RangeError(`formatDS: cannot fit ${x} in 16 characters`);
}
