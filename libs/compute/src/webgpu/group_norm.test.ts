/**
 * The fused group norm on webgpu (forward, and the gradient's sums and dx kernels) against cpu,
 * where the fused cpu kernel is itself tested against the composed ops (cpu/fused-kernels.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { normalizeGroups } from '@anatomynet/model';
import { selectBackend } from '../backend';
import { GROUP_NORM, GROUP_NORM_DX, GROUP_NORM_GRAD, GROUP_NORM_SUMS } from '../group-norm';
import { CHUNK } from './reduce';
import { adapterPromise, compareWithCpu, SKIP_NOTE } from './test_util';

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu group norm tests ${SKIP_NOTE}`);

describe.skipIf(!adapter)(`fused group norm on webgpu vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    const choice = await selectBackend({ prefer: 'webgpu', log: () => undefined });
    expect(choice.kernels).toEqual(expect.arrayContaining([GROUP_NORM, GROUP_NORM_SUMS, GROUP_NORM_DX]));
    expect(tf.getKernel(GROUP_NORM_GRAD, 'webgpu')).toBeUndefined();
    tf.env().set('WEBGPU_CPU_FORWARD', false);
  });

  // one chunk, several chunks folded once, and more rows than CHUNK^2 (folded twice); G > 1; odd C
  it.each([
    [1, 37, 5], [2, 300, 3], [1, CHUNK * CHUNK + 77, 7], [3, 129, 16],
  ])('G=%i R=%i C=%i: y, batch statistics and the gradients of x, gamma, beta', async (g, r, c) => {
    const run = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, w: tf.Tensor): tf.Tensor[] => {
      // mean 2, not centred, as activations are
      const xs = tf.add(tf.mul(x, 3), 2) as tf.Tensor3D;
      const out = normalizeGroups(xs, tf.add(gamma, 1.5) as tf.Tensor1D, beta as tf.Tensor1D, 1e-5);
      const grads = tf.grads((a, gm, b) => tf.sum(tf.mul(normalizeGroups(a as tf.Tensor3D, gm as tf.Tensor1D, b as tf.Tensor1D, 1e-5).y, w)))(
        [xs, tf.add(gamma, 1.5), beta]);
      return [out.y, out.mean, out.variance, ...grads];
    };
    const r2 = await compareWithCpu([{ shape: [g, r, c], seed: 31 }, { shape: [c], seed: 32 }, { shape: [c], seed: 33 }, { shape: [g, r, c], seed: 34 }], run);
    expect(r2.shapes).toEqual([[g, r, c], [g, 1, c], [g, 1, c], [g, r, c], [c], [c]]);
    ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'].forEach((n, i) => expect(r2.errors[i], n).toBeLessThan(2e-5));
  });

  it('a training-mode forward and backward dispatches the fused kernels, not the composed ops', async () => {
    await tf.setBackend('webgpu');
    const x = tf.randomNormal([1, 500, 6]) as tf.Tensor3D, gamma = tf.ones([6]) as tf.Tensor1D, beta = tf.zeros([6]) as tf.Tensor1D;
    const info = await tf.profile(() => tf.grads((a, gm, b) => tf.sum(normalizeGroups(a as tf.Tensor3D, gm as tf.Tensor1D, b as tf.Tensor1D, 1e-5).y))([x, gamma, beta]));
    const names = info.kernels.map((k) => k.name);
    expect(names).toEqual(expect.arrayContaining([GROUP_NORM, GROUP_NORM_SUMS, GROUP_NORM_DX]));
    expect(names).not.toContain('Rsqrt');
    tf.dispose([x, gamma, beta]);
  });
});
