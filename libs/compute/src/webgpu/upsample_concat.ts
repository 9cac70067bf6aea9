/**
 * `AnatomyNetUpsampleConcat` (../fused-conv.ts) on webgpu: the output block's transposed conv (kernel
 * 2, stride 2) with its bias, crop and the appended input channels, one thread per output value.
 * Composed, libs/model runs a matmul, two transposes, a bias add, up to three slices and a concat,
 * each a pass over the full-resolution volume (178x302x225 x 17 channels: 0.8 GB written per pass).
 */
import * as tf from '@tensorflow/tfjs';
import { UPSAMPLE_CONCAT, upsampleConcatShape } from '../fused-conv';
import { FlatProgram, release, requireFloat32, reshapeView, type TensorInfo, type WebGPUBackendLike } from './program';

const BODY = `
        let ch = index % uniforms.oc;
        let vox = index / uniforms.oc;
        if (ch >= uniforms.cout) {
          result[index] = append[vox * (uniforms.oc - uniforms.cout) + ch - uniforms.cout];
          return;
        }
        let v = vox % uniforms.oW;
        let r1 = vox / uniforms.oW;
        let y = r1 % uniforms.oH;
        let r2 = r1 / uniforms.oH;
        let z = r2 % uniforms.oD;
        let n = r2 / uniforms.oD;
        let src = (((n * uniforms.iD + z / 2) * uniforms.iH + y / 2) * uniforms.iW + v / 2) * uniforms.cin;
        let col = (((z % 2) * 2 + y % 2) * 2 + v % 2) * uniforms.cout + ch;
        let cols = 8 * uniforms.cout;
        var acc = 0.0;
        for (var k = 0; k < uniforms.cin; k = k + 1) {
          acc = acc + x[src + k] * w[k * cols + col];
        }
        result[index] = acc + b[ch];`;

export function upsampleConcatConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { x, w, b, append } = args.inputs as { x: TensorInfo; w: TensorInfo; b: TensorInfo; append: TensorInfo };
    requireFloat32(UPSAMPLE_CONCAT, [x, w, b, append]);
    const shape = upsampleConcatShape(x.shape, w.shape, b.shape, append.shape);
    const size = tf.util.sizeFromShape(shape);
    const program = new FlatProgram(['x', 'w', 'b', 'append'],
      'iD : i32, iH : i32, iW : i32, cin : i32, oD : i32, oH : i32, oW : i32, cout : i32, oc : i32,', BODY, 'upsample_concat', size);
    const flat = [x, w, b, append].map((t) => reshapeView(backend, t, [tf.util.sizeFromShape(t.shape)]));
    const ints = [...x.shape.slice(1), ...shape.slice(1, 4), b.shape[0], shape[4]].map((v) => ({ type: 'int32' as const, data: [v] }));
    const y = backend.runWebGPUProgram(program, flat, 'float32', ints);
    const out = reshapeView(backend, y, shape);
    release(backend, ...flat, y);
    return out;
  };
  return { kernelName: UPSAMPLE_CONCAT, backendName: 'webgpu', kernelFunc };
}
