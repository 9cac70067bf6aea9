/**
 * Replacements for the tfjs-cpu kernels that dominate a training step once the convolutions
 * are fast: broadcasting Add/Sub/Multiply/RealDiv/Maximum/Minimum and comparisons (normalisation,
 * SE scaling, bias, the LeakyReLU gradient's Greater against a scalar), SplitV and
 * Slice along the channel axis (gradients of concatenations), Concat, Transpose, Softmax,
 * unary ops (Neg, Log, Exp, ... LeakyRelu), Select, Cast to float32, Sum/Max/Min/Mean over
 * any axes, and BatchMatMuls (large ones on the wasm GEMM, thin ones as streaming loops).
 * Each falls back to the stock kernel for anything but plain float32 tensors.
 */
import {
  backend_util, util, type KernelFunc, type NamedAttrMap, type TensorInfo,
} from '@tensorflow/tfjs-core';
import { clip, leakyRelu, select, toFloat32, unary, type UnaryOp } from './elementwise';
import { conv3dEngine } from './engine';
import type { Conv3dGeometry } from './geometry';
import {
  type BinaryOp, broadcastBinary, broadcastShape, COMPARISONS, sliceBox, softmaxLastAxis, thinMatMul, transposeArray,
} from './layout';
import { concatArrays, reduceAxes, type ReduceOp } from './reduce';

export interface CpuBackendLike {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32' | 'bool', values: Float32Array | Uint8Array): TensorInfo;
}

/** A fast implementation; returning undefined hands the call to the stock kernel. */
export type FastKernel = (inputs: Record<string, TensorInfo>, attrs: NamedAttrMap, backend: CpuBackendLike)
  => TensorInfo | TensorInfo[] | undefined;

export function floatValues(backend: CpuBackendLike, t: TensorInfo): Float32Array | undefined {
  const v = backend.data.get(t.dataId).values;
  return t.dtype === 'float32' && v instanceof Float32Array ? v : undefined;
}

const binary = (op: BinaryOp): FastKernel => ({ a, b }, _attrs, backend) => {
  const av = floatValues(backend, a), bv = floatValues(backend, b);
  if (!av || !bv || !broadcastShape(a.shape, b.shape)) return undefined;
  const r = broadcastBinary(op, av, a.shape, bv, b.shape);
  return backend.makeTensorInfo(r.shape, COMPARISONS.has(op) ? 'bool' : 'float32', r.values);
};

const slice: FastKernel = ({ x }, attrs, backend) => {
  const xv = floatValues(backend, x);
  if (!xv) return undefined;
  const [begin, size] = backend_util.slice_util.parseSliceParams(
    x as never, attrs.begin as number[], attrs.size as number[]);
  return backend.makeTensorInfo(size, 'float32', sliceBox(xv, x.shape, begin, size));
};

const splitV: FastKernel = ({ x }, attrs, backend) => {
  const xv = floatValues(backend, x);
  if (!xv) return undefined;
  const axis = util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x as never, attrs.numOrSizeSplits as number[], axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const t = backend.makeTensorInfo(size, 'float32', sliceBox(xv, x.shape, begin, size));
    begin[axis] += s;
    return t;
  });
};

const transpose: FastKernel = ({ x }, attrs, backend) => {
  const xv = floatValues(backend, x);
  if (!xv) return undefined;
  const perm = attrs.perm as number[];
  return backend.makeTensorInfo(perm.map((p) => x.shape[p]), 'float32', transposeArray(xv, x.shape, perm));
};

const softmax: FastKernel = ({ logits }, attrs, backend) => {
  const xv = floatValues(backend, logits);
  const r = logits.shape.length;
  const dim = attrs.dim as number;
  if (!xv || (dim !== -1 && dim !== r - 1)) return undefined;
  return backend.makeTensorInfo([...logits.shape], 'float32', softmaxLastAxis(xv, logits.shape[r - 1]));
};

