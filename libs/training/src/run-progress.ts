/**
 * How far a RUNNING run is, for `trainer status`: a week of ablations is mostly waiting, and the question
 * is when a cell will end. Pure: from the wall times at which its epochs closed.
 */

export interface RunProgress {
  /** Epochs closed. */
  done: number;
  epochs: number;
  /** Mean duration of the last (up to five) epochs; undefined before two epochs have closed. */
  msPerEpoch?: number;
  /** At that pace, until the last epoch closes (the test evaluation comes after). */
  remainingMs?: number;
}

/**
 * `epochEndTimes`: when each closed epoch was logged (its `train/epoch_loss` point), in epoch order. The pace
 * comes from the latest epochs only, so a stop and a resume in between, or a slower phase, do not skew it.
 */
export function runProgress(epochEndTimes: readonly number[], epochs: number): RunProgress {
  const done = epochEndTimes.length;
  if (done < 2) return { done, epochs };
  const recent = epochEndTimes.slice(-6);
  const msPerEpoch = (recent[recent.length - 1] - recent[0]) / (recent.length - 1);
  return { done, epochs, msPerEpoch, remainingMs: Math.max(0, epochs - done) * msPerEpoch };
}
