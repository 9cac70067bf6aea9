/**
 * Conv3DBackpropInputV2 (dx) on webgpu as an implicit GEMM: rows are input voxels [N*D*H*W],
 * columns input channels, K = fD*fH*fW*Cout. A[m, (tap, co)] is dy at the output voxel that tap
 * maps onto input voxel m (zero when the stride does not divide or it falls outside); B is the
 * filter read transposed, W[tap, ci, co]; tap-major K steps (vec4 loads of dy when Cout % 4 == 0)
 * when Cout fills the K slabs.
 * Stride-1 convs writing few channels may run the direct kernel instead (conv3d_direct.ts), as
 * gemm_plan.ts's directFor decides, and tuned 3x3x3 stride-1 convs Winograd's (conv3d_winograd.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { ImplicitGemmProgram, runImplicitGemm, tapGathers, type GemmFunctions } from './conv3d_gemm';
import { runDirectConv } from './conv3d_direct';
import { directFor, gemmPlan, tilingFor, winogradFor } from './gemm_plan';
import { runWinogradConv } from './conv3d_winograd';
import { deviceSharedBytes, release, reshapeView, stockKernel, withFloatInputs, type TensorInfo, type WebGPUBackendLike } from './program';

const FUNCTIONS: GemmFunctions = {
  shared: `
  fn rowInfo(m : i32) -> vec4<i32> {
    if (m >= uniforms.M) { return vec4<i32>(-1, 0, 0, 0); }
    let w = m % uniforms.inW;
    let t1 = m / uniforms.inW;
    let h = t1 % uniforms.inH;
    let t2 = t1 / uniforms.inH;
    let d = t2 % uniforms.inD;
    let n = t2 / uniforms.inD;
    return vec4<i32>(n, d + uniforms.pD, h + uniforms.pH, w + uniforms.pW);
  }
  fn loadB(k : i32, n : i32) -> f32 {
    let co = k % uniforms.outC;
    let tap = k / uniforms.outC;
    return W[(tap * uniforms.inC + n) * uniforms.outC + co];
  }
  fn loadBTap(t : vec4<i32>, co : i32, n : i32) -> f32 {
    return W[(t.w * uniforms.inC + n) * uniforms.outC + co];
  }
  // the dy voxel (flat, batch included) that tap t maps onto input row r, or -1 (stride misses, edges)
  fn tapVoxel(r : vec4<i32>, t : vec4<i32>) -> i32 {
    if (r.x < 0) { return -1; }
    let nd = r.y - t.x;
    let nh = r.z - t.y;
    let nw = r.w - t.z;
    if (nd < 0 || nh < 0 || nw < 0) { return -1; }
    var od = nd;
    var oh = nh;
    var ow = nw;
    if (uniforms.sD != 1 || uniforms.sH != 1 || uniforms.sW != 1) {
      od = nd / uniforms.sD;
      oh = nh / uniforms.sH;
      ow = nw / uniforms.sW;
      if (od * uniforms.sD != nd || oh * uniforms.sH != nh || ow * uniforms.sW != nw) { return -1; }
    }
    if (od >= uniforms.outD || oh >= uniforms.outH || ow >= uniforms.outW) { return -1; }
    return ((r.x * uniforms.outD + od) * uniforms.outH + oh) * uniforms.outW + ow;
  }`,
  ...tapGathers('dy', 'outC'),
};

export function conv3dBackpropInputConfig(): tf.KernelConfig {
  const stock = stockKernel('Conv3DBackpropInputV2');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, inputShape } = args.attrs as unknown as tf.Conv3DBackpropInputV2Attrs;
    if (dy.dtype !== 'float32') return stock.kernelFunc(args);
    const backend = args.backend as unknown as WebGPUBackendLike;
    const conv = tf.backend_util.computeConv3DInfo(
      inputShape, filter.shape as [number, number, number, number, number], strides, 1, pad);
    const M = conv.batchSize * conv.inDepth * conv.inHeight * conv.inWidth;
    const K = conv.filterDepth * conv.filterHeight * conv.filterWidth * conv.outChannels;
    const taps = conv.filterDepth * conv.filterHeight * conv.filterWidth;
    const plan = gemmPlan('dx', conv);
    const winograd = winogradFor(plan);
    if (winograd) return runWinogradConv(backend, winograd.geometry, winograd.tiling, dy, filter, inputShape);
    const direct = directFor(plan, deviceSharedBytes(backend));
    if (direct) return runDirectConv(backend, direct.geometry, direct.tiling, dy, filter, inputShape);
    const program = new ImplicitGemmProgram(['dy', 'W'], 'conv3d_dx', FUNCTIONS, M, plan.N, K, 1, plan.mode, tilingFor(plan), { taps, channels: conv.outChannels });
    const y = runImplicitGemm(backend, program, [dy, filter], conv);
    const out = reshapeView(backend, y, inputShape);
    release(backend, y);
    return out;
  };
  return { kernelName: 'Conv3DBackpropInputV2', backendName: 'webgpu', kernelFunc: withFloatInputs(kernelFunc, ['dy', 'filter']) };
}
