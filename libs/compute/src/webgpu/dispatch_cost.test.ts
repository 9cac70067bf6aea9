import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, measureDispatchCost } from './dispatch_cost';
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

  it('counts the dispatches of a computation and puts the backend back', async () => {
    await startWebgpu();
    // past tfjs's CPU hand-off size (small tensors whose values are in JavaScript run on the CPU)
    const a = tf.randomNormal([32, 32], 0, 1, 'float32', 1);
    const { result, dispatches } = await countDispatches(() => tf.tidy(() => tf.add(tf.mul(a, 2), a)));
    // Multiply by a scalar and Add: two dispatches
    expect(dispatches).toBe(2);
    expect(Object.prototype.hasOwnProperty.call(tf.backend(), 'recordAndSubmit')).toBe(false);
    expect((await countDispatches(() => 1)).dispatches).toBe(0);
    tf.dispose([a, result]);
  });

  it('refuses other backends', async () => {
    await tf.setBackend('cpu');
    await expect(measureDispatchCost()).rejects.toThrow(/needs the webgpu backend, not cpu/);
    await expect(countDispatches(() => 1)).rejects.toThrow(/needs the webgpu backend, not cpu/);
  });
});
