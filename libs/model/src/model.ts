import * as tf from '@tensorflow/tfjs';
import { validateModelConfig, type ModelConfig } from './config';
import { initialValues } from './init';
import { anatomyNet, applyPost, seResidualComposed, upsampleComposed, type ConvPost, type NetOps, type SeResidual, type UpsampleAfter } from './network';
import {
  ADD_LEAKY_RELU, addBiasRows, cropStart5, FUSED_CONV3D, hasKernel, depthToSpace2, normalizeFixed, normalizeGroups, padEnd5, scaleChannels, SE_GATE, SE_GATE_GRAD,
  SCALE_ADD_LEAKY_RELU, seGateOf, squeezeExcite, sumRows, updateRunningStats, UPSAMPLE_CONCAT,
} from './ops';
import { parameterSpecs, summarizeModel, type ParamSpec } from './summary';
import { forgetSavedOutput, freeGradientsEarly, freeShapeOnlySaved } from './tape';

/** A built network: its configuration and its tf variables, in creation order. */
export interface AnatomyNetModel {
  readonly config: ModelConfig;
  /** Trainable variables by parameter name (e.g. `enc0.b0.conv1.w`). */
  readonly params: ReadonlyMap<string, tf.Variable>;
  /** BatchNorm running statistics (`*.runningMean`, `*.runningVar`), updated in training mode. */
  readonly buffers: ReadonlyMap<string, tf.Variable>;
  readonly specs: readonly ParamSpec[];
  /** Number of trainable scalars. */
  readonly paramCount: number;
  /** Frees every variable. */
  dispose(): void;
}

/** Options of {@link forward}. */
export interface ForwardOptions {
  /** Batch statistics in the norms and (by default) running-statistics updates. Default false. */
  training?: boolean;
  /** Update BatchNorm running statistics in training mode. Default true. */
  updateStats?: boolean;
  /**
   * Training mode only: the gradient tape keeps each block's input and output and the block runs again
   * in the backward pass (gradient checkpointing). Same gradients up to summation order. With
   * trainStep's freeGradientsEarly, a step of the reference network at 64x128x128 peaked at 2.27 GB of
   * tensors instead of 8.45 GB (tfjs-cpu); the forward of every block runs twice. `{ keep }` recomputes
   * every segment but those named (their activations kept: memory for speed); see {@link segmentNames}.
   */
  recompute?: Recompute;
}

/** Which segments run again in the backward pass (see {@link ForwardOptions.recompute}). */
export type Recompute = boolean | { keep: readonly string[] };

/**
 * The segments of a model, in forward order: the residual blocks (`enc1.b0`, `dec2.b0`, ...) and the
 * output convolutions (`out`), the units {@link ForwardOptions.recompute} recomputes.
 */
export function segmentNames(model: AnatomyNetModel): string[] {
  return [...segmentParamsOf(model).keys()];
}

/**
 * The {@link Recompute} of command-line options: a flag and the segments not recomputed, comma-separated
 * (`--recompute --keep-segments out,dec0.b0`). The names are checked against the model at its forward.
 */
export function recomputeOption(recompute: boolean | undefined, keepSegments?: string): Recompute {
  if (keepSegments !== undefined && !recompute) throw new RangeError('--keep-segments goes with --recompute (it names the segments not recomputed)');
  const keep = (keepSegments ?? '').split(',').map((n) => n.trim()).filter(Boolean);
  return recompute && keep.length ? { keep } : recompute ?? false;
}

function refuseUnknownSegments(known: readonly string[], keep: readonly string[]): void {
  const unknown = keep.filter((n) => !known.includes(n));
  if (unknown.length) throw new RangeError(`recompute: no segment ${unknown.join(', ')} in this model (its segments: ${known.join(', ')})`);
}

/**
 * Refuses a {@link Recompute} that keeps segments the model of `config` does not have, naming those it
 * has: what the forward would refuse, found before any run (from the config alone, no tensors).
 */
export function checkRecompute(config: unknown, recompute: Recompute): void {
  if (typeof recompute === 'boolean') return;
  const cfg = validateModelConfig(config);
  const side = 2 ** cfg.pools;
  refuseUnknownSegments([...summarizeModel(cfg, [side, side, side]).segmentParams.keys()], recompute.keep);
}

