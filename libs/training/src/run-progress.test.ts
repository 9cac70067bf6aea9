import { expect, test } from 'vitest';
import { runProgress } from './run-progress';

test('runProgress: epochs done of all, and the time left at the pace of the last five epochs', () => {
  expect(runProgress([], 200)).toEqual({ done: 0, epochs: 200 });
  expect(runProgress([1000], 200)).toEqual({ done: 1, epochs: 200 });
  // 60 s per epoch, 10 of 200 done: 190 minutes left
  const steady = Array.from({ length: 10 }, (_, i) => 60_000 * (i + 1));
  expect(runProgress(steady, 200)).toEqual({ done: 10, epochs: 200, msPerEpoch: 60_000, remainingMs: 190 * 60_000 });
  // an hour stopped between epochs 3 and 4 (killed, then resumed) weighs nothing once five epochs followed
  const resumed = [...steady.slice(0, 3), ...steady.slice(3).map((t) => t + 3_600_000)];
  expect(runProgress(resumed, 200).msPerEpoch).toBe(60_000);
  expect(runProgress(steady, 10).remainingMs).toBe(0);
});
