/**
 * Direct 3D convolution for few output channels at stride 1 (the reference network's two
 * full-resolution convs, 17->16 and 16->10, and their input gradients). Implicit GEMM is a poor fit
 * there: with N = 10 or 16 columns every gathered input value feeds only N multiply-adds, and each
 * voxel is gathered once per tap (27 times). Here a workgroup stages an input tile with its halo in
 * workgroup memory once per channel chunk, together with the chunk's weights, and each thread
 * accumulates `vw` voxels along W (strided by `lw`, so a warp reads consecutive words) by all output
 * channels (vec4 registers) over every tap.
 *
 * dx of a stride-1 conv is itself a stride-1 conv of dy with the taps reversed, the channel axes of
 * the filter swapped and the padding mirrored (f - 1 - p), so the same program serves both passes;
 * only the weight lookup differs.
 */
import * as tf from '@tensorflow/tfjs';
import { epilogueInputs, epilogueKey, epilogueUniformFields, epilogueUniforms, epilogueVariables, epilogueWgsl, type ConvEpilogue } from './epilogue';
import { release, reshapeView, spreadWorkgroups, threadIndex, type ProgramUniform, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';

/** Tile shape of the direct conv. Threads = lw * th * td; output tile td x th x (lw * vw) voxels. */
export interface DirectTiling {
  algo: 'direct';
  /** Threads along W. */
  lw: number;
  /** Voxels per thread along W (strided by lw). */
  vw: number;
  /** Output rows (H) per workgroup, one per thread row. */
  th: number;
  /** Output planes (D) per workgroup, one per thread plane. */
  td: number;
  /** Input channels staged per chunk. */
  cc: number;
}

export type DirectPass = 'forward' | 'dx';

/** Output channels per thread are held as vec4 registers; beyond this the kernel would spill. */
const MAX_ACC_VEC4 = 32;
/** Largest output channel count the direct kernel is offered for (GEMM serves wider convs well). */
export const DIRECT_MAX_CHANNELS = 32;

export const directKey = (t: DirectTiling): string => `direct_${t.lw}x${t.vw}_${t.th}_${t.td}_${t.cc}`;
export const directThreads = (t: DirectTiling): number => t.lw * t.th * t.td;

/** The convolution as the direct kernel sees it: the gathered tensor, the written one, the taps. */
export interface DirectGeometry {
  pass: DirectPass;
  batch: number;
  /** Gathered tensor (x for forward, dy for dx): spatial size and channels. */
  gathered: [number, number, number];
  gatheredC: number;
  /** Written tensor (y for forward, dx for dx). */
  written: [number, number, number];
  writtenC: number;
  filter: [number, number, number];
  /** Leading zero padding of the gathered tensor per axis. */
  pad: [number, number, number];
}

/** The direct kernel covers stride 1, dilation 1, and at most 32 written channels. */
export function directGeometry(pass: string, c: tf.backend_util.Conv3DInfo): DirectGeometry | undefined {
  const g = strideOneGeometry(pass, c);
  return g && g.writtenC <= DIRECT_MAX_CHANNELS ? g : undefined;
}

/**
 * Forward or dx of a stride-1, dilation-1 conv as one stride-1 conv of the gathered tensor (any
 * channel counts; the direct and the Winograd kernels' view).
 */
export function strideOneGeometry(pass: string, c: tf.backend_util.Conv3DInfo): DirectGeometry | undefined {
  if (pass !== 'forward' && pass !== 'dx') return undefined;
  const unit = [c.strideDepth, c.strideHeight, c.strideWidth, c.dilationDepth, c.dilationHeight, c.dilationWidth].every((v) => v === 1);
  const writtenC = pass === 'forward' ? c.outChannels : c.inChannels;
  if (!unit) return undefined;
  const inDims: [number, number, number] = [c.inDepth, c.inHeight, c.inWidth];
  const outDims: [number, number, number] = [c.outDepth, c.outHeight, c.outWidth];
  const filter: [number, number, number] = [c.filterDepth, c.filterHeight, c.filterWidth];
  const front: [number, number, number] = [c.padInfo.front, c.padInfo.top, c.padInfo.left];
  return pass === 'forward'
    ? { pass, batch: c.batchSize, gathered: inDims, gatheredC: c.inChannels, written: outDims, writtenC, filter, pad: front }
    : {
      pass, batch: c.batchSize, gathered: outDims, gatheredC: c.outChannels, written: inDims, writtenC, filter,
      pad: [filter[0] - 1 - front[0], filter[1] - 1 - front[1], filter[2] - 1 - front[2]],
    };
}

/** Row and plane pitches of the staged tile, padded so the words one warp reads fall in distinct banks. */
export function tileLayout(t: DirectTiling, filter: [number, number, number]) {
  const hd = t.td + filter[0] - 1;
  const hh = t.th + filter[1] - 1;
  const hw = t.lw * t.vw + filter[2] - 1;
  // lanes of a warp (32 threads) that share a tile row or plane: shift each row/plane by whole lanes
  const pitchUp = (min: number, residue: number) => min + ((((residue - min) % 32) + 32) % 32);
  const pitchH = t.lw >= 32 ? hw : pitchUp(hw, t.lw);
  const pitchD = t.lw * t.th >= 32 ? pitchH * hh : pitchUp(pitchH * hh, t.lw * t.th);
  return { hd, hh, hw, pitchH, pitchD, channelPitch: pitchD * hd, halo: hd * hh * hw };
}

/** Workgroup memory (bytes) a tiling needs: the staged input chunk and the chunk's weights. */
export function directSharedBytes(t: DirectTiling, g: DirectGeometry): number {
  const taps = g.filter[0] * g.filter[1] * g.filter[2];
  const co4 = Math.ceil(g.writtenC / 4);
  return 4 * (tileLayout(t, g.filter).channelPitch * t.cc + taps * t.cc * co4 * 4);
}

/** Whether a tiling fits the geometry and the device's workgroup memory. */
export function directValid(t: DirectTiling, g: DirectGeometry, sharedBytes: number): boolean {
  const threads = directThreads(t);
  const co4 = Math.ceil(g.writtenC / 4);
  if (threads < 32 || threads > 256 || t.vw < 1 || t.cc < 1 || t.cc > g.gatheredC) return false;
  if (t.vw * co4 > MAX_ACC_VEC4) return false;
  return directSharedBytes(t, g) <= sharedBytes;
}

/**
 * Tilings worth timing: 128 or 256 threads, a warp along W (8, 16 or 32 lanes), and as many
 * channels per chunk as workgroup memory holds, spread evenly over the chunks.
 */
export function directCandidates(g: DirectGeometry, sharedBytes: number): DirectTiling[] {
  const out: DirectTiling[] = [];
  const co4 = Math.ceil(g.writtenC / 4);
  for (const [lw, vw] of [[8, 4], [16, 2], [32, 1], [8, 2], [16, 1]]) {
    if (vw * co4 > MAX_ACC_VEC4) continue;
    for (const threads of [128, 256]) {
      for (const td of [1, 2, 4]) {
        const th = threads / (lw * td);
        if (!Number.isInteger(th) || th < 2 || th > 16) continue;
        const one: DirectTiling = { algo: 'direct', lw, vw, th, td, cc: 1 };
        const perChannel = directSharedBytes(one, g);
        const ccMax = Math.min(g.gatheredC, Math.floor(sharedBytes / perChannel));
        if (ccMax < 1) continue;
        const t = { ...one, cc: Math.ceil(g.gatheredC / Math.ceil(g.gatheredC / ccMax)) };
        if (directValid(t, g, sharedBytes)) out.push(t);
      }
    }
  }
  return out;
}

export class DirectConvProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  // a y axis makes tfjs emit `fn main()` with workgroup ids (not the flat main(index))
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms = 'gD : i32, gH : i32, gW : i32, gC : i32, oD : i32, oH : i32, oW : i32, oC : i32, pD : i32, pH : i32, pW : i32, tilesD : i32, tilesH : i32, tilesW : i32, numTiles : i32,';
  readonly variableNames: string[];
  private readonly tiles: [number, number, number];
  private readonly numTiles: number;

  /** @param epilogue forward only: applied to each written value; its tensors follow x and W. */
  constructor(private g: DirectGeometry, readonly tiling: DirectTiling, private readonly epilogue?: ConvEpilogue) {
    const t = tiling;
    if (epilogue && g.pass !== 'forward') throw new Error('the direct conv\'s epilogue is for the forward pass');
    this.variableNames = [...(g.pass === 'forward' ? ['x', 'W'] : ['dy', 'W']), ...epilogueVariables(epilogue)];
    this.uniforms += epilogueUniformFields(epilogue);
    this.tiles = [Math.ceil(g.written[0] / t.td), Math.ceil(g.written[1] / t.th), Math.ceil(g.written[2] / (t.lw * t.vw))];
    this.numTiles = g.batch * this.tiles[0] * this.tiles[1] * this.tiles[2];
    const [x, y] = spreadWorkgroups(this.numTiles);
    this.dispatch = [x, y, 1];
    this.workgroupSize = [directThreads(t), 1, 1];
    this.outputShape = [1, g.batch * g.written[0] * g.written[1] * g.written[2] * g.writtenC];
    this.shaderKey = `anatomynet_direct_${g.pass}_${directKey(t)}_f${g.filter.join('x')}_co${Math.ceil(g.writtenC / 4)}${epilogueKey(epilogue)}`;
  }

  uniformValues(): ProgramUniform[] {
    const g = this.g;
    const ints = [...g.gathered, g.gatheredC, ...g.written, g.writtenC, ...g.pad, ...this.tiles, this.numTiles]
      .map((v) => ({ type: 'int32' as const, data: [v] }));
    return [...ints, ...epilogueUniforms(this.epilogue)];
  }

  getUserCode(): string {
    const { lw, vw, th, td, cc } = this.tiling;
    const [fd, fh, fw] = this.g.filter;
    const taps = fd * fh * fw;
    const co4 = Math.ceil(this.g.writtenC / 4);
    const T = directThreads(this.tiling);
    const L = tileLayout(this.tiling, this.g.filter);
    const src = this.variableNames[0];
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    // forward reads W[tap, c, o]; dx reads W[taps - 1 - tap, o, c] (filter [fD,fH,fW,Cin,Cout])
    const weight = this.g.pass === 'forward'
      ? '(tap * uniforms.gC + c) * uniforms.oC + o'
      : `((${taps - 1} - tap) * uniforms.oC + o) * uniforms.gC + c`;
    const accDecl = range(vw).flatMap((v) => range(co4).map((q) => `var acc_${v}_${q} = vec4<f32>(0.0);`)).join('\n        ');
    const taps_ = range(fw).map((kw) => `
            {
              ${range(vw).map((v) => `let x${v} = Xs[xb + ${kw + v * lw}];`).join('\n              ')}
              ${range(co4).map((q) => `let w${q} = Ws[wb + ${kw * cc * co4 + q}];`).join('\n              ')}
              ${range(vw).flatMap((v) => range(co4).map((q) => `acc_${v}_${q} = fma(vec4<f32>(x${v}), w${q}, acc_${v}_${q});`)).join('\n              ')}
            }`).join('');
    const writes = range(vw).map((v) => `
        {
          let ow = ow0 + lane + ${v * lw};
          if (inside && ow < uniforms.oW) {
            let o = (((n * uniforms.oD + od) * uniforms.oH + oh) * uniforms.oW + ow) * uniforms.oC;
            ${range(co4).flatMap((q) => range(4).map((j) => `if (${4 * q + j} < uniforms.oC) { result[o + ${4 * q + j}] = ${this.epilogue ? `epilogue(acc_${v}_${q}[${j}], ${4 * q + j})` : `acc_${v}_${q}[${j}]`}; }`)).join('\n            ')}
          }
        }`).join('');
    return `${this.epilogue ? epilogueWgsl(this.epilogue) : ''}
      fn weightAt(tap : i32, c : i32, o : i32) -> f32 {
        if (o >= uniforms.oC) { return 0.0; }
        return W[${weight}];
      }
      var<workgroup> Xs : array<f32, ${L.channelPitch * cc}>;
      var<workgroup> Ws : array<vec4<f32>, ${taps * cc * co4}>;
      fn main() {
        // no early return for the grid's spare workgroups: barriers need uniform control flow, and
        // tfjs exposes the workgroup id through a private variable, so they redo the last tile unwritten
        let tileId = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let spare = tileId >= uniforms.numTiles;
        let tile = min(tileId, uniforms.numTiles - 1);
        let t = ${threadIndex(T)};
        let lane = t % ${lw};
        let hh = (t / ${lw}) % ${th};
        let dd = t / ${lw * th};
        let tw = tile % uniforms.tilesW;
        let r1 = tile / uniforms.tilesW;
        let tH = r1 % uniforms.tilesH;
        let r2 = r1 / uniforms.tilesH;
        let tD = r2 % uniforms.tilesD;
        let n = r2 / uniforms.tilesD;
        let od = tD * ${td} + dd;
        let oh = tH * ${th} + hh;
        let ow0 = tw * ${lw * vw};
        let inside = !spare && od < uniforms.oD && oh < uniforms.oH;
        let gd0 = tD * ${td} - uniforms.pD;
        let gh0 = tH * ${th} - uniforms.pH;
        let gw0 = ow0 - uniforms.pW;
        ${accDecl}
        for (var c0 = 0; c0 < uniforms.gC; c0 = c0 + ${cc}) {
          // stage the chunk's input tile (channel fastest: contiguous in NDHWC) and its weights
          for (var e = t; e < ${L.halo * cc}; e = e + ${T}) {
            let c = e % ${cc};
            let r = e / ${cc};
            let w = r % ${L.hw};
            let r3 = r / ${L.hw};
            let h = r3 % ${L.hh};
            let d = r3 / ${L.hh};
            let gd = gd0 + d;
            let gh = gh0 + h;
            let gw = gw0 + w;
            var v = 0.0;
            if (c0 + c < uniforms.gC && gd >= 0 && gd < uniforms.gD && gh >= 0 && gh < uniforms.gH && gw >= 0 && gw < uniforms.gW) {
              v = ${src}[(((n * uniforms.gD + gd) * uniforms.gH + gh) * uniforms.gW + gw) * uniforms.gC + c0 + c];
            }
            Xs[c * ${L.channelPitch} + d * ${L.pitchD} + h * ${L.pitchH} + w] = v;
          }
          for (var e = t; e < ${taps * cc * co4}; e = e + ${T}) {
            let q = e % ${co4};
            let r = e / ${co4};
            let c = c0 + r % ${cc};
            let tap = r / ${cc};
            var v = vec4<f32>(0.0);
            if (c < uniforms.gC) {
              v = vec4<f32>(weightAt(tap, c, 4 * q), weightAt(tap, c, 4 * q + 1), weightAt(tap, c, 4 * q + 2), weightAt(tap, c, 4 * q + 3));
            }
            Ws[e] = v;
          }
          workgroupBarrier();
          for (var c = 0; c < ${cc}; c = c + 1) {
            for (var kd = 0; kd < ${fd}; kd = kd + 1) {
              for (var kh = 0; kh < ${fh}; kh = kh + 1) {
                let xb = c * ${L.channelPitch} + (dd + kd) * ${L.pitchD} + (hh + kh) * ${L.pitchH} + lane;
                let wb = ((kd * ${fh} + kh) * ${fw * cc} + c) * ${co4};${taps_}
              }
            }
          }
          workgroupBarrier();
        }${writes}
      }`;
  }
}

/**
 * Runs the direct conv: `source` is x (forward) or dy (dx), `filter` the conv's [fD,fH,fW,Cin,Cout]
 * filter; returns the written tensor with `outShape`, through `epilogue` if given (forward).
 */
export function runDirectConv(
  backend: WebGPUBackendLike, g: DirectGeometry, tiling: DirectTiling, source: TensorInfo, filter: TensorInfo, outShape: number[],
  epilogue?: ConvEpilogue,
): TensorInfo {
  const program = new DirectConvProgram(g, tiling, epilogue);
  const flat = [source, filter, ...epilogueInputs(epilogue)].map((t) => reshapeView(backend, t, [tf.util.sizeFromShape(t.shape)]));
  const y = backend.runWebGPUProgram(program, flat, 'float32', program.uniformValues());
  release(backend, ...flat);
  const out = reshapeView(backend, y, outShape);
  release(backend, y);
  return out;
}
