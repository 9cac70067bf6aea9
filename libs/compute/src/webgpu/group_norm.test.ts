/**
 * The fused group norm on webgpu (forward, and the gradient's sums and dx kernels) against cpu,
 * where the fused cpu kernel is itself tested against the composed ops (cpu/fused-kernels.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { normalizeGroups, updateRunningStats } from '@anatomynet/model';
import { selectBackend } from '../backend';
import { GROUP_NORM, GROUP_NORM_DX, GROUP_NORM_GRAD, GROUP_NORM_SUMS, RUNNING_STATS_IN_PLACE } from '../group-norm';
import { CHUNK, LANES_MAX_INNER, WIDE_CHUNK } from './reduce';
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

  // one chunk, a lanes pass (past CHUNK rows), several lanes chunks folded again, more channels than
  // a lanes pass takes (chunks of CHUNK rows, folded again); G > 1; odd C; with and without LeakyReLU;
  // C a multiple of 4 (the flat passes on vec4s)
  it.each([
    [1, 37, 5, undefined], [2, 300, 3, undefined], [1, WIDE_CHUNK * 8 + 77, 7, undefined], [3, 129, 16, undefined],
    [1, 3 * CHUNK + 5, LANES_MAX_INNER + 3, undefined], [2, 300, 3, 0.1], [1, WIDE_CHUNK * 8 + 77, 7, 0.01], [1, 37, 5, 0],
    [2, 300, 8, 0.1], [3, 129, 16, 0.01], [1, 3 * CHUNK + 5, LANES_MAX_INNER + 3, 0.01],
  ])('G=%i R=%i C=%i, LeakyReLU slope %s: y, batch statistics and the gradients of x, gamma, beta', async (g, r, c, alpha) => {
    const run = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, w: tf.Tensor): tf.Tensor[] => {
      // mean 2, not centred, as activations are
      const xs = tf.add(tf.mul(x, 3), 2) as tf.Tensor3D;
      const out = normalizeGroups(xs, tf.add(gamma, 1.5) as tf.Tensor1D, beta as tf.Tensor1D, 1e-5, alpha);
      const grads = tf.grads((a, gm, b) => tf.sum(tf.mul(normalizeGroups(a as tf.Tensor3D, gm as tf.Tensor1D, b as tf.Tensor1D, 1e-5, alpha).y, w)))(
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

describe.skipIf(!adapter)(`BatchNorm running statistics in place on webgpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  it('one kernel, the composed values (within a float32 rounding), and shared tensors left to the composed ops', async () => {
    await selectBackend({ prefer: 'webgpu', log: () => undefined });
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    expect(tf.getKernel(RUNNING_STATS_IN_PLACE, 'webgpu')).toBeDefined();
    const c = 37;
    const values = (seed: number, offset = 0) => Float32Array.from({ length: c }, (_, i) => offset + Math.sin(seed * 31 + i * 7));
    const mean = tf.tensor1d(values(1));
    const variance = tf.tensor1d(values(2, 1.5));
    // a variable made from a tensor shares its data until that tensor is disposed: in place only then
    const run = async (inPlace: boolean) => {
      const initials = [tf.tensor1d(values(3)), tf.tensor1d(values(4, 2))];
      const [rm, rv] = initials.map((t) => tf.variable(t));
      if (inPlace) tf.dispose(initials);
      await rm.data(); // a read-back copy, which the in-place kernel must drop
      const info = await tf.profile(() => updateRunningStats(rm, rv, mean, variance, 0.1, 4097));
      const out = { kernels: info.kernels.map((k) => k.name), rm: Array.from(await rm.data()), rv: Array.from(await rv.data()), initial: inPlace ? [] : Array.from(await initials[0].data()) };
      tf.dispose([rm, rv, ...(inPlace ? [] : initials)]);
      return out;
    };
    const inPlace = await run(true);
    const composed = await run(false);
    expect(inPlace.kernels).toEqual([RUNNING_STATS_IN_PLACE]);
    expect(composed.kernels).not.toContain(RUNNING_STATS_IN_PLACE);
    expect(composed.initial).toEqual(Array.from(values(3)).map(Math.fround));
    const close = (a: number[], b: number[]) => a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThanOrEqual(2 ** -22 * Math.abs(b[i])));
    close(inPlace.rm, composed.rm);
    close(inPlace.rv, composed.rv);
    expect(inPlace.rm).not.toEqual(Array.from(values(3)).map(Math.fround));
    tf.dispose([mean, variance]);
  });
});
