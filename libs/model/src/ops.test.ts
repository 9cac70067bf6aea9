import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addBiasRows, cropStart5, depthToSpace2, FUSED_GROUP_NORM, normalizeGroups, normalizeGroupsComposed, padEnd5,
  releaseKeptOnes, scaleChannels, sumRows,
} from './ops';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const close = (a: tf.Tensor, b: tf.Tensor, tol = 1e-5): void => {
  expect(a.shape).toEqual(b.shape);
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
  expect(d).toBeLessThanOrEqual(tol);
};

describe('sumRows', () => {
  it('keeps the ones of the last four shapes summed, and the sums stay right', () => {
    releaseKeptOnes();
    const before = tf.memory().numTensors;
    for (let r = 1; r <= 6; r++) {
      const x = tf.ones([2, r, 3]) as tf.Tensor3D;
      const s = sumRows(x);
      expect(Array.from(s.dataSync())).toEqual(new Array(6).fill(r));
      tf.dispose([x, s]);
      expect(tf.memory().numTensors - before).toBe(Math.min(r, 4));
    }
    // released, the next sum makes its ones again
    expect(releaseKeptOnes()).toBe(4);
    expect(tf.memory().numTensors).toBe(before);
    const s = tf.tidy(() => sumRows(tf.ones([1, 5, 2]) as tf.Tensor3D));
    expect(Array.from(s.dataSync())).toEqual([5, 5]);
    s.dispose();
    expect(releaseKeptOnes()).toBe(1);
  });

  it('sums each group over its rows', () => {
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60], [2, 3, 2]);
    expect(Array.from(sumRows(x).dataSync())).toEqual([9, 12, 90, 120]);
  });
});

describe('depthToSpace2 as a transposed convolution', () => {
  it('equals tf.conv3dTranspose with kernel 2, stride 2', () => {
    const [n, d, h, w, cin, cout] = [2, 2, 3, 2, 3, 4];
    const x = tf.randomNormal([n, d, h, w, cin], 0, 1, 'float32', 1) as tf.Tensor5D;
    // conv3dTranspose filter [kd, kh, kw, outC, inC]; ours [inC, (a, b, c, outC)].
    const filter = tf.randomNormal([2, 2, 2, cout, cin], 0, 1, 'float32', 2) as tf.Tensor5D;
    const ours = tf.transpose(filter, [4, 0, 1, 2, 3]).reshape([cin, 8 * cout]) as tf.Tensor2D;
    const expected = tf.conv3dTranspose(x, filter, [n, 2 * d, 2 * h, 2 * w, cout], 2, 'same');
    const y = depthToSpace2(tf.matMul(x.reshape([-1, cin]), ours).reshape([n, d, h, w, 8 * cout]) as tf.Tensor5D);
    close(y, expected, 1e-4);
  });
});

describe('custom gradients agree with autodiff of stock ops', () => {
  it('addBiasRows', () => {
    const x = tf.randomNormal([7, 3], 0, 1, 'float32', 3) as tf.Tensor2D;
    const b = tf.tensor1d([0.5, -1, 2]);
    const dy = tf.randomNormal([7, 3], 0, 1, 'float32', 4);
    const ours = tf.grads((xx, bb) => addBiasRows(xx as tf.Tensor2D, bb as tf.Tensor1D).mul(dy).sum())([x, b]);
    const stock = tf.grads((xx, bb) => tf.add(xx, bb).mul(dy).sum())([x, b]);
    close(ours[0], stock[0]);
    close(ours[1], stock[1]);
    close(addBiasRows(x, b), tf.add(x, b));
  });

  it('scaleChannels', () => {
    const x = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 5) as tf.Tensor3D;
    const s = tf.randomUniform([2, 1, 3], 0, 1, 'float32', 6) as tf.Tensor3D;
    const dy = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 7);
    const ours = tf.grads((a, b) => scaleChannels(a as tf.Tensor3D, b as tf.Tensor3D).mul(dy).sum())([x, s]);
    const stock = tf.grads((a, b) => tf.mul(a, b).mul(dy).sum())([x, s]);
    close(ours[0], stock[0]);
    close(ours[1], stock[1]);
  });

  it.each([1, 2])('normalizeGroups with %i group(s): values, statistics and gradients', (groups) => {
    const x = tf.randomNormal([groups, 11, 3], 2, 3, 'float32', 8) as tf.Tensor3D;
    const gamma = tf.tensor1d([1.5, 0.5, -1]);
    const beta = tf.tensor1d([0.1, 0, -0.2]);
    const dy = tf.randomNormal([groups, 11, 3], 0, 1, 'float32', 9);
    const stockNorm = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => {
      const { mean, variance } = tf.moments(a, 1, true);
      return tf.add(tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    };
    const r = normalizeGroups(x, gamma, beta, 1e-5);
    close(r.y, stockNorm(x, gamma, beta), 1e-4);
    const m = tf.moments(x, 1, true);
    close(r.mean, m.mean, 1e-5);
    close(r.variance, m.variance, 1e-4);
    const ours = tf.grads((a, g, b) => normalizeGroups(a as tf.Tensor3D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5).y.mul(dy).sum())([x, gamma, beta]);
    const stock = tf.grads((a, g, b) => stockNorm(a, g, b).mul(dy).sum())([x, gamma, beta]);
    for (let i = 0; i < 3; i++) close(ours[i], stock[i], 1e-4);
  });
});