const unaryKernel = (op: UnaryOp): FastKernel => ({ x }, _attrs, backend) => {
  const xv = floatValues(backend, x);
  return xv && backend.makeTensorInfo([...x.shape], 'float32', unary(op, xv));
};

const leakyReluKernel: FastKernel = ({ x }, attrs, backend) => {
  const xv = floatValues(backend, x);
  return xv && backend.makeTensorInfo([...x.shape], 'float32', leakyRelu(xv, attrs.alpha as number));
};

const clipKernel: FastKernel = ({ x }, attrs, backend) => {
  const xv = floatValues(backend, x);
  return xv && backend.makeTensorInfo([...x.shape], 'float32',
    clip(xv, attrs.clipValueMin as number, attrs.clipValueMax as number));
};

const selectKernel: FastKernel = ({ condition, t, e }, _attrs, backend) => {
  const cv = backend.data.get(condition.dataId).values;
  const tv = floatValues(backend, t), ev = floatValues(backend, e);
  if (!tv || !ev || !(cv instanceof Uint8Array) || condition.dtype !== 'bool'
    || cv.length !== tv.length || ev.length !== tv.length) return undefined;
  return backend.makeTensorInfo([...t.shape], 'float32', select(cv, tv, ev));
};

/**
 * bool/int32 -> float32 as a real Float32Array: tfjs-cpu shares the integer array under a float32
 * dtype, which every fast kernel here would then hand back to the stock one.
 */
const castKernel: FastKernel = ({ x }, attrs, backend) => {
  const v = backend.data.get(x.dataId).values;
  if (attrs.dtype !== 'float32' || !(v instanceof Uint8Array || v instanceof Int32Array)
    || (x.dtype !== 'bool' && x.dtype !== 'int32')) return undefined;
  return backend.makeTensorInfo([...x.shape], 'float32', toFloat32(v));
};

const reduceKernel = (op: ReduceOp | 'mean', axisAttr: string): FastKernel => ({ x }, attrs, backend) => {
  const xv = floatValues(backend, x);
  if (!xv) return undefined;
  const axes = util.parseAxisParam(attrs[axisAttr] as number | number[], x.shape);
  const [outShape, reduceShape] = backend_util.computeOutAndReduceShapes(x.shape, axes);
  const n = util.sizeFromShape(reduceShape);
  if (n === 0 && op !== 'sum') return undefined;
  const values = reduceAxes(op === 'mean' ? 'sum' : op, xv, x.shape, axes);
  if (op === 'mean') for (let i = 0; i < values.length; i++) values[i] /= n;
  const shape = attrs.keepDims ? backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
  return backend.makeTensorInfo(shape, 'float32', values);
};

const concat: FastKernel = (inputs, attrs, backend) => {
  const ts = Object.values(inputs);
  const vs = ts.map((t) => floatValues(backend, t));
  if (ts.length === 0 || vs.some((v) => !v)) return undefined;
  const axis = util.parseAxisParam(attrs.axis as number, ts[0].shape)[0];
  const shapes = ts.map((t) => t.shape);
  backend_util.assertParamsConsistent(shapes, axis);
  return backend.makeTensorInfo(backend_util.computeOutShape(shapes, axis), 'float32',
    concatArrays(vs as Float32Array[], shapes, axis));
};

/** A [rows, k] x [k, n] product as a 1x1x1 convolution. */
const gemmGeometry = (rows: number, k: number, n: number): Conv3dGeometry => ({
  batch: 1, inD: 1, inH: 1, inW: rows, inC: k, outD: 1, outH: 1, outW: rows, outC: n,
  kD: 1, kH: 1, kW: 1, sD: 1, sH: 1, sW: 1, dD: 1, dH: 1, dW: 1, padFront: 0, padTop: 0, padLeft: 0,
});