/** Whether segment `name` is recomputed; unknown names in `keep` are refused. */
function recomputes(model: AnatomyNetModel, recompute: Recompute): (name: string) => boolean {
  if (typeof recompute === 'boolean') return () => recompute;
  refuseUnknownSegments(segmentNames(model), recompute.keep);
  const keep = new Set(recompute.keep);
  return (name) => !keep.has(name);
}

let modelCounter = 0;

/** Builds the variables from specs and a value source; shapes are checked by tf.tensor. */
export function createModel(config: ModelConfig, valueOf: (spec: ParamSpec) => Float32Array): AnatomyNetModel {
  const specs = parameterSpecs(config);
  const prefix = `anatomynet${modelCounter++}/`;
  const params = new Map<string, tf.Variable>();
  const buffers = new Map<string, tf.Variable>();
  try {
    for (const spec of specs) {
      const values = valueOf(spec);
      const v = tf.tidy(() => tf.variable(tf.tensor(values, spec.shape, 'float32'), spec.kind === 'param', prefix + spec.name));
      (spec.kind === 'param' ? params : buffers).set(spec.name, v);
    }
  } catch (e) {
    for (const v of [...params.values(), ...buffers.values()]) v.dispose();
    throw e;
  }
  const paramCount = [...params.values()].reduce((a, v) => a + v.size, 0);
  return {
    config,
    params,
    buffers,
    specs,
    paramCount,
    dispose: () => {
      for (const v of [...params.values(), ...buffers.values()]) v.dispose();
    },
  };
}

/**
 * Validates a configuration (before any compute) and builds a freshly initialised network.
 * Same config and seed give bit-identical weights on every backend.
 * @throws ModelConfigError naming the bad field and value.
 */
export function buildModel(config: unknown, options: { seed?: number } = {}): AnatomyNetModel {
  const cfg = validateModelConfig(config);
  const seed = options.seed ?? 0;
  return createModel(cfg, (spec) => initialValues(spec, seed, cfg.leakySlope));
}

/** The tfjs implementation of the network's operations. */
class TensorOps implements NetOps<tf.Tensor5D> {
  private readonly refs = new Map<tf.Tensor, number>();

  constructor(
    private readonly model: AnatomyNetModel,
    private readonly training: boolean,
    private readonly updateStats: boolean,
    private readonly external: tf.Tensor,
    private readonly recompute: (segment: string) => boolean = () => false,
  ) {}

  private p(name: string): tf.Variable {
    const v = this.model.params.get(name) ?? this.model.buffers.get(name);
    if (!v) throw new Error(`internal: no parameter ${name}`);
    return v;
  }

  private out<T extends tf.Tensor>(t: T): T {
    this.refs.set(t, (this.refs.get(t) ?? 0) + 1);
    return t;
  }

  shape(x: tf.Tensor5D): number[] {
    return x.shape;
  }

  conv(name: string, x: tf.Tensor5D, cout: number, kernel: 1 | 3, stride: 1 | 2, _init: 'he' | 'linear', post?: ConvPost): tf.Tensor5D {
    if (this.fusesConvPost(post)) return this.out(this.fusedConv(name, x, stride, post));
    const y = this.convBias(name, x, cout, stride);
    if (post?.norm && post.act && this.batchStatistics()) {
      // normalizeGroups applies the activation (inside the fused norm kernel where there is one)
      const out = this.normalise(post.norm, y, this.model.config.leakySlope);
      this.release(y);
      return out;
    }
    return applyPost(this, y, post);
  }

  /** Whether the norm uses the statistics of the tensor itself (training, or instance norm). */
  private batchStatistics(): boolean {
    const norm = this.model.config.norm;
    return norm === 'instance' || (norm === 'batch' && this.training);
  }

  /**
   * Whether a fused kernel runs: the backend registers it and, in training, its gradient exists and
   * so do the kernels `gradKernels` that the gradient runs.
   */
  private fuses(kernel: string, ...gradKernels: string[]): boolean {
    return hasKernel(kernel) && (!this.training || (tf.getGradient(kernel) !== undefined && gradKernels.every(hasKernel)));
  }

  /**
   * Whether the norm and activation after a conv go into the fused kernel too: where the norm (if
   * any) is a fixed affine map, running-statistics BatchNorm in eval mode or none (batch and
   * instance statistics need the output first). In training that leaves the convs followed by an
   * activation alone (the down-sampling conv, the output block's first conv), whose gradient the
   * fused kernel has; the others fuse the bias only.
   */
  private fusesConvPost(post: ConvPost | undefined): boolean {
    const norm = this.model.config.norm;
    if (!this.fuses(FUSED_CONV3D)) return false;
    return this.training ? (!post?.norm || norm === 'none') : (!post?.norm || norm === 'batch' || norm === 'none');
  }

