import * as tf from '@tensorflow/tfjs';

/** Deterministic test data for the kernel tests (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The composed ops `AnatomyNetFusedConv3D` stands for (../fused-conv.ts), as libs/model composed
 * them before the fusion: conv, bias add, running-statistics BatchNorm (tfjs's batchNorm formula:
 * x * scale + (beta - mean * scale)), LeakyReLU.
 */
export function fusedConvReference(
  x: tf.Tensor5D, filter: tf.Tensor5D, bias: tf.Tensor1D, norm: tf.Tensor2D | undefined,
  strides: 1 | 2, pad: 'same' | 'valid', eps: number, alpha: number | null,
): tf.Tensor {
  return tf.tidy(() => {
    let y: tf.Tensor = tf.add(tf.conv3d(x, filter, strides, pad), bias);
    if (norm) {
      const [mean, variance, gamma, beta] = tf.unstack(norm);
      const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
      y = tf.add(tf.mul(y, scale), tf.sub(beta, tf.mul(mean, scale)));
    }
    return alpha === null ? y : tf.leakyRelu(y, alpha);
  });
}
