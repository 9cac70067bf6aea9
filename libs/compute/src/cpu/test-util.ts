import * as tf from '@tensorflow/tfjs';

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

/** The SE gate composed as libs/model writes it (div, matMul, add, leakyRelu, matMul, add, sigmoid). */
export function composedSeGate(sums: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor, voxels: number, alpha: number): tf.Tensor {
  const hid = tf.leakyRelu(tf.add(tf.matMul(tf.div(sums, voxels) as tf.Tensor2D, w1 as tf.Tensor2D), b1), alpha);
  return tf.sigmoid(tf.add(tf.matMul(hid as tf.Tensor2D, w2 as tf.Tensor2D), b2));
}

/** A [4, C] stack of running mean, running variance, gamma, beta as the fused conv's four norm inputs. */
export function normInputs(norm: tf.Tensor2D | undefined): Record<string, tf.Tensor> {
  if (!norm) return {};
  const [mean, variance, gamma, beta] = tf.unstack(norm);
  return { mean, variance, gamma, beta };
}

/**
 * The output block's upsampling composed with tfjs ops alone (another route than libs/model's):
 * x [N,d,h,w,Cin] times w [Cin, (a,b,c,Cout)], each voxel's 2x2x2 block laid out by one rank-8
 * transpose, cropped to append's size, plus the bias, then append's channels.
 */
export function composedUpsampleConcat(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, append: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [n, d, h, wd, cin] = x.shape;
    const cout = b.shape[0];
    const [, D, H, W] = append.shape;
    const y = tf.matMul(x.reshape([-1, cin]) as tf.Tensor2D, w as tf.Tensor2D).reshape([n, d, h, wd, 2, 2, 2, cout]);
    const up = tf.transpose(y, [0, 1, 4, 2, 5, 3, 6, 7]).reshape([n, 2 * d, 2 * h, 2 * wd, cout]);
    const cropped = tf.slice(up, [0, 0, 0, 0, 0], [n, D, H, W, cout]);
    return tf.concat([tf.add(cropped, b), append], 4);
  });
}