describe('normalizeGroups dispatch', () => {
  it('runs the backend kernel named FUSED_GROUP_NORM where one is registered, the composed ops otherwise', () => {
    const x = tf.randomNormal([2, 9, 5], 1, 2, 'float32', 12) as tf.Tensor3D;
    const gamma = tf.tensor1d([1, 2, 0.5, -1, 1.5]), beta = tf.tensor1d([0, 0.1, -0.2, 0.3, 0]);
    const composed = normalizeGroupsComposed(x, gamma, beta, 1e-5);
    const plain = normalizeGroups(x, gamma, beta, 1e-5);
    close(plain.y, composed.y, 0);
    // a stand-in kernel: the composed values shifted by 1, to see which path ran
    const calls: unknown[] = [];
    tf.registerKernel({
      kernelName: FUSED_GROUP_NORM,
      backendName: 'cpu',
      kernelFunc: ({ inputs, attrs }) => {
        calls.push(attrs);
        const xin = tf.engine().makeTensorFromTensorInfo(inputs.x as tf.TensorInfo) as tf.Tensor3D;
        const r = normalizeGroupsComposed(xin, gamma, beta, 1e-5);
        return [tf.add(r.y, 1), r.mean, r.variance];
      },
    });
    try {
      const fused = normalizeGroups(x, gamma, beta, 1e-5);
      expect(calls).toEqual([{ eps: 1e-5 }]);
      close(fused.y, tf.add(composed.y, 1), 1e-6);
      close(fused.mean, composed.mean, 0);
      close(fused.variance, composed.variance, 0);
    } finally {
      tf.unregisterKernel(FUSED_GROUP_NORM, 'cpu');
    }
    close(normalizeGroups(x, gamma, beta, 1e-5).y, composed.y, 0);
  });
});

describe('padEnd5 / cropStart5 (rank-2 views)', () => {
  it('equal tf.pad and tf.slice on rank 5, gradients included', () => {
    const x = tf.randomNormal([2, 3, 2, 3, 2], 0, 1, 'float32', 10) as tf.Tensor5D;
    const padded = padEnd5(x, [4, 4, 5]);
    close(padded, tf.pad(x, [[0, 0], [0, 1], [0, 2], [0, 2], [0, 0]]), 0);
    close(cropStart5(padded, [3, 2, 3]), x, 0);
    close(cropStart5(x, [2, 1, 2]), tf.slice(x, [0, 0, 0, 0, 0], [2, 2, 1, 2, 2]), 0);
    const dy = tf.randomNormal([2, 4, 4, 5, 2], 0, 1, 'float32', 11);
    const g = tf.grad((a: tf.Tensor) => padEnd5(a as tf.Tensor5D, [4, 4, 5]).mul(dy).sum())(x);
    close(g, tf.slice(dy, [0, 0, 0, 0, 0], [2, 3, 2, 3, 2]), 0);
  });
});