/** Below this many multiply-adds the stock JS matmul is as quick as a trip to the wasm pool. */
const MATMUL_MIN_MACS = 1 << 18;
/**
 * Thin products (a row sum as ones[1,R] x X[R,C], its outer-product gradient) are memory-bound
 * and would waste the 4x8 tiles and the filter packing: they run as a streaming JS loop.
 */
const MATMUL_MIN_SIDE = 8;

const batchMatMul: FastKernel = ({ a, b }, attrs, backend) => {
  const av = floatValues(backend, a), bv = floatValues(backend, b);
  const tA = attrs.transposeA as boolean, tB = attrs.transposeB as boolean;
  const ra = a.shape.length, rb = b.shape.length;
  if (!av || !bv || (tA && tB)) return undefined;
  const batchA = av.length / (a.shape[ra - 1] * a.shape[ra - 2]);
  const batchB = bv.length / (b.shape[rb - 1] * b.shape[rb - 2]);
  if (batchA !== 1 || batchB !== 1) return undefined;
  const m = tA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = tA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  if ((tB ? b.shape[rb - 1] : b.shape[rb - 2]) !== k) return undefined;
  const shape = [...(ra >= rb ? a.shape : b.shape).slice(0, -2), m, n];
  if (Math.min(m, n, k) < MATMUL_MIN_SIDE) {
    return backend.makeTensorInfo(shape, 'float32', thinMatMul(av, bv, m, k, n, tA, tB));
  }
  if (m * n * k < MATMUL_MIN_MACS) return undefined;
  const engine = conv3dEngine();
  let values: Float32Array;
  if (tA) {
    // A^T B with A [k, m], B [k, n]: the filter gradient of a 1x1x1 conv over k voxels
    values = engine.conv3dBackpropFilter(gemmGeometry(k, m, n), av, bv);
  } else {
    const w = tB ? transposeArray(bv, [n, k], [1, 0]) : bv;
    values = engine.conv3d(gemmGeometry(m, k, n), av, w);
  }
  return backend.makeTensorInfo(shape, 'float32', values);
};

/** Kernel name -> fast implementation, for the 'cpu' backend. */
export const SUPPORT_KERNELS: Record<string, FastKernel> = {
  Add: binary('add'),
  Sub: binary('sub'),
  Multiply: binary('mul'),
  RealDiv: binary('div'),
  Maximum: binary('max'),
  Minimum: binary('min'),
  Greater: binary('gt'),
  GreaterEqual: binary('ge'),
  Less: binary('lt'),
  LessEqual: binary('le'),
  Equal: binary('eq'),
  Slice: slice,
  SplitV: splitV,
  Transpose: transpose,
  Softmax: softmax,
  BatchMatMul: batchMatMul,
  Concat: concat,
  Neg: unaryKernel('neg'),
  Abs: unaryKernel('abs'),
  Square: unaryKernel('square'),
  Sqrt: unaryKernel('sqrt'),
  Rsqrt: unaryKernel('rsqrt'),
  Exp: unaryKernel('exp'),
  Log: unaryKernel('log'),
  Sigmoid: unaryKernel('sigmoid'),
  Reciprocal: unaryKernel('reciprocal'),
  Relu: unaryKernel('relu'),
  LeakyRelu: leakyReluKernel,
  ClipByValue: clipKernel,
  Select: selectKernel,
  Cast: castKernel,
  Sum: reduceKernel('sum', 'axis'),
  Max: reduceKernel('max', 'reductionIndices'),
  Min: reduceKernel('min', 'axis'),
  Mean: reduceKernel('mean', 'axis'),
};

/** Wrap a fast kernel so that undefined falls through to `stock`. */
export function withStockFallback(fast: FastKernel, stock: () => KernelFunc): KernelFunc {
  return (args) => {
    const out = fast(args.inputs as Record<string, TensorInfo>, args.attrs ?? {}, args.backend as unknown as CpuBackendLike);
    return out ?? stock()(args);
  };
}
