import { describe, expect, test } from 'vitest';
import { RunEndedElsewhereError, runHeartbeat } from './heartbeat';

describe('runHeartbeat', () => {
  test('beats at most once per interval unless forced, at the time it was called', async () => {
    const beats: number[] = [];
    let clock = 1_000;
    const beat = runHeartbeat({ heartbeat: async (_id, now) => (beats.push(now!), true) }, 'r1', 60_000, () => clock);
    await beat();
    clock += 59_999;
    await beat();
    expect(beats).toEqual([]);
    clock += 1;
    await beat();
    await beat();
    clock += 10;
    await beat(true);
    expect(beats).toEqual([61_000, 61_010]);
  });

  test('a run another process ended is a typed error naming the run', async () => {
    const beat = runHeartbeat({ heartbeat: async () => false }, 'r2', 0);
    await expect(beat()).rejects.toThrow(new RunEndedElsewhereError('r2'));
    await expect(beat()).rejects.toThrow('run r2 was marked ended by another process');
  });
});
