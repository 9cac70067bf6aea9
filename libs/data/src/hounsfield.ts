// Plausibility of CT intensities, for inputs that may not be what they claim.

/**
 * Why a volume does not look like a head-and-neck CT in Hounsfield units, or undefined. Such a CT always
 * holds air (about -1000 HU, around the head and in the airway) and bone (mandible, skull, spine: several
 * hundred HU and more); a mask, an MR image, or stored values whose RescaleSlope/Intercept were never
 * applied lack one or the other, and the network's HU window turns them into noise.
 */
export function notHounsfieldReason(hu: ArrayLike<number>): string | undefined {
  let min = Infinity, max = -Infinity;
  for (let p = 0; p < hu.length; p++) {
    const v = hu[p];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!(min <= max)) return 'no finite values';
  if (min > -500) return `values ${min}..${max}: no air (below -500 HU; about -1000 around the head)`;
  if (max < 200) return `values ${min}..${max}: no bone (above 200 HU)`;
  return undefined;
}

/** HU given to a voxel that is not a number: float images store NaN outside the scan, where air is. */
export const NOT_A_NUMBER_HU = -1024;

/** `data` with NaN voxels set to {@link NOT_A_NUMBER_HU} (a copy; `data` itself when it has none), and their count. */
export function replaceNotNumbers<T extends ArrayLike<number>>(data: T): { data: T; count: number } {
  let count = 0;
  for (let p = 0; p < data.length; p++) if (Number.isNaN(data[p])) count++;
  if (count === 0) return { data, count };
  const out = (data as unknown as { slice(): T }).slice();
  for (let p = 0; p < out.length; p++) if (Number.isNaN(out[p])) (out as unknown as number[])[p] = NOT_A_NUMBER_HU;
  return { data: out, count };
}
