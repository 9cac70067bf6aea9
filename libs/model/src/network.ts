import type { ModelConfig } from './config';

/**
 * The operations the architecture is written against. Two implementations exist: a symbolic one
 * (shapes, parameters, memory; no tensors) and the tfjs one (compute). Writing the network once
 * against this interface keeps the parameter names, the printed summary and the compute in step.
 * Every handle has shape [N, D, H, W, C]. Handles are reference counted: an op does not consume its
 * inputs; the network calls `release` when it no longer needs a handle and `retain` to hold one longer.
 */
export interface NetOps<T> {
  shape(x: T): number[];
  /**
   * Convolution (kernel 1 or 3, 'same' padding) plus bias, then the norm and the activation that
   * `post` names, in that order ({@link applyPost}); eval-mode tensors may run all of it as one kernel.
   */
  conv(name: string, x: T, cout: number, kernel: 1 | 3, stride: 1 | 2, init: 'he' | 'linear', post?: ConvPost): T;
  /** The configured normalisation (identity for 'none'). */
  norm(name: string, x: T): T;
  /** LeakyReLU with the configured slope. */
  act(name: string, x: T): T;
  /** Squeeze-excitation: x * sigmoid(fc2(act(fc1(mean over voxels of x)))), hidden units given. */
  se(name: string, x: T, hidden: number): T;
  /**
   * The end of an SE-residual block: `add(residual.name, se(name, x, hidden), residual.skip(),
   * residual.act)` ({@link seResidualComposed}), which a backend may fuse. Consumes x; `skip` makes
   * (or hands over) the skip path's tensor, which is consumed too.
   */
  seResidual(name: string, x: T, hidden: number, residual: SeResidual<T>): T;
  /**
   * a + b, then the activation named `act` if given. Consumes (releases) a and b, before the
   * activation where it runs on its own, so the sum and its activation are the only full tensors then.
   */
  add(name: string, a: T, b: T, act?: string): T;
  /** Concatenation on the channel axis, a's channels first. */
  concat(name: string, a: T, b: T): T;
  /**
   * Transposed convolution kernel 2 stride 2, plus bias: doubles D, H, W. With `after`, then the
   * crop and the concatenation it names ({@link upsampleComposed}), which a backend may fuse.
   */
  upsample(name: string, x: T, cout: number, after?: UpsampleAfter<T>): T;
  /** Zero padding at the end of D, H, W up to the given size. */
  pad(name: string, x: T, dhw: number[]): T;
  /** Keeps the first D, H, W voxels. */
  crop(name: string, x: T, dhw: number[]): T;
  /** Softmax over channels. */
  softmax(name: string, x: T): T;
  /**
   * A unit of the network (a block, the output convolutions) that consumes x and returns its output.
   * In a training step with recomputation the gradient tape keeps only x and the output, and runs
   * `body` again in the backward pass; otherwise this is just `body(this, x)`.
   */
  segment(name: string, x: T, body: (ops: NetOps<T>, x: T) => T): T;
  retain(x: T): void;
  release(x: T): void;
}

/** The residual sum that ends an SE-residual block, after its SE. */
export interface SeResidual<T> {
  name: string;
  skip: () => T;
  act: string;
}

/** `se`, then the residual sum and its activation, op by op (x released after the SE, as before the skip path runs). */
export function seResidualComposed<T>(ops: NetOps<T>, name: string, x: T, hidden: number, residual: SeResidual<T>): T {
  const scaled = then(ops, x, (t) => ops.se(name, t, hidden));
  return ops.add(residual.name, scaled, residual.skip(), residual.act);
}

/** What the output block does right after its upsampling: keep the first voxels, then append channels. */
export interface UpsampleAfter<T> {
  crop?: { name: string; dhw: number[] };
  append: { name: string; x: T };
}

/** `upsample` followed by `after`'s crop and concatenation, op by op. */
export function upsampleComposed<T>(ops: NetOps<T>, name: string, x: T, cout: number, after: UpsampleAfter<T>): T {
  let cur = ops.upsample(name, x, cout);
  const crop = after.crop;
  if (crop) cur = then(ops, cur, (t) => ops.crop(crop.name, t, crop.dhw));
  return then(ops, cur, (t) => ops.concat(after.append.name, t, after.append.x));
}

/** What follows a convolution directly: the names of its norm and activation layers. */
export interface ConvPost {
  norm?: string;
  act?: string;
}

/** Applies f to x and releases x: one step of a chain. */
function then<T>(ops: NetOps<T>, x: T, f: (x: T) => T): T {
  const y = f(x);
  ops.release(x);
  return y;
}

/** The norm and activation of `post` as separate ops, consuming y (for implementations that do not fuse). */
export function applyPost<T>(ops: NetOps<T>, y: T, post: ConvPost | undefined): T {
  let out = y;
  if (post?.norm) out = then(ops, out, (t) => ops.norm(post.norm!, t));
  if (post?.act) out = then(ops, out, (t) => ops.act(post.act!, t));
  return out;
}

const channels = <T>(ops: NetOps<T>, x: T): number => ops.shape(x)[4];

/** Number of SE hidden units for C channels and ratio r (as ref_anatomynet.py: max(floor(C/r), 1)). */
export const seHidden = (c: number, ratio: number): number => Math.max(Math.floor(c / ratio), 1);

