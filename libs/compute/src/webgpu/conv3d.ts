/**
 * Conv3D (forward) on webgpu as an implicit GEMM: rows are output voxels [N*Do*Ho*Wo], columns
 * output channels, K = fD*fH*fW*Cin; A is gathered from x on the fly (zero padding), B is the
 * filter read as its natural [K, Cout] matrix; tap-major K steps (vec4 loads of x when Cin % 4 == 0)
 * when Cin fills the K slabs. 'same'/'valid' padding and strides as tfjs
 * computes them (backend_util.computeConv3DInfo), dilations included.
 * Stride-1 convs writing few channels may run the direct kernel instead (conv3d_direct.ts), as
 * gemm_plan.ts's directFor decides.
 */
import * as tf from '@tensorflow/tfjs';
import { ImplicitGemmProgram, runImplicitGemm, tapGathers, type GemmFunctions } from './conv3d_gemm';
import { runDirectConv } from './conv3d_direct';
import { directFor, gemmPlan, tilingFor } from './gemm_plan';
import { deviceSharedBytes, release, reshapeView, stockKernel, type TensorInfo, type WebGPUBackendLike } from './program';

const FUNCTIONS: GemmFunctions = {
  shared: `
  fn rowInfo(m : i32) -> vec4<i32> {
    if (m >= uniforms.M) { return vec4<i32>(-1, 0, 0, 0); }
    let ow = m % uniforms.outW;
    let t1 = m / uniforms.outW;
    let oh = t1 % uniforms.outH;
    let t2 = t1 / uniforms.outH;
    let od = t2 % uniforms.outD;
    let n = t2 / uniforms.outD;
    return vec4<i32>(n, od * uniforms.sD - uniforms.pD, oh * uniforms.sH - uniforms.pH, ow * uniforms.sW - uniforms.pW);
  }
  fn loadB(k : i32, n : i32) -> f32 {
    return W[k * uniforms.outC + n];
  }
  fn loadBTap(t : vec4<i32>, c : i32, n : i32) -> f32 {
    return W[(t.w * uniforms.inC + c) * uniforms.outC + n];
  }
  // the input voxel (flat, batch included) that tap t reads for output row r, or -1 in the padding
  fn tapVoxel(r : vec4<i32>, t : vec4<i32>) -> i32 {
    if (r.x < 0) { return -1; }
    let d = r.y + t.x;
    let h = r.z + t.y;
    let w = r.w + t.z;
    if (d < 0 || d >= uniforms.inD || h < 0 || h >= uniforms.inH || w < 0 || w >= uniforms.inW) { return -1; }
    return ((r.x * uniforms.inD + d) * uniforms.inH + h) * uniforms.inW + w;
  }`,
  ...tapGathers('x', 'inC'),
};

export function conv3dConfig(): tf.KernelConfig {
  const stock = stockKernel('Conv3D');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const { strides, pad, dilations, dataFormat } = args.attrs as unknown as tf.Conv3DAttrs;
    if ((dataFormat && dataFormat !== 'NDHWC') || x.dtype !== 'float32') return stock.kernelFunc(args);
    const backend = args.backend as unknown as WebGPUBackendLike;
    const conv = tf.backend_util.computeConv3DInfo(
      x.shape as [number, number, number, number, number], filter.shape as [number, number, number, number, number],
      strides, dilations ?? 1, pad);
    const M = conv.batchSize * conv.outDepth * conv.outHeight * conv.outWidth;
    const K = conv.filterDepth * conv.filterHeight * conv.filterWidth * conv.inChannels;
    const taps = conv.filterDepth * conv.filterHeight * conv.filterWidth;
    const plan = gemmPlan('forward', conv);
    const direct = directFor(plan, deviceSharedBytes(backend));
    if (direct) return runDirectConv(backend, direct.geometry, direct.tiling, x, filter, conv.outShape);
    const program = new ImplicitGemmProgram(['x', 'W'], 'conv3d', FUNCTIONS, M, plan.N, K, 1, plan.mode, tilingFor(plan), { taps, channels: conv.inChannels });
    const y = runImplicitGemm(backend, program, [x, filter], conv);
    const out = reshapeView(backend, y, conv.outShape);
    release(backend, y);
    return out;
  };
  return { kernelName: 'Conv3D', backendName: 'webgpu', kernelFunc };
}
