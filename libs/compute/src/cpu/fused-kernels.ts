/**
 * Kernels of this project's own (kernel names no stock backend has), registered on 'cpu' with
 * their gradients:
 * - `AnatomyNetGroupNorm` {x [G,R,C], gamma [C], beta [C]}, attrs {eps} -> [y [G,R,C],
 *   mean [G,1,C], variance [G,1,C]] (biased batch statistics, which carry no gradient), and its
 *   one-pass backward `AnatomyNetGroupNormGrad` {dy, x, mean, variance, gamma} -> [dx, dgamma,
 *   dbeta] (the gradient itself: ../group-norm.ts). Model code calls the forward only where
 *   `getKernel('AnatomyNetGroupNorm', backend)` exists and keeps its composed ops elsewhere
 *   (libs/model ops.ts normalizeGroups).
 * - `AnatomyNetLeakyReluGrad` and `AnatomyNetSoftmaxGrad`, the one-pass gradients that
 *   ../fused-gradients.ts routes tfjs's LeakyRelu and Softmax gradients through.
 * - `AnatomyNetFusedConv3D`, `AnatomyNetAddLeakyRelu`, `AnatomyNetSEGate` and the gate's backward
 *   `AnatomyNetSEGateGrad`, the fusions of ../fused-conv.ts (their gradients:
 *   ../fusion-gradients.ts). The wasm conv engine applies the epilogue to each block of output rows
 *   as it writes them.
 */
