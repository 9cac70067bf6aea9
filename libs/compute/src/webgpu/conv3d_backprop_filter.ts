/**
 * Conv3DBackpropFilterV2 (dW) on webgpu as an implicit GEMM: rows are filter entries (tap, ci)
 * [fD*fH*fW*Cin], columns output channels, and K runs over every output voxel (millions for a
 * volume). K is split into slices computed by separate workgroups (split-K) whose partial filters
 * are then summed by this project's reduction kernel. Where Cin % 4 == 0 ('step4') one load gathers
 * four rows, four channels of one tap, as a vec4: a quarter of the index arithmetic and bounds checks
 * per gathered value, which dominate a gather used for only Cout multiply-adds. Stride-1 convs with
 * few output channels may run the direct dW kernel instead (conv3d_direct_dw.ts), as gemm_plan.ts's
 * directDwFor decides, and tuned 3x3x3 stride-1 ones Winograd's (conv3d_winograd_dw.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { ImplicitGemmProgram, runImplicitGemm, type GemmFunctions } from './conv3d_gemm';
import { runDirectDw } from './conv3d_direct_dw';
import { runWinogradDw } from './conv3d_winograd_dw';
import { directDwFor, gemmPlan, tilingFor, winogradFor } from './gemm_plan';
import { deviceSharedBytes, release, reshapeView, stockKernel, withFloatInputs, type TensorInfo, type WebGPUBackendLike } from './program';
import { reduceOnGpu } from './reduce';

const FUNCTIONS: GemmFunctions = { shared: `
  fn rowInfo(m : i32) -> vec4<i32> {
    if (m >= uniforms.M) { return vec4<i32>(-1, 0, 0, 0); }
    let ci = m % uniforms.inC;
    let tap = m / uniforms.inC;
    let kw = tap % uniforms.fW;
    let t1 = tap / uniforms.fW;
    let kh = t1 % uniforms.fH;
    let kd = t1 / uniforms.fH;
    return vec4<i32>(ci, kd * uniforms.dD - uniforms.pD, kh * uniforms.dH - uniforms.pH, kw * uniforms.dW - uniforms.pW);
  }
  fn voxel(k : i32) -> vec4<i32> {
    let ow = k % uniforms.outW;
    let t1 = k / uniforms.outW;
    let oh = t1 % uniforms.outH;
    let t2 = t1 / uniforms.outH;
    return vec4<i32>(t2 / uniforms.outD, t2 % uniforms.outD, oh, ow);
  }
  fn stepInfo(k0 : i32) -> vec4<i32> {
    return voxel(k0);
  }
  // the input voxel (flat) that row r's tap reads for the step's voxel dk, or -1 in the padding
  fn stepVoxel(r : vec4<i32>, s : vec4<i32>, dk : i32, k : i32) -> i32 {
    if (r.x < 0) { return -1; }
    // the step's first voxel plus dk along W; decompose again only when that wraps a row
    var v = vec4<i32>(s.x, s.y, s.z, s.w + dk);
    if (v.w >= uniforms.outW) { v = voxel(k); }
    let d = v.y * uniforms.sD + r.y;
    let h = v.z * uniforms.sH + r.z;
    let w = v.w * uniforms.sW + r.w;
    if (d < 0 || d >= uniforms.inD || h < 0 || h >= uniforms.inH || w < 0 || w >= uniforms.inW) { return -1; }
    return ((v.x * uniforms.inD + d) * uniforms.inH + h) * uniforms.inW + w;
  }
  fn loadB(k : i32, n : i32) -> f32 {
    return dy[k * uniforms.outC + n];
  }`,
  scalarA: `
  fn loadAStep(r : vec4<i32>, s : vec4<i32>, dk : i32, k : i32) -> f32 {
    let v = stepVoxel(r, s, dk, k);
    if (v < 0) { return 0.0; }
    return x[v * uniforms.inC + r.x];
  }`,
  // rows r..r+3 are channels r.x..r.x+3 of one tap (inC % 4 == 0)
  vec4A: `
  fn loadAStep4(r : vec4<i32>, s : vec4<i32>, dk : i32, k : i32) -> vec4<f32> {
    let v = stepVoxel(r, s, dk, k);
    if (v < 0) { return vec4<f32>(0.0); }
    return x[(v * uniforms.inC + r.x) / 4];
  }`,
};

/** Voxels per split-K slice, at least; partial filters are capped at 64 MiB. */
const MIN_SLICE = 4096;
const MAX_PARTIAL_BYTES = 64 * 1024 * 1024;

/** Number of split-K slices for a reduction over K voxels producing an M x N filter. */
export function filterSlices(M: number, N: number, K: number, tk = 16): number {
  const byWork = Math.floor(K / MIN_SLICE);
  const byMemory = Math.floor(MAX_PARTIAL_BYTES / (4 * M * N));
  return Math.max(1, Math.min(byWork, byMemory, Math.ceil(K / tk), 1024));
}

export function conv3dBackpropFilterConfig(): tf.KernelConfig {
  const stock = stockKernel('Conv3DBackpropFilterV2');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, filterShape } = args.attrs as unknown as tf.Conv3DBackpropFilterV2Attrs;
    if (x.dtype !== 'float32') return stock.kernelFunc(args);
    const backend = args.backend as unknown as WebGPUBackendLike;
    const conv = tf.backend_util.computeConv3DInfo(
      x.shape as [number, number, number, number, number], filterShape, strides, 1, pad);
    const M = conv.filterDepth * conv.filterHeight * conv.filterWidth * conv.inChannels;
    const K = conv.batchSize * conv.outDepth * conv.outHeight * conv.outWidth;
    const plan = gemmPlan('dw', conv);
    const winograd = winogradFor(plan);
    if (winograd) return runWinogradDw(backend, winograd.geometry, winograd.tiling, x, dy, filterShape);
    const direct = directDwFor(plan, deviceSharedBytes(backend));
    if (direct) return runDirectDw(backend, direct.geometry, direct.tiling, x, dy, filterShape);
    const tiling = tilingFor(plan);
    const slices = filterSlices(M, conv.outChannels, K, tiling.tk);
    const program = new ImplicitGemmProgram(['x', 'dy'], 'conv3d_dw', FUNCTIONS, M, plan.N, K, slices, plan.mode, tiling);
    const partial = runImplicitGemm(backend, program, [x, dy], conv);
    const out = program.slices > 1
      ? reduceOnGpu(backend, partial, [0], filterShape, 'sum')
      : reshapeView(backend, partial, filterShape);
    release(backend, partial);
    return out;
  };
  return { kernelName: 'Conv3DBackpropFilterV2', backendName: 'webgpu', kernelFunc: withFloatInputs(kernelFunc, ['x', 'dy']) };
}
