import type { ModelConfig } from './config';
import { anatomyNet, applyPost, seResidualComposed, upsampleComposed, type ConvPost, type NetOps, type SeResidual, type UpsampleAfter } from './network';

/** How a parameter is initialised (see init.ts). */
export type InitKind = 'he' | 'linear' | 'zeros' | 'ones';

/** One named tensor of the model. Buffers (BatchNorm running statistics) are not trained. */
export interface ParamSpec {
  name: string;
  shape: number[];
  kind: 'param' | 'buffer';
  init: InitKind;
  /** Inputs feeding one output unit (for He-style scaling). */
  fanIn: number;
}

/** One operation of the network with its output shape for a given input shape. */
export interface OpRecord {
  name: string;
  op: string;
  outShape: number[];
  /** Trainable parameters this operation owns. */
  params: number;
}

/** Shapes, parameters and memory of a configuration for one input shape (no tensors created). */
export interface ModelSummary {
  inputShape: number[];
  outputShape: number[];
  ops: OpRecord[];
  specs: ParamSpec[];
  /** Trainable parameters (conv weights and biases, norm gamma/beta, SE linears). */
  paramCount: number;
  /** Non-trainable buffers (BatchNorm running mean and variance). */
  bufferCount: number;
  /**
   * Estimated peak bytes of float32 activations in inference, if every tensor is freed after its
   * last use (what the tfjs forward does in eval mode), including each op's own temporaries.
   */
  forwardPeakBytes: number;
  /**
   * Estimated bytes for a training step: every activation the gradient tape keeps (outputs plus the
   * temporaries saved for backward) plus two of the largest tensor for gradients in flight.
   * The saved part matched the ArrayBuffer bytes the tfjs-cpu tape held within 1% on six configs.
   */
  trainingBytes: number;
  /**
   * The same estimate when each segment (block, output convolutions) is recomputed in the backward
   * pass: the tape keeps segment inputs and outputs, plus one segment's activations at a time.
   */
  trainingBytesRecompute: number;
  /** Trainable parameter names of each segment, in creation order. */
  segmentParams: Map<string, string[]>;
}

interface Sym {
  id: number;
  shape: number[];
}

const prod = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/** The symbolic implementation of {@link NetOps}: records shapes, parameters and memory. */
class SymbolicOps implements NetOps<Sym> {
  readonly ops: OpRecord[] = [];
  readonly specs: ParamSpec[] = [];
  private readonly refs = new Map<number, number>();
  private readonly bytesOf = new Map<number, number>();
  private nextId = 0;
  live = 0;
  peak = 0;
  saved = 0;
  largest = 0;
  /** Tape bytes saved inside segments, and the largest single segment's share. */
  savedInSegments = 0;
  largestSegment = 0;
  /** Segment outputs, which the tape keeps when segments are recomputed. */
  segmentOutputs = 0;
  readonly segmentParams = new Map<string, string[]>();
  private segmentName: string | null = null;

  constructor(private readonly cfg: ModelConfig) {}

  make(shape: number[]): Sym {
    const s = { id: this.nextId++, shape };
    const bytes = prod(shape) * 4;
    this.refs.set(s.id, 1);
    this.bytesOf.set(s.id, bytes);
    this.live += bytes;
    this.largest = Math.max(this.largest, bytes);
    return s;
  }

  /** Records an op: output shape, transient temporaries and tape-saved temporaries (in output sizes). */
  private record(name: string, op: string, outShape: number[], transient: number, savedExtra: number): Sym {
    const out = this.make(outShape);
    const outBytes = prod(outShape) * 4;
    this.peak = Math.max(this.peak, this.live + transient * outBytes);
    this.saved += outBytes * (1 + savedExtra);
    return out;
  }