/** One block; consumes (releases) its input. */
function block<T>(ops: NetOps<T>, cfg: ModelConfig, name: string, x: T, cout: number): T {
  const cin = channels(ops, x);
  const plain = cfg.block === 'plain';
  let r = ops.conv(`${name}.conv1`, x, cout, 3, 1, 'he', { norm: `${name}.norm1`, act: `${name}.act1` });
  r = then(ops, r, (t) => ops.conv(`${name}.conv2`, t, cout, 3, 1, 'he', { norm: `${name}.norm2`, act: plain ? `${name}.act2` : undefined }));
  if (plain) {
    ops.release(x);
    return r;
  }
  const skip = () => (cin === cout ? x : then(ops, x, (t) => ops.conv(`${name}.skip`, t, cout, 1, 1, 'linear')));
  if (cfg.block === 'se-residual') {
    return ops.seResidual(`${name}.se`, r, seHidden(cout, cfg.seRatio), { name: `${name}.add`, skip, act: `${name}.act2` });
  }
  return ops.add(`${name}.add`, r, skip(), `${name}.act2`);
}

/**
 * The configurable AnatomyNet. Input [N, D, H, W, inChannels] of any size; output softmax
 * probabilities [N, D, H, W, numClasses]. The input is zero-padded at the end of each axis to a
 * multiple of 2^pools and the output block crops back before concatenating the input.
 * Encoder stage i starts with a stride-2 3x3x3 convolution when i < pools (stage 0: input ->
 * filters[0]; others keep their channels); the decoder mirrors it with transposed convolutions.
 * Convolutions use TF 'same' padding: a stride-2 layer on an even size pads only at the end, where
 * PyTorch's padding=1 pads both sides (a one-voxel shift of the sampling grid), so PyTorch weights
 * are not interchangeable without shifting. The input handle is not released.
 */
export function anatomyNet<T>(ops: NetOps<T>, cfg: ModelConfig, input: T): T {
  const [, d, h, w] = ops.shape(input);
  const m = 2 ** cfg.pools;
  const padded = [d, h, w].map((s) => Math.ceil(s / m) * m);
  const needPad = padded.some((s, i) => s !== [d, h, w][i]);
  ops.retain(input);
  let cur = needPad ? ops.pad('input.pad', input, padded) : input;
  if (!needPad) ops.retain(input);

  const stages = cfg.filters.length;
  const skips: T[] = [];
  for (let i = 0; i < stages; i++) {
    if (i < cfg.pools) {
      const cout = i === 0 ? cfg.filters[0] : cfg.filters[i - 1];
      const post = { norm: cfg.downsampleNorm ? `enc${i}.down.norm` : undefined, act: `enc${i}.down.act` };
      cur = then(ops, cur, (t) => ops.conv(`enc${i}.down.conv`, t, cout, 3, 2, 'he', post));
    }
    for (let b = 0; b < cfg.blocksPerStage; b++) {
      const name = `enc${i}.b${b}`;
      cur = ops.segment(name, cur, (o, t) => block(o, cfg, name, t, cfg.filters[i]));
    }
    if (i < stages - 1) {
      ops.retain(cur);
      skips.push(cur);
    }
  }

  for (let i = stages - 2; i >= 0; i--) {
    const skip = skips[i];
    const target = cfg.merge === 'concat' ? channels(ops, cur) : cfg.filters[i];
    const up = i + 1 < cfg.pools;
    if (up && cfg.merge === 'concat') {
      // upsampling and concatenation: one kernel where the backend fuses them
      cur = then(ops, cur, (t) => ops.upsample(`dec${i}.up`, t, target, { append: { name: `dec${i}.merge`, x: skip } }));
      ops.release(skip);
    } else {
      if (up) cur = then(ops, cur, (t) => ops.upsample(`dec${i}.up`, t, target));
      else if (channels(ops, cur) !== target) cur = then(ops, cur, (t) => ops.conv(`dec${i}.proj`, t, target, 1, 1, 'linear'));
      if (cfg.merge === 'concat') {
        const merged = ops.concat(`dec${i}.merge`, cur, skip);
        ops.release(cur);
        ops.release(skip);
        cur = merged;
      } else {
        cur = ops.add(`dec${i}.merge`, cur, skip);
      }
    }
    for (let b = 0; b < cfg.blocksPerStage; b++) {
      const name = `dec${i}.b${b}`;
      cur = ops.segment(name, cur, (o, t) => block(o, cfg, name, t, cfg.filters[i]));
    }
  }

  const crop = needPad ? { name: 'out.crop', dhw: [d, h, w] } : undefined;
  cur = then(ops, cur, (t) => ops.upsample('out.up', t, cfg.outputUpFilters, { crop, append: { name: 'out.concat', x: input } }));
  ops.release(input);
  cur = ops.segment('out', cur, (o, t) => {
    const r = then(o, t, (u) => o.conv('out.conv1', u, cfg.outputFilters, 3, 1, 'he', { act: 'out.act1' }));
    return then(o, r, (u) => o.conv('out.conv2', u, cfg.numClasses, 3, 1, 'linear'));
  });
  return then(ops, cur, (t) => ops.softmax('out.softmax', t));
}
