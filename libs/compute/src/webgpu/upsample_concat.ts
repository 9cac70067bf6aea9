/**
 * `AnatomyNetUpsampleConcat` (../fused-conv.ts) on webgpu: the output block's transposed conv (kernel
 * 2, stride 2) with its bias, crop and the appended input channels.
 * Composed, libs/model runs a matmul, two transposes, a bias add, up to three slices and a concat,
 * each a pass over the full-resolution volume (178x302x225 x 17 channels: 0.8 GB written per pass).
 *
 * A thread per output voxel: it divides the voxel's index once, reads the input voxel's Cin values
 * once and the filter's columns of its octant as vec4s (Cout a multiple of 4), and keeps Cout sums in
 * registers (the bias added after them, as the composed Add does); the workgroup's voxels go out through workgroup memory, so that its writes are one
 * contiguous run (a thread's Cout + Ca values are not vec4-aligned: 17 a voxel in the reference).
 * Before (2026-11-28), a thread per output value re-read the Cin inputs and divided the index 6
 * times for each of the 17 values: 5.6 ms of the H100's whole-volume forward for 0.8 GB written.
 */
import * as tf from '@tensorflow/tfjs';
import { UPSAMPLE_CONCAT, upsampleConcatShape } from '../fused-conv';
import { deviceSharedBytes, release, requireFloat32, reshapeView, spreadWorkgroups, threadIndex, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';

/** Threads (voxels) a workgroup: 64, fewer where 64 voxels' outputs exceed the workgroup memory. */
export function upsampleThreads(oc: number, sharedBytes: number): number {
  let t = 64;
  while (t > 1 && t * oc * 4 > sharedBytes) t /= 2;
  return t;
}

export class UpsampleConcatProgram implements WebGPUProgram {
  variableNames = ['x', 'w', 'b', 'append'];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size = true;
  uniforms = 'voxels : i32, iD : i32, iH : i32, iW : i32, oD : i32, oH : i32, oW : i32,';
  variableComponents: number[];
  private lanes: number;
  constructor(private cin: number, private cout: number, private ca: number, voxels: number, private threads: number) {
    this.lanes = cout % 4 === 0 ? 4 : 1;
    this.variableComponents = [1, this.lanes, this.lanes, 1];
    this.outputShape = [voxels * (cout + ca)];
    this.workgroupSize = [threads, 1, 1];
    const [x, y] = spreadWorkgroups(Math.ceil(voxels / threads));
    this.dispatch = [x, y, 1];
    this.shaderKey = `anatomynet_upsample_concat_${cin}_${cout}_${ca}_${threads}`;
  }
  getUserCode(): string {
    const { cin, cout, ca, lanes, threads } = this;
    const oc = cout + ca;
    const groups = cout / lanes;
    const V = lanes === 4 ? 'vec4<f32>' : 'f32';
    // the sums' components to workgroup memory
    const store = Array.from({ length: groups }, (_, q) => (lanes === 4
      ? [0, 1, 2, 3].map((j) => `tile[at + ${4 * q + j}] = acc[${q}][${j}];`).join(' ')
      : `tile[at + ${q}] = acc[${q}];`)).join('\n            ');
    return `
      var<workgroup> tile : array<f32, ${threads * oc}>;
      fn main(index : i32) {
        let t = ${threadIndex(threads)};
        let first = index - t;
        if (index < uniforms.voxels) {
          let v = index % uniforms.oW;
          let r1 = index / uniforms.oW;
          let y = r1 % uniforms.oH;
          let r2 = r1 / uniforms.oH;
          let z = r2 % uniforms.oD;
          let n = r2 / uniforms.oD;
          let src = (((n * uniforms.iD + z / 2) * uniforms.iH + y / 2) * uniforms.iW + v / 2) * ${cin};
          // the octant's columns of w, in ${V}s
          let col = (((z % 2) * 2 + y % 2) * 2 + v % 2) * ${groups};
          var acc : array<${V}, ${groups}>;
          for (var k = 0; k < ${cin}; k = k + 1) {
            let xk = x[src + k];
            let row = k * ${8 * groups} + col;
            for (var q = 0; q < ${groups}; q = q + 1) { acc[q] = acc[q] + xk * w[row + q]; }
          }
          for (var q = 0; q < ${groups}; q = q + 1) { acc[q] = acc[q] + b[q]; }
          let at = t * ${oc};
          ${store}
          for (var a = 0; a < ${ca}; a = a + 1) { tile[at + ${cout} + a] = append[index * ${ca} + a]; }
        }
        workgroupBarrier();
        // a constant trip count: the index into tile is then provably in bounds (no robustness clamp)
        let count = min(${threads}, uniforms.voxels - first) * ${oc};
        for (var j = 0; j < ${oc}; j = j + 1) {
          let e = t + j * ${threads};
          if (e < count) { result[first * ${oc} + e] = tile[e]; }
        }
      }`;
  }
}

export function upsampleConcatConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { x, w, b, append } = args.inputs as { x: TensorInfo; w: TensorInfo; b: TensorInfo; append: TensorInfo };
    requireFloat32(UPSAMPLE_CONCAT, [x, w, b, append]);
    const shape = upsampleConcatShape(x.shape, w.shape, b.shape, append.shape);
    const [cin, cout, oc] = [x.shape[4], b.shape[0], shape[4]];
    const voxels = tf.util.sizeFromShape(shape) / oc;
    const program = new UpsampleConcatProgram(cin, cout, oc - cout, voxels, upsampleThreads(oc, deviceSharedBytes(backend)));
    const flat = [x, w, b, append].map((t) => reshapeView(backend, t, [tf.util.sizeFromShape(t.shape)]));
    const ints = [voxels, ...x.shape.slice(1, 4), ...shape.slice(1, 4)].map((v) => ({ type: 'int32' as const, data: [v] }));
    const y = backend.runWebGPUProgram(program, flat, 'float32', ints);
    const out = reshapeView(backend, y, shape);
    release(backend, ...flat, y);
    return out;
  };
  return { kernelName: UPSAMPLE_CONCAT, backendName: 'webgpu', kernelFunc };
}