  private param(name: string, shape: number[], init: InitKind, fanIn: number, kind: 'param' | 'buffer' = 'param'): number {
    this.specs.push({ name, shape, kind, init, fanIn });
    if (this.segmentName !== null && kind === 'param') this.segmentParams.get(this.segmentName)!.push(name);
    return kind === 'param' ? prod(shape) : 0;
  }

  private push(name: string, op: string, out: Sym, params: number): Sym {
    this.ops.push({ name, op, outShape: out.shape, params });
    return out;
  }

  shape(x: Sym): number[] {
    return x.shape;
  }

  conv(name: string, x: Sym, cout: number, kernel: 1 | 3, stride: 1 | 2, init: 'he' | 'linear', post?: ConvPost): Sym {
    const y = this.convOnly(name, x, cout, kernel, stride, init);
    // The eval-mode peak follows the fused kernels (cpu, webgpu), which apply the norm and activation
    // as the conv writes its output: those ops hold no tensor of their own while x is still live.
    const peak = this.peak;
    const out = applyPost(this, y, post);
    this.peak = peak;
    return out;
  }

  private convOnly(name: string, x: Sym, cout: number, kernel: 1 | 3, stride: 1 | 2, init: 'he' | 'linear'): Sym {
    const [n, d, h, w, cin] = x.shape;
    const fanIn = kernel ** 3 * cin;
    const p = this.param(`${name}.w`, [kernel, kernel, kernel, cin, cout], init, fanIn) + this.param(`${name}.b`, [cout], 'zeros', fanIn);
    const out = stride === 2 ? [n, Math.ceil(d / 2), Math.ceil(h / 2), Math.ceil(w / 2), cout] : [n, d, h, w, cout];
    return this.push(name, `conv${kernel}${stride === 2 ? '/2' : ''}`, this.record(name, 'conv', out, 1, 1), p);
  }

  norm(name: string, x: Sym): Sym {
    const c = x.shape[4];
    if (this.cfg.norm === 'none') {
      this.refs.set(x.id, this.refs.get(x.id)! + 1);
      return x;
    }
    let p = this.param(`${name}.gamma`, [c], 'ones', 1) + this.param(`${name}.beta`, [c], 'zeros', 1);
    if (this.cfg.norm === 'batch') {
      p += this.param(`${name}.runningMean`, [c], 'zeros', 1, 'buffer');
      p += this.param(`${name}.runningVar`, [c], 'ones', 1, 'buffer');
    }
    return this.push(name, this.cfg.norm === 'batch' ? 'bn' : 'in', this.record(name, 'norm', x.shape, 3, 1), p);
  }

  act(name: string, x: Sym): Sym {
    return this.push(name, 'lrelu', this.record(name, 'act', x.shape, 0, 0), 0);
  }

  se(name: string, x: Sym, hidden: number): Sym {
    const c = x.shape[4];
    const p =
      this.param(`${name}.fc1.w`, [c, hidden], 'he', c) +
      this.param(`${name}.fc1.b`, [hidden], 'zeros', c) +
      this.param(`${name}.fc2.w`, [hidden, c], 'linear', hidden) +
      this.param(`${name}.fc2.b`, [c], 'zeros', hidden);
    return this.push(name, `se${hidden}`, this.record(name, 'se', x.shape, 0, 0), p);
  }

  add(name: string, a: Sym, b: Sym, act?: string): Sym {
    const sum = this.push(name, 'add', this.record(name, 'add', a.shape, 0, 0), 0);
    this.release(a);
    this.release(b);
    return applyPost(this, sum, { act });
  }

  concat(name: string, a: Sym, b: Sym): Sym {
    const out = [...a.shape.slice(0, 4), a.shape[4] + b.shape[4]];
    return this.push(name, 'cat', this.record(name, 'concat', out, 0, 0), 0);
  }

  seResidual(name: string, x: Sym, hidden: number, residual: SeResidual<Sym>): Sym {
    return seResidualComposed(this, name, x, hidden, residual);
  }

