/**
 * Direct filter gradient (dW) for stride-1 convs with few output channels: the reference network's
 * two full-resolution convs, 17->16 and 16->10. As an implicit GEMM (conv3d_backprop_filter.ts) their
 * dW gathers every input value once per tap (27 times) and uses each gathered value for only
 * Cout = 10 or 16 multiply-adds; on an H100 they ran at 1.3-2 TFLOP/s where the wider convs' dW ran
 * at 6-11 (2026-11-27, 64x128x128).
 *
 * Here a workgroup owns a chunk of input channels and a run of voxel tiles. Per tile it stages the
 * input with its halo (channels fastest, as vec4) and dy (output channels as vec4) in workgroup
 * memory once; each thread owns one tap and `cpt` input channels and accumulates their products with
 * every output channel over the tile's voxels (one read of x and `co4` broadcast vec4 reads of dy per
 * voxel). Each workgroup writes its partial filter; this project's reduction sums the partials.
 * Threads hold at most 16 vec4 accumulators: four input channels each up to 16 output channels, two
 * up to 32, one up to 64. Untuned, it serves up to 16 output channels; past that it is a tuner
 * candidate against the GEMM (whose gathered values then feed 32-64 multiply-adds each).
 */
import * as tf from '@tensorflow/tfjs';
import { release, reshapeView, spreadWorkgroups, threadIndex, type ProgramUniform, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';
import { reduceOnGpu } from './reduce';

/** Tile shape of the direct dW. Threads = vl * taps * cc / cpt; a tile is td x th x tw output voxels. */
export interface DirectDwTiling {
  algo: 'direct-dw';
  /** Output voxels of a tile along W, H and D. */
  tw: number;
  th: number;
  td: number;
  /** Input channels per chunk (a multiple of the channels each thread owns, {@link channelsPerThread}). */
  cc: number;
  /** Voxel lanes: thread groups that split a tile's voxels, each writing its own partial. */
  vl: number;
}

/** Output channels up to which the direct dW is offered (accumulators: cpt x co4 <= 16 vec4 per thread). */
export const DIRECT_DW_MAX_CHANNELS = 64;
/** Output channels up to which an untuned dW runs the direct kernel (see the file comment). */
export const DIRECT_DW_DEFAULT_MAX_CHANNELS = 16;
const MAX_ACC_VEC4 = 16;
const MAX_THREADS = 256;
/** Partial filters are capped like the GEMM dW's split-K partials. */
const MAX_PARTIAL_BYTES = 64 * 1024 * 1024;
/** Workgroups to aim for over all channel chunks: several waves on a large GPU, a small tail. */
const TARGET_WORKGROUPS = 2048;

export const directDwKey = (t: DirectDwTiling): string => `directdw_${t.td}x${t.th}x${t.tw}_c${t.cc}_v${t.vl}`;

/** dW of a conv as the direct kernel sees it. */
export interface DirectDwGeometry {
  batch: number;
  input: [number, number, number];
  inC: number;
  output: [number, number, number];
  outC: number;
  filter: [number, number, number];
  /** Leading zero padding of x per axis. */
  pad: [number, number, number];
}

/** The direct dW covers stride 1, dilation 1 and at most {@link DIRECT_DW_MAX_CHANNELS} output channels. */
export function directDwGeometry(c: tf.backend_util.Conv3DInfo): DirectDwGeometry | undefined {
  const unit = [c.strideDepth, c.strideHeight, c.strideWidth, c.dilationDepth, c.dilationHeight, c.dilationWidth].every((v) => v === 1);
  if (!unit || c.outChannels > DIRECT_DW_MAX_CHANNELS) return undefined;
  return {
    batch: c.batchSize, input: [c.inDepth, c.inHeight, c.inWidth], inC: c.inChannels,
    output: [c.outDepth, c.outHeight, c.outWidth], outC: c.outChannels,
    filter: [c.filterDepth, c.filterHeight, c.filterWidth], pad: [c.padInfo.front, c.padInfo.top, c.padInfo.left],
  };
}

const taps = (g: DirectDwGeometry) => g.filter[0] * g.filter[1] * g.filter[2];
/** Input channels each thread owns (read as one f32, vec2 or vec4): as many as 16 vec4 accumulators allow. */
export function channelsPerThread(g: DirectDwGeometry): 1 | 2 | 4 {
  const co4 = Math.ceil(g.outC / 4);
  return co4 * 4 <= MAX_ACC_VEC4 ? 4 : co4 * 2 <= MAX_ACC_VEC4 ? 2 : 1;
}
export const directDwThreads = (t: DirectDwTiling, g: DirectDwGeometry): number => t.vl * taps(g) * (t.cc / channelsPerThread(g));

/** The staged halo of a tile: its size along D, H, W, and voxels. */
function halo(t: DirectDwTiling, g: DirectDwGeometry) {
  const hd = t.td + g.filter[0] - 1, hh = t.th + g.filter[1] - 1, hw = t.tw + g.filter[2] - 1;
  return { hd, hh, hw, voxels: hd * hh * hw };
}

/** Workgroup memory (bytes): the input halo chunk and the tile's dy. */
export function directDwSharedBytes(t: DirectDwTiling, g: DirectDwGeometry): number {
  return 4 * (halo(t, g).voxels * t.cc + t.td * t.th * t.tw * Math.ceil(g.outC / 4) * 4);
}

export function directDwValid(t: DirectDwTiling, g: DirectDwGeometry, sharedBytes: number): boolean {
  const threads = directDwThreads(t, g);
  const cpt = channelsPerThread(g);
  if (t.cc < cpt || t.cc % cpt !== 0 || t.cc > Math.ceil(g.inC / cpt) * cpt || t.vl < 1 || t.tw % t.vl !== 0) return false;
  return threads <= MAX_THREADS && directDwSharedBytes(t, g) <= sharedBytes;
}

/**
 * Channels per chunk for a tile shape: as many vec4 groups as the thread limit and workgroup memory
 * allow, spread evenly over the chunks (0: not even one group fits).
 */
function chunkChannels(g: DirectDwGeometry, shape: Omit<DirectDwTiling, 'cc'>, sharedBytes: number): number {
  const cpt = channelsPerThread(g);
  const groups = Math.ceil(g.inC / cpt);
  let most = Math.min(groups, Math.floor(MAX_THREADS / (shape.vl * taps(g))));
  while (most >= 1 && directDwSharedBytes({ ...shape, cc: cpt * most }, g) > sharedBytes) most--;
  if (most < 1) return 0;
  return cpt * Math.ceil(groups / Math.ceil(groups / most));
}

/**
 * Tilings worth timing: a few tile shapes of 64-256 voxels (three past 16 output channels, where
 * the GEMM competes), one or two voxel lanes.
 */
export function directDwCandidates(g: DirectDwGeometry, sharedBytes: number): DirectDwTiling[] {
  const out: DirectDwTiling[] = [];
  const shapes = [[1, 4, 16], [2, 4, 16], [1, 8, 16], [1, 4, 32], [2, 8, 16]];
  for (const [td, th, tw] of g.outC <= DIRECT_DW_DEFAULT_MAX_CHANNELS ? shapes : shapes.slice(0, 3)) {
    for (const vl of [1, 2]) {
      const shape = { algo: 'direct-dw' as const, tw, th, td, vl };
      const t: DirectDwTiling = { ...shape, cc: chunkChannels(g, shape, sharedBytes) };
      // under a warp of threads (a filter of few taps) the GEMM serves better
      if (t.cc > 0 && directDwValid(t, g, sharedBytes) && directDwThreads(t, g) >= 32) out.push(t);
    }
  }
  return out;
}

/**
 * What an untuned dW runs for at most {@link DIRECT_DW_DEFAULT_MAX_CHANNELS} output channels: 1x4x16
 * voxel tiles, one lane, or the first candidate that fits.
 */
export function untunedDirectDw(g: DirectDwGeometry, sharedBytes: number): DirectDwTiling | undefined {
  if (g.outC > DIRECT_DW_DEFAULT_MAX_CHANNELS) return undefined;
  const c = directDwCandidates(g, sharedBytes);
  return c.find((t) => t.td === 1 && t.th === 4 && t.tw === 16 && t.vl === 1) ?? c[0];
}

export class DirectDwProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  // a y axis makes tfjs emit `fn main()` with workgroup ids (not the flat main(index))
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames = ['x', 'dy'];
  uniforms = 'iD : i32, iH : i32, iW : i32, iC : i32, oD : i32, oH : i32, oW : i32, oC : i32, pD : i32, pH : i32, pW : i32, '
    + 'tilesD : i32, tilesH : i32, tilesW : i32, numTiles : i32, tilesPerSlice : i32, chunks : i32, groups : i32,';
  readonly partials: number;
  private readonly tiles: [number, number, number];
  private readonly numTiles: number;
  private readonly slices: number;
  private readonly tilesPerSlice: number;
  private readonly chunks: number;

  constructor(private g: DirectDwGeometry, readonly tiling: DirectDwTiling) {
    const t = tiling;
    this.tiles = [Math.ceil(g.output[0] / t.td), Math.ceil(g.output[1] / t.th), Math.ceil(g.output[2] / t.tw)];
    this.numTiles = g.batch * this.tiles[0] * this.tiles[1] * this.tiles[2];
    this.chunks = Math.ceil(g.inC / t.cc);
    const filterBytes = 4 * taps(g) * g.inC * g.outC;
    const byMemory = Math.max(1, Math.floor(MAX_PARTIAL_BYTES / (filterBytes * t.vl)));
    const wanted = Math.min(this.numTiles, byMemory, Math.max(1, Math.ceil(TARGET_WORKGROUPS / this.chunks)));
    this.tilesPerSlice = Math.ceil(this.numTiles / wanted);
    this.slices = Math.ceil(this.numTiles / this.tilesPerSlice);
    this.partials = this.slices * t.vl;
    const [x, y] = spreadWorkgroups(this.slices * this.chunks);
    this.dispatch = [x, y, 1];
    this.workgroupSize = [directDwThreads(t, g), 1, 1];
    this.outputShape = [this.partials, taps(g) * g.inC * g.outC];
    this.shaderKey = `anatomynet_directdw_${directDwKey(t)}_f${g.filter.join('x')}_co${Math.ceil(g.outC / 4)}`;
  }

  uniformValues(): ProgramUniform[] {
    const g = this.g;
    return [...g.input, g.inC, ...g.output, g.outC, ...g.pad, ...this.tiles, this.numTiles, this.tilesPerSlice, this.chunks, this.slices * this.chunks]
      .map((v) => ({ type: 'int32' as const, data: [v] }));
  }

  getUserCode(): string {
    const { tw, th, td, cc, vl } = this.tiling;
    const [fd, fh, fw] = this.g.filter;
    const nTaps = fd * fh * fw;
    const cpt = channelsPerThread(this.g);
    const cq = cc / cpt;
    const xType = cpt === 1 ? 'f32' : `vec${cpt}<f32>`;
    const co4 = Math.ceil(this.g.outC / 4);
    const T = directDwThreads(this.tiling, this.g);
    const H = halo(this.tiling, this.g);
    const V = td * th * tw;
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    // acc_j_q: input channel cpt cg + j of this thread's tap, by output channels 4q..4q+3
    const accDecl = range(cpt).flatMap((j) => range(co4).map((q) => `var acc_${j}_${q} = vec4<f32>(0.0);`)).join('\n        ');
    const dyReads = range(co4).map((q) => `let d${q} = Ds[vi * ${co4} + ${q}];`).join('\n                ');
    const fmas = range(cpt).flatMap((j) => range(co4).map((q) => `acc_${j}_${q} = fma(vec4<f32>(xv${cpt === 1 ? '' : `[${j}]`}), d${q}, acc_${j}_${q});`)).join('\n                ');
    const writes = range(cpt).flatMap((j) => range(co4).flatMap((q) => range(4).map((k) => `
          if (c0 + ${j} < uniforms.iC && ${4 * q + k} < uniforms.oC) { result[base + ${j} * uniforms.oC + ${4 * q + k}] = acc_${j}_${q}[${k}]; }`))).join('');
    return `
      var<workgroup> Xs : array<${xType}, ${H.voxels * cq}>;
      var<workgroup> Ds : array<vec4<f32>, ${V * co4}>;
      fn xAt(n : i32, d : i32, h : i32, w : i32, c : i32) -> f32 {
        if (c >= uniforms.iC || d < 0 || d >= uniforms.iD || h < 0 || h >= uniforms.iH || w < 0 || w >= uniforms.iW) { return 0.0; }
        return x[(((n * uniforms.iD + d) * uniforms.iH + h) * uniforms.iW + w) * uniforms.iC + c];
      }
      fn dyAt(vox : i32, c : i32, valid : bool) -> f32 {
        if (!valid || c >= uniforms.oC) { return 0.0; }
        return dy[vox * uniforms.oC + c];
      }
      fn main() {
        // every workgroup runs the same number of tiles (barriers need uniform control flow, and tfjs
        // exposes the workgroup id through a private variable): tiles past the end stage zeros
        let id = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let spare = id >= uniforms.groups;
        let chunk = id % uniforms.chunks;
        let slice = id / uniforms.chunks;
        let t = ${threadIndex(T)};
        let lane = t % ${nTaps * cq};
        let vlane = t / ${nTaps * cq};
        let tap = lane / ${cq};
        let cg = lane % ${cq};
        let kw = tap % ${fw};
        let kh = (tap / ${fw}) % ${fh};
        let kd = tap / ${fw * fh};
        let tapBase = (kd * ${H.hh} + kh) * ${H.hw} + kw;
        let cBase = chunk * ${cc};
        ${accDecl}
        for (var i = 0; i < uniforms.tilesPerSlice; i = i + 1) {
          let tile = slice * uniforms.tilesPerSlice + i;
          let live = !spare && tile < uniforms.numTiles;
          let tl = min(tile, uniforms.numTiles - 1);
          let tW = tl % uniforms.tilesW;
          let r1 = tl / uniforms.tilesW;
          let tH = r1 % uniforms.tilesH;
          let r2 = r1 / uniforms.tilesH;
          let tD = r2 % uniforms.tilesD;
          let n = r2 / uniforms.tilesD;
          let od0 = tD * ${td};
          let oh0 = tH * ${th};
          let ow0 = tW * ${tw};
          // the input halo of the tile, cpt channels per entry (zeros past the volume and the channels)
          for (var e = t; e < ${H.voxels * cq}; e = e + ${T}) {
            let g4 = e % ${cq};
            let r = e / ${cq};
            let w = r % ${H.hw};
            let h = (r / ${H.hw}) % ${H.hh};
            let d = r / ${H.hw * H.hh};
            let gd = od0 - uniforms.pD + d;
            let gh = oh0 - uniforms.pH + h;
            let gw = ow0 - uniforms.pW + w;
            let c = cBase + ${cpt} * g4;
            var v = ${xType}(0.0);
            if (live) {
              v = ${xType}(${range(cpt).map((j) => `xAt(n, gd, gh, gw, c + ${j})`).join(', ')});
            }
            Xs[e] = v;
          }
          // dy of the tile's voxels (zeros outside the volume)
          for (var e = t; e < ${V * co4}; e = e + ${T}) {
            let q = e % ${co4};
            let r = e / ${co4};
            let w = ow0 + r % ${tw};
            let h = oh0 + (r / ${tw}) % ${th};
            let d = od0 + r / ${tw * th};
            let valid = live && d < uniforms.oD && h < uniforms.oH && w < uniforms.oW;
            let vox = ((n * uniforms.oD + d) * uniforms.oH + h) * uniforms.oW + w;
            Ds[e] = vec4<f32>(dyAt(vox, 4 * q, valid), dyAt(vox, 4 * q + 1, valid), dyAt(vox, 4 * q + 2, valid), dyAt(vox, 4 * q + 3, valid));
          }
          workgroupBarrier();
          for (var dd = 0; dd < ${td}; dd = dd + 1) {
            for (var hh = 0; hh < ${th}; hh = hh + 1) {
              let xRow = (tapBase + (dd * ${H.hh} + hh) * ${H.hw}) * ${cq} + cg;
              let vRow = (dd * ${th} + hh) * ${tw};
              // a loop from 0 to a constant, not from vlane: Tint then bounds ww and clamps no read
              for (var j = 0; j < ${Math.ceil(tw / vl)}; j = j + 1) {
                let ww = vlane + j * ${vl};${tw % vl === 0 ? '' : `
                if (ww >= ${tw}) { break; }`}
                let xv = Xs[xRow + ww * ${cq}];
                let vi = vRow + ww;
                ${dyReads}
                ${fmas}
              }
            }
          }
          workgroupBarrier();
        }
        if (!spare) {
          let c0 = cBase + ${cpt} * cg;
          let base = (((slice * ${vl} + vlane) * ${nTaps} + tap) * uniforms.iC + c0) * uniforms.oC;${writes}
        }
      }`;
  }
}

/** dW [fD, fH, fW, Cin, Cout] of a stride-1 conv by the direct kernel: partial filters, then their sum. */
export function runDirectDw(
  backend: WebGPUBackendLike, g: DirectDwGeometry, tiling: DirectDwTiling, x: TensorInfo, dy: TensorInfo, filterShape: number[],
): TensorInfo {
  const program = new DirectDwProgram(g, tiling);
  const flat = [x, dy].map((t) => reshapeView(backend, t, [tf.util.sizeFromShape(t.shape)]));
  const partial = backend.runWebGPUProgram(program, flat, 'float32', program.uniformValues());
  release(backend, ...flat);
  const out = program.partials > 1 ? reduceOnGpu(backend, partial, [0], filterShape, 'sum') : reshapeView(backend, partial, filterShape);
  release(backend, partial);
  return out;
}
