/**
 * `AnatomyNetSEGate` (../fused-conv.ts) on webgpu: the squeeze-and-excitation gate of one case per
 * workgroup, sigmoid(leakyRelu((sums / voxels) w1 + b1) w2 + b2). Composed, that is seven dispatches
 * on [N, C] tensors of a few dozen values, each costing more CPU time to record than GPU time to run.
 */
import * as tf from '@tensorflow/tfjs';
import { SE_GATE } from '../fused-conv';
import { type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';

const THREADS = 64;

class SeGateProgram implements WebGPUProgram {
  variableNames = ['sums', 'w1', 'b1', 'w2', 'b2'];
  outputShape: number[];
  shaderKey: string;
  // a y axis makes tfjs emit `fn main()` with workgroup ids (not the flat main(index))
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  uniforms = 'voxels : f32, alpha : f32,';

  constructor(cases: number, private channels: number, private hidden: number) {
    this.outputShape = [cases, channels];
    this.dispatch = [cases, 1, 1];
    this.shaderKey = `anatomynet_se_gate_${channels}_${hidden}`;
  }

  getUserCode(): string {
    const c = this.channels, r = this.hidden;
    // each sum in the composed ops' order: the products over the input axis, then the bias
    return `
      var<workgroup> z : array<f32, ${c}>;
      var<workgroup> hid : array<f32, ${r}>;
      fn main() {
        let n = i32(workgroupId.x);
        let t = i32(localId.x);
        for (var i = t; i < ${c}; i = i + ${THREADS}) { z[i] = sums[n * ${c} + i] / uniforms.voxels; }
        workgroupBarrier();
        for (var j = t; j < ${r}; j = j + ${THREADS}) {
          var a = 0.0;
          for (var i = 0; i < ${c}; i = i + 1) { a = a + z[i] * w1[i * ${r} + j]; }
          a = a + b1[j];
          hid[j] = select(a, uniforms.alpha * a, a < 0.0);
        }
        workgroupBarrier();
        for (var k = t; k < ${c}; k = k + ${THREADS}) {
          var a = 0.0;
          for (var j = 0; j < ${r}; j = j + 1) { a = a + hid[j] * w2[j * ${c} + k]; }
          result[n * ${c} + k] = 1.0 / (1.0 + exp(-(a + b2[k])));
        }
      }`;
  }
}

export function seGateConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { sums, w1, b1, w2, b2 } = args.inputs as Record<'sums' | 'w1' | 'b1' | 'w2' | 'b2', TensorInfo>;
    const [n, c] = sums.shape;
    const r = b1.shape[0];
    const fits = sums.shape.length === 2 && w1.shape.join() === `${c},${r}` && w2.shape.join() === `${r},${c}` && b2.shape.join() === `${c}`;
    if (!fits || [sums, w1, b1, w2, b2].some((t) => t.dtype !== 'float32')) {
      throw new RangeError(`${SE_GATE}: float32 sums [N, C], w1 [C, R], b1 [R], w2 [R, C], b2 [C] expected, got [${sums.shape}], [${w1.shape}], [${b1.shape}], [${w2.shape}], [${b2.shape}]`);
    }
    const { voxels, alpha } = args.attrs as { voxels: number; alpha: number };
    return backend.runWebGPUProgram(new SeGateProgram(n, c, r), [sums, w1, b1, w2, b2], 'float32', [
      { type: 'float32', data: [voxels] }, { type: 'float32', data: [alpha] },
    ]);
  };
  return { kernelName: SE_GATE, backendName: 'webgpu', kernelFunc };
}