  upsample(name: string, x: Sym, cout: number, after?: UpsampleAfter<Sym>): Sym {
    if (after) return upsampleComposed(this, name, x, cout, after);
    const [n, d, h, w, cin] = x.shape;
    const p = this.param(`${name}.w`, [cin, 8 * cout], 'he', cin) + this.param(`${name}.b`, [cout], 'zeros', cin);
    const out = [n, 2 * d, 2 * h, 2 * w, cout];
    return this.push(name, 'up2', this.record(name, 'upsample', out, 2, 3), p);
  }

  pad(name: string, x: Sym, dhw: number[]): Sym {
    return this.push(name, 'pad', this.record(name, 'pad', [x.shape[0], ...dhw, x.shape[4]], 0, 0), 0);
  }

  crop(name: string, x: Sym, dhw: number[]): Sym {
    return this.push(name, 'crop', this.record(name, 'crop', [x.shape[0], ...dhw, x.shape[4]], 0, 0), 0);
  }

  softmax(name: string, x: Sym): Sym {
    return this.push(name, 'softmax', this.record(name, 'softmax', x.shape, 1, 0), 0);
  }

  segment(name: string, x: Sym, body: (ops: NetOps<Sym>, x: Sym) => Sym): Sym {
    if (this.segmentName !== null) throw new Error(`internal: segment ${name} inside ${this.segmentName}`);
    this.segmentName = name;
    this.segmentParams.set(name, []);
    const before = this.saved;
    const out = body(this, x);
    this.segmentName = null;
    const inner = this.saved - before;
    this.savedInSegments += inner;
    this.largestSegment = Math.max(this.largestSegment, inner);
    this.segmentOutputs += prod(out.shape) * 4;
    return out;
  }

  retain(x: Sym): void {
    this.refs.set(x.id, this.refs.get(x.id)! + 1);
  }

  release(x: Sym): void {
    const n = this.refs.get(x.id)! - 1;
    this.refs.set(x.id, n);
    if (n === 0) this.live -= this.bytesOf.get(x.id)!;
  }
}

/**
 * Shapes, parameter list and memory estimate of a (validated) configuration for an input shape
 * [N, D, H, W, C] (or [D, H, W], meaning N = 1 and C = inChannels). Creates no tensors.
 */
export function summarizeModel(cfg: ModelConfig, inputShape: number[]): ModelSummary {
  const shape = inputShape.length === 3 ? [1, ...inputShape, cfg.inChannels] : inputShape;
  if (shape.length !== 5 || shape.some((s) => !Number.isInteger(s) || s < 1) || shape[4] !== cfg.inChannels) {
    throw new RangeError(`input shape ${JSON.stringify(inputShape)} must be [D,H,W] or [N,D,H,W,${cfg.inChannels}] of positive integers`);
  }
  const ops = new SymbolicOps(cfg);
  const input = ops.make(shape);
  const inputBytes = prod(shape) * 4;
  ops.peak = ops.live;
  const out = anatomyNet(ops, cfg, input);
  const params = ops.specs.filter((s) => s.kind === 'param');
  return {
    inputShape: shape,
    outputShape: out.shape,
    ops: ops.ops,
    specs: ops.specs,
    paramCount: params.reduce((a, s) => a + prod(s.shape), 0),
    bufferCount: ops.specs.filter((s) => s.kind === 'buffer').reduce((a, s) => a + prod(s.shape), 0),
    forwardPeakBytes: ops.peak,
    trainingBytes: inputBytes + ops.saved + 2 * ops.largest,
    trainingBytesRecompute: inputBytes + ops.saved - ops.savedInSegments + ops.segmentOutputs + ops.largestSegment + 2 * ops.largest,
    segmentParams: ops.segmentParams,
  };
}

/** Parameter specs of a configuration in creation order (independent of the input size). */
export function parameterSpecs(cfg: ModelConfig): ParamSpec[] {
  const m = 2 ** cfg.pools;
  return summarizeModel(cfg, [m, m, m]).specs;
}
