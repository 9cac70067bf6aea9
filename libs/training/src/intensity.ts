/**
 * CT intensities for the network. The curator stores HU unchanged (int16); windowing belongs to training.
 * The public code clipped below -1024 and scaled to [0, 1]; a config may choose any window.
 */
export interface HuWindow {
  /** HU mapped to 0; lower values are clipped. */
  lo: number;
  /** HU mapped to 1; higher values are clipped. */
  hi: number;
}

export const PUBLIC_CODE_WINDOW: HuWindow = { lo: -1024, hi: 3071 };

/** HU -> [0, 1] with clipping. */
export function windowHu(hu: ArrayLike<number>, w: HuWindow): Float32Array {
  if (!(w.hi > w.lo)) throw new RangeError(`windowHu: hi (${w.hi}) must exceed lo (${w.lo})`);
  const out = new Float32Array(hu.length);
  const inv = 1 / (w.hi - w.lo);
  for (let p = 0; p < hu.length; p++) {
    const v = (hu[p] - w.lo) * inv;
    out[p] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return out;
}