import { backend_util, getKernel, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs-core';
import {
  ADD_LEAKY_RELU, epilogueAffine, FUSED_CONV3D, fusedNormInputs, rowsShape, SCALE_ADD_LEAKY_RELU, SCALE_SHIFT, scaleAddShape, SE_GATE, SE_GATE_GRAD, seGate,
  seGateGrad, SUM_PRODUCTS, UPSAMPLE_CONCAT, upsampleConcat, upsampleConcatShape, type FusedConv3dAttrs,
} from '../fused-conv';
import { LEAKY_RELU_GRAD, SOFTMAX_GRAD } from '../fused-gradients';
import { GROUP_NORM, GROUP_NORM_GRAD } from '../group-norm';
import { addLeakyRelu, convEpilogueInPlace, leakyReluGrad, scaleAddLeakyRelu, scaleShift, softmaxGradLastAxis, sumProducts } from './elementwise';
import { conv3dEngine, Conv3dTooLargeError } from './engine';
import { geometryFromConvInfo } from './geometry';
import { groupNormBackward, groupNormForward, throughLeakyRelu } from './norm';
import type { CpuBackendLike, FastKernel } from './support-kernels';


/** float32 values of t, converted when tfjs keeps another array type under a float32 tensor. */
export function f32(backend: CpuBackendLike, t: TensorInfo): Float32Array {
  const v = backend.data.get(t.dataId).values;
  if (v instanceof Float32Array) return v;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Float32Array.from(v as unknown as ArrayLike<number>);
  throw new TypeError(`expected numeric tensor data, got ${typeof v}`);
}

type Shape5 = [number, number, number, number, number];

function groupShape(x: TensorInfo, kernel: string): [number, number, number] {
  if (x.shape.length !== 3) throw new RangeError(`${kernel}: x must be [G, R, C], got [${x.shape.join(',')}]`);
  return x.shape as [number, number, number];
}

const groupNorm: FastKernel = ({ x, gamma, beta }, attrs, backend) => {
  const [g, r, c] = groupShape(x, GROUP_NORM);
  const f = groupNormForward(f32(backend, x), g, r, c, f32(backend, gamma), f32(backend, beta), attrs.eps as number, attrs.alpha as number | undefined);
  return [
    backend.makeTensorInfo([g, r, c], 'float32', f.y),
    backend.makeTensorInfo([g, 1, c], 'float32', f.mean),
    backend.makeTensorInfo([g, 1, c], 'float32', f.variance),
  ];
};

const groupNormGrad: FastKernel = ({ dy, x, mean, variance, gamma, beta }, attrs, backend) => {
  const [g, r, c] = groupShape(x, GROUP_NORM_GRAD);
  const eps = attrs.eps as number, alpha = attrs.alpha as number | undefined;
  const [xv, mv, vv, gv] = [x, mean, variance, gamma].map((t) => f32(backend, t));
  if (alpha !== undefined && !beta) throw new RangeError(`${GROUP_NORM_GRAD}: the gradient through the LeakyReLU (alpha ${alpha}) needs beta`);
  const d = alpha === undefined ? f32(backend, dy) : throughLeakyRelu(f32(backend, dy), xv, g, r, c, mv, vv, gv, f32(backend, beta), eps, alpha);
  const b = groupNormBackward(d, xv, g, r, c, mv, vv, gv, eps);
  return [
    backend.makeTensorInfo([g, r, c], 'float32', b.dx),
    backend.makeTensorInfo([c], 'float32', b.dgamma),
    backend.makeTensorInfo([c], 'float32', b.dbeta),
  ];
};

const leakyGrad: FastKernel = ({ dy, x }, attrs, backend) => backend.makeTensorInfo(
  [...x.shape], 'float32', leakyReluGrad(f32(backend, dy), f32(backend, x), attrs.alpha as number));

const softmaxGrad: FastKernel = ({ dy, y }, _attrs, backend) => backend.makeTensorInfo(
  [...y.shape], 'float32', softmaxGradLastAxis(f32(backend, dy), f32(backend, y), y.shape[y.shape.length - 1]));

const fusedConv3d: FastKernel = (inputs, attrs, backend) => {
  const { x, filter, bias } = inputs;
  const a = attrs as unknown as FusedConv3dAttrs;
  const info = backend_util.computeConv3DInfo(x.shape as Shape5, filter.shape as Shape5, a.strides, 1, a.pad);
  const rows = fusedNormInputs(inputs);
  const norm = rows && Float32Array.from(rows.flatMap((t) => Array.from(f32(backend, t))));
  const { scale, offset } = epilogueAffine(f32(backend, bias), norm, a.eps);
  const alpha = a.activation === 'leakyrelu' ? a.alpha : null;
  try {
    const y = conv3dEngine().conv3d(geometryFromConvInfo(info), f32(backend, x), f32(backend, filter), { scale, offset, alpha });
    return backend.makeTensorInfo(info.outShape, 'float32', y);
  } catch (e) {
    if (!(e instanceof Conv3dTooLargeError)) throw e;
  }
  // past the wasm memory: the registered Conv3D (it falls back to tfjs's), then the epilogue here
  const conv = getKernel('Conv3D', 'cpu')!.kernelFunc({
    inputs: { x, filter }, attrs: { strides: a.strides, pad: a.pad, dilations: 1, dataFormat: 'NDHWC' },
    backend: backend as unknown as KernelBackend,
  }) as TensorInfo;
  const y = Float32Array.from(f32(backend, conv));
  (backend as unknown as KernelBackend).disposeData(conv.dataId);
  convEpilogueInPlace(y, scale, offset, alpha);
  return backend.makeTensorInfo(info.outShape, 'float32', y);
};

const addLeaky: FastKernel = ({ a, b }, attrs, backend) => {
  if (a.shape.join() !== b.shape.join()) throw new RangeError(`${ADD_LEAKY_RELU}: a [${a.shape.join(',')}] and b [${b.shape.join(',')}] differ`);
  return backend.makeTensorInfo([...a.shape], 'float32', addLeakyRelu(f32(backend, a), f32(backend, b), attrs.alpha as number));
};

const scaleAddLeaky: FastKernel = ({ a, scale, b }, attrs, backend) => {
  const { n, c } = scaleAddShape(a.shape, scale.shape, b.shape);
  return backend.makeTensorInfo([...a.shape], 'float32', scaleAddLeakyRelu(f32(backend, a), f32(backend, scale), f32(backend, b), n, c, attrs.alpha as number));
};

const sumProductsKernel: FastKernel = ({ a, b }, _attrs, backend) => {
  const { n, r, c } = rowsShape(SUM_PRODUCTS, [a.shape, b.shape], []);
  return backend.makeTensorInfo([n, c], 'float32', sumProducts(f32(backend, a), f32(backend, b), n, r, c));
};

const scaleShiftKernel: FastKernel = ({ x, scale, shift }, _attrs, backend) => {
  const { n, r, c } = rowsShape(SCALE_SHIFT, [x.shape], [scale.shape, shift.shape]);
  return backend.makeTensorInfo([n, r, c], 'float32', scaleShift(f32(backend, x), f32(backend, scale), f32(backend, shift), n, r, c));
};

const seGateKernel: FastKernel = ({ sums, w1, b1, w2, b2 }, attrs, backend) => {
  const [n, c] = sums.shape;
  const r = b1.shape[0];
  if (w1.shape.join() !== `${c},${r}` || w2.shape.join() !== `${r},${c}`) {
    throw new RangeError(`${SE_GATE}: w1 [${w1.shape}] and w2 [${w2.shape}] do not fit C = ${c}, R = ${r}`);
  }
  const all = f32(backend, sums);
  const [w1v, b1v, w2v, b2v] = [w1, b1, w2, b2].map((t) => f32(backend, t));
  const out = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    out.set(seGate(all.subarray(i * c, (i + 1) * c), w1v, b1v, w2v, b2v, attrs.voxels as number, attrs.alpha as number), i * c);
  }
  return backend.makeTensorInfo([n, c], 'float32', out);
};

