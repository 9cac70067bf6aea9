/**
 * PadV2 on webgpu for rank 5 and 6 (lower ranks keep the stock kernel).
 *
 * Why: the stock PadProgram emits invalid WGSL for rank 5 ("cannot index type vec5") and silently
 * leaves its output unwritten. The model pads and crops volumes ([N,D,H,W,C]) after up-sampling,
 * and the gradient of a crop (slice) is a pad, so a training step on odd sizes hits it.
 * How: one flat program; shapes travel as six scalar uniforms each (leading dims of size 1).
 */
import * as tf from '@tensorflow/tfjs';
import { spreadWorkgroups, stockKernel, withFloatInputs, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';

const RANK = 6;
const WG = 64;

class PadProgram implements WebGPUProgram {
  variableNames = ['x'];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  size = true;
  uniforms: string;
  constructor(outSize: number, private type: 'f32' | 'i32') {
    this.outputShape = [outSize];
    const [x, y] = spreadWorkgroups(Math.ceil(outSize / WG));
    this.dispatch = [x, y, 1];
    this.shaderKey = `anatomynet_pad_${type}`;
    const f = (p: string) => Array.from({ length: RANK }, (_, i) => `${p}${i} : i32,`).join(' ');
    this.uniforms = `${f('i')} ${f('o')} ${f('b')} value : f32,`;
  }
  getUserCode(): string {
    const lines: string[] = [];
    for (let d = RANK - 1; d >= 0; d--) {
      lines.push(`let c${d} = rest % uniforms.o${d} - uniforms.b${d};`);
      if (d > 0) lines.push(`rest = rest / uniforms.o${d};`);
      lines.push(`if (c${d} < 0 || c${d} >= uniforms.i${d}) { result[index] = ${this.type}(uniforms.value); return; }`);
    }
    let at = 'c0';
    for (let d = 1; d < RANK; d++) at = `(${at}) * uniforms.i${d} + c${d}`;
    return `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        var rest = index;
        ${lines.join('\n        ')}
        result[index] = x[${at}];
      }`;
  }
}

export function padConfig(): tf.KernelConfig {
  const stock = stockKernel('PadV2');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { paddings, constantValue } = args.attrs as unknown as tf.PadV2Attrs;
    const rank = x.shape.length;
    const outShape = x.shape.map((n, d) => paddings[d][0] + n + paddings[d][1]);
    const outSize = tf.util.sizeFromShape(outShape);
    if (rank < 5 || rank > RANK || outSize === 0 || tf.util.sizeFromShape(x.shape) === 0 || x.dtype === 'complex64' || x.dtype === 'string') {
      return stock.kernelFunc(args);
    }
    const backend = args.backend as unknown as WebGPUBackendLike;
    const lead = RANK - rank;
    const dims = (f: (d: number) => number) => Array.from({ length: RANK }, (_, i) => (i < lead ? f(-1) : f(i - lead)));
    const uniforms = [
      ...dims((d) => (d < 0 ? 1 : x.shape[d])),
      ...dims((d) => (d < 0 ? 1 : outShape[d])),
      ...dims((d) => (d < 0 ? 0 : paddings[d][0])),
    ].map((v) => ({ type: 'int32' as const, data: [v] }));
    const program = new PadProgram(outSize, x.dtype === 'float32' ? 'f32' : 'i32');
    const flat = backend.runWebGPUProgram(program, [x], x.dtype, [...uniforms, { type: 'float32', data: [constantValue] }]);
    const reshape = tf.getKernel('Reshape', 'webgpu')!;
    const out = reshape.kernelFunc({ inputs: { x: flat }, backend: args.backend, attrs: { shape: outShape } }) as TensorInfo;
    backend.disposeData(flat.dataId);
    return out;
  };
  return { kernelName: 'PadV2', backendName: 'webgpu', kernelFunc: withFloatInputs(kernelFunc, ['x']) };
}
