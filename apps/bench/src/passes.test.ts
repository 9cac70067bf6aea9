import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '@anatomynet/compute';
import { expect, test } from 'vitest';
import { benchMemoryPasses, memoryPassCases } from './passes';

test('the memory-bound passes run at an odd size and report their bytes, times and bandwidths', async () => {
  await selectBackend({ prefer: 'cpu', log: () => undefined });
  const shape: [number, number, number] = [3, 5, 4];
  // half resolution 2x3x2: 12 voxels; 60 at the input's size
  expect(memoryPassCases(shape).map((c) => c.bytes)).toEqual([9984, 9984, 6912, 5856, 9216, 6912, 12000]);
  const lines: string[] = [];
  const before = tf.memory().numTensors;
  const rows = await benchMemoryPasses(shape, (l) => lines.push(l));
  expect(rows.map((r) => r.error)).toEqual(rows.map(() => undefined));
  for (const r of rows) {
    expect(r.own_ms).toBeGreaterThan(0);
    expect(r.own_GBps).toBeCloseTo((r.bytes as number) / (r.own_ms as number) / 1e6, 6);
  }
  expect(lines).toHaveLength(7);
  // the inputs are disposed with each case
  expect(tf.memory().numTensors).toBe(before);
}, 60_000);