const seGateGradKernel: FastKernel = ({ dgate, sums, w1, b1, w2, b2 }, attrs, backend) => {
  const [n, c] = sums.shape;
  const r = b1.shape[0];
  if (dgate.shape.join() !== sums.shape.join()) throw new RangeError(`${SE_GATE_GRAD}: dgate [${dgate.shape}] and sums [${sums.shape}] differ`);
  const [dg, all, w1v, b1v, w2v, b2v] = [dgate, sums, w1, b1, w2, b2].map((t) => f32(backend, t));
  const dsums = new Float32Array(n * c);
  const total = { dw1: new Float32Array(c * r), db1: new Float32Array(r), dw2: new Float32Array(r * c), db2: new Float32Array(c) };
  for (let i = 0; i < n; i++) {
    const g = seGateGrad(dg.subarray(i * c, (i + 1) * c), all.subarray(i * c, (i + 1) * c), w1v, b1v, w2v, b2v, attrs.voxels as number, attrs.alpha as number);
    dsums.set(g.dsums, i * c);
    for (const k of ['dw1', 'db1', 'dw2', 'db2'] as const) {
      const acc = total[k];
      for (let e = 0; e < acc.length; e++) acc[e] += g[k][e];
    }
  }
  return [
    backend.makeTensorInfo([n, c], 'float32', dsums),
    backend.makeTensorInfo([c, r], 'float32', total.dw1),
    backend.makeTensorInfo([r], 'float32', total.db1),
    backend.makeTensorInfo([r, c], 'float32', total.dw2),
    backend.makeTensorInfo([c], 'float32', total.db2),
  ];
};

const upsampleConcatKernel: FastKernel = ({ x, w, b, append }, _attrs, backend) => {
  const shape = upsampleConcatShape(x.shape, w.shape, b.shape, append.shape);
  // the products by the registered matmul (the fast one), then bias, layout, crop and append in one pass
  const rows = x.shape.slice(0, 4).reduce((p, q) => p * q, 1);
  const products = getKernel('BatchMatMul', 'cpu')!.kernelFunc({
    inputs: { a: { ...x, shape: [1, rows, x.shape[4]] }, b: { ...w, shape: [1, ...w.shape] } },
    attrs: { transposeA: false, transposeB: false },
    backend: backend as unknown as KernelBackend,
  }) as TensorInfo;
  const out = upsampleConcat(f32(backend, products), x.shape, f32(backend, b), f32(backend, append), append.shape);
  (backend as unknown as KernelBackend).disposeData(products.dataId);
  return backend.makeTensorInfo(shape, 'float32', out);
};

/** Kernel name -> implementation, for the 'cpu' backend (no stock kernel to fall back to). */
export const FUSED_KERNELS: Record<string, FastKernel> = {
  [GROUP_NORM]: groupNorm,
  [GROUP_NORM_GRAD]: groupNormGrad,
  [LEAKY_RELU_GRAD]: leakyGrad,
  [SOFTMAX_GRAD]: softmaxGrad,
  [FUSED_CONV3D]: fusedConv3d,
  [ADD_LEAKY_RELU]: addLeaky,
  [SE_GATE]: seGateKernel,
  [SE_GATE_GRAD]: seGateGradKernel,
  [UPSAMPLE_CONCAT]: upsampleConcatKernel,
  [SCALE_ADD_LEAKY_RELU]: scaleAddLeaky,
  [SUM_PRODUCTS]: sumProductsKernel,
  [SCALE_SHIFT]: scaleShiftKernel,
};