  private fusedConv(name: string, x: tf.Tensor5D, stride: 1 | 2, post: ConvPost | undefined): tf.Tensor5D {
    const cfg = this.model.config;
    return tf.tidy(() => {
      const withNorm = post?.norm !== undefined && cfg.norm === 'batch';
      const norm: tf.NamedTensorMap = withNorm
        ? { mean: this.p(`${post.norm}.runningMean`), variance: this.p(`${post.norm}.runningVar`), gamma: this.p(`${post.norm}.gamma`), beta: this.p(`${post.norm}.beta`) }
        : {};
      const inputs: tf.NamedTensorMap = { x, filter: this.p(`${name}.w`), bias: this.p(`${name}.b`), ...norm };
      const attrs = { strides: stride, pad: 'same', eps: cfg.normEps, activation: post?.act ? 'leakyrelu' : 'linear', alpha: cfg.leakySlope };
      const y = tf.engine().runKernel(FUSED_CONV3D, inputs, attrs) as tf.Tensor5D;
      // its gradient reads the output only for the LeakyReLU's: the skip convs' and the logits' go
      if (!post?.act) forgetSavedOutput(y);
      return y;
    });
  }

  private convBias(name: string, x: tf.Tensor5D, cout: number, stride: 1 | 2): tf.Tensor5D {
    if (this.fuses(FUSED_CONV3D)) return this.out(this.fusedConv(name, x, stride, undefined));
    const w = this.p(`${name}.w`) as unknown as tf.Tensor5D;
    const b = this.p(`${name}.b`) as unknown as tf.Tensor1D;
    return this.out(
      tf.tidy(() => {
        const y = tf.conv3d(x, w, stride, 'same');
        return addBiasRows(y.reshape([-1, cout]), b).reshape(y.shape) as tf.Tensor5D;
      }),
    );
  }

  norm(name: string, x: tf.Tensor5D): tf.Tensor5D {
    return this.normalise(name, x);
  }

  /** The norm, then a LeakyReLU of slope `alpha` where one is given (only with batch statistics). */
  private normalise(name: string, x: tf.Tensor5D, alpha?: number): tf.Tensor5D {
    const cfg = this.model.config;
    if (cfg.norm === 'none') {
      this.retain(x);
      return x;
    }
    const [n, d, h, w, c] = x.shape;
    const gamma = this.p(`${name}.gamma`) as unknown as tf.Tensor1D;
    const beta = this.p(`${name}.beta`) as unknown as tf.Tensor1D;
    return this.out(
      tf.tidy(() => {
        if (cfg.norm === 'batch' && !this.training) {
          const mean = this.p(`${name}.runningMean`) as unknown as tf.Tensor1D;
          const variance = this.p(`${name}.runningVar`) as unknown as tf.Tensor1D;
          return normalizeFixed(x.reshape([1, -1, c]), mean, variance, gamma, beta, cfg.normEps).reshape(x.shape) as tf.Tensor5D;
        }
        const groups = cfg.norm === 'batch' ? 1 : n;
        const r = normalizeGroups(x.reshape([groups, -1, c]), gamma, beta, cfg.normEps, alpha);
        if (cfg.norm === 'batch' && this.updateStats) {
          updateRunningStats(this.p(`${name}.runningMean`), this.p(`${name}.runningVar`), r.mean.reshape([c]), r.variance.reshape([c]), cfg.bnMomentum, n * d * h * w);
        }
        tf.dispose([r.mean, r.variance]);
        return r.y.reshape(x.shape) as tf.Tensor5D;
      }),
    );
  }

  act(name: string, x: tf.Tensor5D): tf.Tensor5D {
    const slope = this.model.config.leakySlope;
    return this.out(tf.tidy(() => tf.leakyRelu(x.reshape([-1, x.shape[4]]), slope).reshape(x.shape) as tf.Tensor5D));
  }

