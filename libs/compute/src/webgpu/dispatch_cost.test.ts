import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { measureDispatchCost } from './dispatch_cost';
import { adapterPromise, SKIP_NOTE, startWebgpu } from './test_util';

const adapter = await adapterPromise;

describe.skipIf(!adapter)(`webgpu dispatch cost${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  it('times each call, restores the submit batch size and leaves no tensor behind', async () => {
    await startWebgpu();
    const batch = tf.env().getNumber('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE');
    const tensors = tf.memory().numTensors;
    const cost = await measureDispatchCost(40, 2);
    expect(cost.submitBatch).toBe(batch);
    expect(tf.env().getNumber('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE')).toBe(batch);
    expect(tf.memory().numTensors).toBe(tensors);
    for (const [name, us] of Object.entries(cost)) {
      if (name === 'submitBatch') continue;
      expect(us, name).toBeGreaterThan(0);
      expect(us, name).toBeLessThan(1e6);
    }
    // an op's wall time includes its enqueue
    expect(cost.tfjsOpWall_us).toBeGreaterThanOrEqual(cost.tfjsOpEnqueue_us);
  });

  it('refuses other backends', async () => {
    await tf.setBackend('cpu');
    await expect(measureDispatchCost()).rejects.toThrow(/needs the webgpu backend, not cpu/);
  });
});
