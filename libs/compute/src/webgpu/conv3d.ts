/**
 * Conv3D (forward) on webgpu as an implicit GEMM: rows are output voxels [N*Do*Ho*Wo], columns
 * output channels, K = fD*fH*fW*Cin; A is gathered from x on the fly (zero padding), B is the
 * filter read as its natural [K, Cout] matrix; tap-major K steps (vec4 loads of x when Cin % 4 == 0)
 * when Cin fills the K slabs. 'same'/'valid' padding and strides as tfjs
 * computes them (backend_util.computeConv3DInfo), dilations included.
 * Stride-1 convs writing few channels may run the direct kernel instead (conv3d_direct.ts), as
 * gemm_plan.ts's directFor decides, and tuned 3x3x3 stride-1 convs Winograd's (conv3d_winograd.ts).
 * The same kernels serve `AnatomyNetFusedConv3D`, with bias, the eval-mode norm and the activation
 * applied as each value is written (epilogue.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { ImplicitGemmProgram, runImplicitGemm, tapGathers, type GemmFunctions } from './conv3d_gemm';
import { runDirectConv } from './conv3d_direct';
import { directFor, gemmPlan, tilingFor, winogradFor } from './gemm_plan';
import { runWinogradConv } from './conv3d_winograd';
import { epilogueInputs, type ConvEpilogue } from './epilogue';
import { FUSED_CONV3D, FUSED_NORM_INPUTS, fusedNormInputs, type FusedConv3dAttrs } from '../fused-conv';
import { deviceSharedBytes, release, reshapeView, stockKernel, withFloatInputs, type TensorInfo, type WebGPUBackendLike } from './program';

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

/**
 * The forward conv on the tuned or planned kernel (direct or implicit GEMM), optionally through a
 * fused epilogue; returns y with conv.outShape.
 */
function conv3dForward(
  backend: WebGPUBackendLike, x: TensorInfo, filter: TensorInfo, conv: tf.backend_util.Conv3DInfo, epilogue?: ConvEpilogue,
): TensorInfo {
  const M = conv.batchSize * conv.outDepth * conv.outHeight * conv.outWidth;
  const K = conv.filterDepth * conv.filterHeight * conv.filterWidth * conv.inChannels;
  const taps = conv.filterDepth * conv.filterHeight * conv.filterWidth;
  const plan = gemmPlan('forward', conv);
  const winograd = winogradFor(plan);
  if (winograd) return runWinogradConv(backend, winograd.geometry, winograd.tiling, x, filter, conv.outShape, epilogue);
  const direct = directFor(plan, deviceSharedBytes(backend));
  if (direct) return runDirectConv(backend, direct.geometry, direct.tiling, x, filter, conv.outShape, epilogue);
  const program = new ImplicitGemmProgram(['x', 'W'], 'conv3d', FUNCTIONS, M, plan.N, K, 1, plan.mode, tilingFor(plan),
    { taps, channels: conv.inChannels }, epilogue);
  const y = runImplicitGemm(backend, program, [x, filter, ...epilogueInputs(epilogue)], conv);
  const out = reshapeView(backend, y, conv.outShape);
  release(backend, y);
  return out;
}

const convInfo = (x: TensorInfo, filter: TensorInfo, strides: number | [number, number, number], pad: 'same' | 'valid', dilations: number | [number, number, number] = 1) =>
  tf.backend_util.computeConv3DInfo(
    x.shape as [number, number, number, number, number], filter.shape as [number, number, number, number, number],
    strides, dilations, pad);

export function conv3dConfig(): tf.KernelConfig {
  const stock = stockKernel('Conv3D');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const { strides, pad, dilations, dataFormat } = args.attrs as unknown as tf.Conv3DAttrs;
    if ((dataFormat && dataFormat !== 'NDHWC') || x.dtype !== 'float32') return stock.kernelFunc(args);
    return conv3dForward(args.backend as unknown as WebGPUBackendLike, x, filter, convInfo(x, filter, strides, pad, dilations));
  };
  return { kernelName: 'Conv3D', backendName: 'webgpu', kernelFunc: withFloatInputs(kernelFunc, ['x', 'filter']) };
}

/** `AnatomyNetFusedConv3D` (../fused-conv.ts): the forward conv with bias, norm and activation in its epilogue. */
export function fusedConv3dConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x, filter, bias } = args.inputs as { x: TensorInfo; filter: TensorInfo; bias: TensorInfo };
    const norm = fusedNormInputs(args.inputs as Record<string, TensorInfo>);
    const a = args.attrs as unknown as FusedConv3dAttrs;
    const conv = convInfo(x, filter, a.strides, a.pad);
    const c = conv.outChannels;
    const perChannel = [bias, ...(norm ?? [])];
    if ([x, filter, ...perChannel].some((t) => t.dtype !== 'float32') || perChannel.some((t) => tf.util.sizeFromShape(t.shape) !== c)) {
      throw new RangeError(`${FUSED_CONV3D}: float32 bias${norm ? ', mean, variance, gamma, beta' : ''} of ${c} values expected, got [${perChannel.map((t) => `${t.dtype} [${t.shape.join(',')}]`).join(', ')}]`);
    }
    const epilogue: ConvEpilogue = { bias, norm, eps: a.eps, alpha: a.activation === 'leakyrelu' ? a.alpha : null };
    return conv3dForward(args.backend as unknown as WebGPUBackendLike, x, filter, conv, epilogue);
  };
  return { kernelName: FUSED_CONV3D, backendName: 'webgpu', kernelFunc: withFloatInputs(kernelFunc, ['x', 'filter', 'bias', ...FUSED_NORM_INPUTS]) };
}