  se(name: string, x: tf.Tensor5D): tf.Tensor5D {
    const slope = this.model.config.leakySlope;
    const [n, d, h, w, c] = x.shape;
    return this.out(
      tf.tidy(() => {
        const x3 = x.reshape([n, d * h * w, c]) as tf.Tensor3D;
        const [w1, b1, w2, b2] = ['fc1.w', 'fc1.b', 'fc2.w', 'fc2.b'].map((k) => this.p(`${name}.${k}`) as unknown as tf.Tensor);
        if (this.fuses(SE_GATE, SE_GATE_GRAD)) return squeezeExcite(x3, w1, b1, w2, b2, slope).reshape(x.shape) as tf.Tensor5D;
        const z = tf.div(sumRows(x3), d * h * w).reshape([n, c]) as tf.Tensor2D;
        const hid = tf.leakyRelu(tf.add(tf.matMul(z, w1 as tf.Tensor2D), b1), slope);
        const s = tf.sigmoid(tf.add(tf.matMul(hid as tf.Tensor2D, w2 as tf.Tensor2D), b2));
        return scaleChannels(x3, s.reshape([n, 1, c])).reshape(x.shape) as tf.Tensor5D;
      }),
    );
  }

  seResidual(name: string, x: tf.Tensor5D, hidden: number, residual: SeResidual<tf.Tensor5D>): tf.Tensor5D {
    // eval mode: the gate's scaling goes into the residual sum's pass
    if (!this.fuses(SCALE_ADD_LEAKY_RELU) || !hasKernel(SE_GATE)) return seResidualComposed(this, name, x, hidden, residual);
    const [n, d, h, w, c] = x.shape;
    const [w1, b1, w2, b2] = ['fc1.w', 'fc1.b', 'fc2.w', 'fc2.b'].map((k) => this.p(`${name}.${k}`) as unknown as tf.Tensor);
    const gate = tf.tidy(() => seGateOf(x.reshape([n, d * h * w, c]), w1, b1, w2, b2, this.model.config.leakySlope));
    const skip = residual.skip();
    const out = this.out(tf.engine().runKernel(SCALE_ADD_LEAKY_RELU, { a: x, scale: gate, b: skip }, { alpha: this.model.config.leakySlope }) as tf.Tensor5D);
    gate.dispose();
    this.release(x);
    this.release(skip);
    return out;
  }

  add(name: string, a: tf.Tensor5D, b: tf.Tensor5D, act?: string): tf.Tensor5D {
    const fused = act !== undefined && this.fuses(ADD_LEAKY_RELU);
    const c = a.shape[4];
    const sum = this.out(fused
      ? tf.engine().runKernel(ADD_LEAKY_RELU, { a, b }, { alpha: this.model.config.leakySlope }) as tf.Tensor5D
      : tf.tidy(() => tf.add(a.reshape([-1, c]), b.reshape([-1, c])).reshape(a.shape) as tf.Tensor5D));
    this.release(a);
    this.release(b);
    return fused ? sum : applyPost(this, sum, { act });
  }

  concat(name: string, a: tf.Tensor5D, b: tf.Tensor5D): tf.Tensor5D {
    return this.out(tf.concat([a, b], 4));
  }

  upsample(name: string, x: tf.Tensor5D, cout: number, after?: UpsampleAfter<tf.Tensor5D>): tf.Tensor5D {
    // the kernel crops to the appended tensor's size: fused only where that is the crop asked for
    const size = after?.crop?.dhw ?? x.shape.slice(1, 4).map((s) => 2 * s);
    if (after && this.fuses(UPSAMPLE_CONCAT) && after.append.x.shape.slice(1, 4).join() === size.join()) {
      const [w, b] = [`${name}.w`, `${name}.b`].map((k) => this.p(k) as unknown as tf.Tensor);
      return this.out(tf.engine().runKernel(UPSAMPLE_CONCAT, { x, w, b, append: after.append.x }, {}) as tf.Tensor5D);
    }
    if (after) return upsampleComposed(this, name, x, cout, after);
    const [n, d, h, w, cin] = x.shape;
    const wt = this.p(`${name}.w`) as unknown as tf.Tensor2D;
    const b = this.p(`${name}.b`) as unknown as tf.Tensor1D;
    return this.out(
      tf.tidy(() => {
        const y = tf.matMul(x.reshape([-1, cin]), wt).reshape([n, d, h, w, 8 * cout]) as tf.Tensor5D;
        const up = depthToSpace2(y);
        return addBiasRows(up.reshape([-1, cout]), b).reshape(up.shape) as tf.Tensor5D;
      }),
    );
  }

  pad(name: string, x: tf.Tensor5D, dhw: number[]): tf.Tensor5D {
    return this.out(padEnd5(x, dhw));
  }

  crop(name: string, x: tf.Tensor5D, dhw: number[]): tf.Tensor5D {
    return this.out(cropStart5(x, dhw));
  }

