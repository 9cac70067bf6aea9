/**
 * Geometry of a 3D convolution in the layout the wasm kernels read (int32[GEO_LEN]),
 * NDHWC tensors and a [kD, kH, kW, Cin, Cout] filter, as tfjs uses them.
 */
import { backend_util } from '@tensorflow/tfjs-core';

export const GEO_LEN = 21;

/** Plain description of one 3D convolution (sizes in voxels / channels). */
export interface Conv3dGeometry {
  batch: number;
  inD: number; inH: number; inW: number; inC: number;
  outD: number; outH: number; outW: number; outC: number;
  kD: number; kH: number; kW: number;
  sD: number; sH: number; sW: number;
  dD: number; dH: number; dW: number;
  padFront: number; padTop: number; padLeft: number;
}

/** Geometry from tfjs's conv info (what computeConv3DInfo returns). */
export function geometryFromConvInfo(c: backend_util.Conv3DInfo): Conv3dGeometry {
  return {
    batch: c.batchSize,
    inD: c.inDepth, inH: c.inHeight, inW: c.inWidth, inC: c.inChannels,
    outD: c.outDepth, outH: c.outHeight, outW: c.outWidth, outC: c.outChannels,
    kD: c.filterDepth, kH: c.filterHeight, kW: c.filterWidth,
    sD: c.strideDepth, sH: c.strideHeight, sW: c.strideWidth,
    dD: c.dilationDepth, dH: c.dilationHeight, dW: c.dilationWidth,
    padFront: c.padInfo.front, padTop: c.padInfo.top, padLeft: c.padInfo.left,
  };
}

/** Geometry of a conv3d with tfjs semantics for `pad` ('same' | 'valid'). */
export function conv3dGeometry(
  xShape: [number, number, number, number, number],
  filterShape: [number, number, number, number, number],
  strides: number | [number, number, number],
  pad: 'same' | 'valid',
  dilations: number | [number, number, number] = 1,
): Conv3dGeometry {
  return geometryFromConvInfo(backend_util.computeConv3DInfo(xShape, filterShape, strides, dilations, pad));
}

/** The int32 block the wasm functions read, in their enum order. */
export function encodeGeometry(g: Conv3dGeometry): Int32Array {
  return Int32Array.from([
    g.batch, g.inD, g.inH, g.inW, g.inC, g.outD, g.outH, g.outW, g.outC,
    g.kD, g.kH, g.kW, g.sD, g.sH, g.sW, g.dD, g.dH, g.dW, g.padFront, g.padTop, g.padLeft,
  ]);
}

/** Multiply-adds x 2 of the dense convolution (padding taps included), i.e. the FLOP count used for GFLOP/s. */
export function conv3dFlops(g: Conv3dGeometry): number {
  return 2 * g.batch * g.outD * g.outH * g.outW * g.outC * g.kD * g.kH * g.kW * g.inC;
}

export const inputSize = (g: Conv3dGeometry): number => g.batch * g.inD * g.inH * g.inW * g.inC;
export const outputSize = (g: Conv3dGeometry): number => g.batch * g.outD * g.outH * g.outW * g.outC;
export const filterSize = (g: Conv3dGeometry): number => g.kD * g.kH * g.kW * g.inC * g.outC;