  softmax(name: string, x: tf.Tensor5D): tf.Tensor5D {
    return this.out(tf.tidy(() => tf.softmax(x.reshape([-1, x.shape[4]])).reshape(x.shape) as tf.Tensor5D));
  }

  segment(name: string, x: tf.Tensor5D, body: (ops: NetOps<tf.Tensor5D>, x: tf.Tensor5D) => tf.Tensor5D): tf.Tensor5D {
    if (!this.training || !this.recompute(name)) return body(this, x);
    const model = this.model;
    const params = segmentParamsOf(model).get(name)!.map((n) => model.params.get(n)!);
    const run = (xin: tf.Tensor5D, updateStats: boolean) => body(new TensorOps(model, true, updateStats, xin), xin);
    // The segment's own ops run inside the custom op (off the tape) and are freed by the tidy; its
    // parameters are explicit inputs so their gradients flow through the outer tape.
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const xin = args[0] as tf.Tensor5D;
      const y = tf.tidy(() => run(xin, this.updateStats));
      save([xin]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const xs = saved[0] as tf.Tensor5D;
          const grads = isolatedGradients(
            () => {
              const out = run(xs, false);
              freeGradientsEarly();
              return out;
            },
            [xs, ...params],
            dy,
          );
          dy.dispose(); // the segment output's gradient: not read again (see tape.ts)
          return grads;
        },
      };
    });
    const y = op(x, ...params) as tf.Tensor5D;
    this.release(x);
    return this.out(y);
  }

  retain(x: tf.Tensor5D): void {
    this.refs.set(x, (this.refs.get(x) ?? 0) + 1);
  }

  /**
   * Frees a tensor after its last use, in training too: what a gradient needs, the tape saved as a
   * handle of its own (the forward's tidy would otherwise hold every activation to its end, which
   * was the whole-volume step's peak).
   */
  release(x: tf.Tensor5D): void {
    const n = (this.refs.get(x) ?? 0) - 1;
    this.refs.set(x, n);
    if (n <= 0 && x !== this.external) {
      x.dispose();
      freeShapeOnlySaved();
    }
  }
}

const segmentParamCache = new WeakMap<AnatomyNetModel, Map<string, string[]>>();

/** Trainable parameter names of each segment, from the symbolic network (computed once per model). */
function segmentParamsOf(model: AnatomyNetModel): Map<string, string[]> {
  let m = segmentParamCache.get(model);
  if (!m) {
    const side = 2 ** model.config.pools;
    m = summarizeModel(model.config, [side, side, side]).segmentParams;
    segmentParamCache.set(model, m);
  }
  return m;
}

/**
 * Gradients of f at xs for dy, computed while another gradient computation is in its backward pass.
 * tfjs's engine.gradients starts a fresh tape when no gradient is being recorded (true during the
 * outer backward pass), and afterwards sets the engine's active tape to null, which the outer
 * gradients() still needs for its own clean-up; so the outer tape is put back. tfjs-core 4.22.
 */
function isolatedGradients(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine() as unknown as {
    state: { activeTape: unknown };
    gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): { value: tf.Tensor; grads: tf.Tensor[] };
  };
  const outerTape = engine.state.activeTape;
  try {
    const { value, grads } = engine.gradients(f, xs, dy);
    value.dispose();
    return grads;
  } finally {
    engine.state.activeTape = outerTape;
  }
}

/**
 * Runs the network on x [N, D, H, W, inChannels] (any D, H, W) and returns softmax probabilities
 * [N, D, H, W, numClasses]. Eval mode (default) uses BatchNorm running statistics and frees each
 * activation after its last use; training mode uses batch statistics and updates the running ones
 * (momentum bnMomentum), leaving the activations to the caller's tidy / gradient tape.
 * @throws RangeError if x is not rank 5 with inChannels channels.
 */
export function forward(model: AnatomyNetModel, x: tf.Tensor, options: ForwardOptions = {}): tf.Tensor5D {
  const cfg = model.config;
  if (x.rank !== 5 || x.shape[4] !== cfg.inChannels) {
    throw new RangeError(`input must be [N,D,H,W,${cfg.inChannels}], got [${x.shape.join(',')}]`);
  }
  const training = options.training ?? false;
  const ops = new TensorOps(model, training, options.updateStats ?? true, x, recomputes(model, options.recompute ?? false));
  return anatomyNet(ops, cfg, x as tf.Tensor5D);
}
