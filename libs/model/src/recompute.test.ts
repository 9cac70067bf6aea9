import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, checkRecompute, forward, recomputeOption, segmentNames, type Recompute } from './model';
import { summarizeModel } from './summary';
import { forgetSavedOutput, freeGradientsEarly } from './tape';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const SHAPE: [number, number, number] = [8, 16, 12];

interface StepResult {
  loss: number;
  grads: Map<string, Float32Array>;
  stats: Float32Array[];
  peakBytes: number;
  leaked: number;
}

/** One gradient computation of a fixed loss; gradients by parameter name. */
async function gradientsOf(cfg: object, opts: { recompute?: Recompute; early?: boolean }): Promise<StepResult> {
  const m = buildModel(cfg, { seed: 3 });
  const x = tf.randomUniform([1, ...SHAPE, 1], 0, 1, 'float32', 5);
  const target = tf.randomUniform([1, ...SHAPE, m.config.numClasses], 0, 1, 'float32', 6);
  const before = tf.memory().numTensors;
  const base = tf.memory().numBytes;
  let out!: { value: tf.Scalar; grads: tf.NamedTensorMap };
  const prof = await tf.profile(() => {
    out = tf.variableGrads(() => {
      const loss = tf.sum(tf.mul(forward(m, x, { training: true, recompute: opts.recompute }), target)) as tf.Scalar;
      if (opts.early) freeGradientsEarly();
      return loss;
    }, [...m.params.values()]);
  });
  const names = [...m.params.keys()];
  const vars = [...m.params.values()];
  const grads = new Map<string, Float32Array>();
  for (let i = 0; i < names.length; i++) grads.set(names[i], (await out.grads[vars[i].name].data()) as Float32Array);
  const loss = (await out.value.data())[0];
  const stats = await Promise.all([...m.buffers.values()].map(async (b) => (await b.data()) as Float32Array));
  tf.dispose([out.value, ...Object.values(out.grads)]);
  const leaked = tf.memory().numTensors - before;
  tf.dispose([x, target]);
  m.dispose();
  return { loss, grads, stats, peakBytes: prof.peakBytes - base, leaked };
}

/** L1 distance of all gradients over their L1 norm. */
function relativeL1(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let num = 0;
  let den = 0;
  for (const [k, ga] of a) {
    const gb = b.get(k)!;
    for (let i = 0; i < ga.length; i++) {
      num += Math.abs(ga[i] - gb[i]);
      den += Math.abs(ga[i]);
    }
  }
  return num / den;
}

const CONFIGS = {
  'paper: 1 pool, SE-residual, concat, batch norm': { filters: [6, 8, 8, 10], pools: 1, outputUpFilters: 4, outputFilters: 4, seRatio: 2 },
  '2 pools, residual, sum, instance norm': { filters: [6, 8, 10], pools: 2, merge: 'sum', block: 'residual', norm: 'instance', outputUpFilters: 4, outputFilters: 4 },
  'plain blocks, two per stage, no norm': { filters: [4, 6], pools: 1, block: 'plain', norm: 'none', blocksPerStage: 2, outputUpFilters: 4, outputFilters: 4 },
};

describe('recomputation in the backward pass', () => {
  for (const [label, cfg] of Object.entries(CONFIGS)) {
    it(`same loss, gradients and running statistics (${label})`, async () => {
      const plain = await gradientsOf(cfg, {});
      const again = await gradientsOf(cfg, { recompute: true });
      expect(again.loss).toBe(plain.loss);
      // Recomputed blocks sum some gradients in another order: float rounding only.
      expect(relativeL1(plain.grads, again.grads)).toBeLessThan(1e-5);
      expect(again.stats).toEqual(plain.stats);
      expect(again.leaked).toBe(0);
    });
  }

  it('some segments kept, the others recomputed: the same loss, gradients and statistics, memory in between', async () => {
    const cfg = CONFIGS['paper: 1 pool, SE-residual, concat, batch norm'];
    const m = buildModel(cfg);
    const names = segmentNames(m);
    expect(names).toEqual(['enc0.b0', 'enc1.b0', 'enc2.b0', 'enc3.b0', 'dec2.b0', 'dec1.b0', 'dec0.b0', 'out']);
    m.dispose();
    const plain = await gradientsOf(cfg, { early: true });
    const all = await gradientsOf(cfg, { recompute: true, early: true });
    const some = await gradientsOf(cfg, { recompute: { keep: ['dec2.b0', 'dec1.b0', 'dec0.b0', 'out'] }, early: true });
    expect(some.loss).toBe(plain.loss);
    expect(relativeL1(plain.grads, some.grads)).toBeLessThan(1e-5);
    expect(some.stats).toEqual(plain.stats);
    expect(some.leaked).toBe(0);
    expect(some.peakBytes).toBeGreaterThan(all.peakBytes);
    expect(some.peakBytes).toBeLessThan(plain.peakBytes);
    // every segment kept is no recomputation at all
    const none = await gradientsOf(cfg, { recompute: { keep: names }, early: true });
    expect(none.peakBytes).toBe(plain.peakBytes);
  });

  it('refuses a segment the model does not have, naming those it has', () => {
    const m = buildModel(CONFIGS['paper: 1 pool, SE-residual, concat, batch norm']);
    const x = tf.zeros([1, ...SHAPE, 1]);
    expect(() => forward(m, x, { training: true, recompute: { keep: ['dec3.b0'] } })).toThrow(/no segment dec3\.b0 in this model \(its segments: enc0\.b0, .*, out\)/);
    x.dispose();
    // the same from the config alone, before any run (the trainer's check of its options)
    const cfg = CONFIGS['paper: 1 pool, SE-residual, concat, batch norm'];
    expect(() => checkRecompute(cfg, { keep: ['out', 'dec3.b0'] })).toThrow(`recompute: no segment dec3.b0 in this model (its segments: ${segmentNames(m).join(', ')})`);
    expect(() => checkRecompute(cfg, { keep: segmentNames(m) })).not.toThrow();
    expect(() => checkRecompute(cfg, true)).not.toThrow();
    m.dispose();
  });

  it('reads --recompute and --keep-segments', () => {
    expect(recomputeOption(undefined)).toBe(false);
    expect(recomputeOption(true)).toBe(true);
    expect(recomputeOption(true, ' out, dec0.b0 ,')).toEqual({ keep: ['out', 'dec0.b0'] });
    expect(recomputeOption(true, '')).toBe(true);
    expect(() => recomputeOption(false, 'out')).toThrow(/goes with --recompute/);
  });

  it('lowers the peak memory of a gradient computation several-fold', async () => {
    const cfg = CONFIGS['paper: 1 pool, SE-residual, concat, batch norm'];
    const plain = await gradientsOf(cfg, {});
    const both = await gradientsOf(cfg, { recompute: true, early: true });
    expect(both.peakBytes).toBeLessThan(0.5 * plain.peakBytes);
  });

  it('the symbolic estimate lists each segment parameter once and predicts less memory', () => {
    const cfg = buildModel(CONFIGS['paper: 1 pool, SE-residual, concat, batch norm']);
    const s = summarizeModel(cfg.config, SHAPE);
    const inSegments = [...s.segmentParams.values()].flat();
    expect(new Set(inSegments).size).toBe(inSegments.length);
    for (const n of inSegments) expect(cfg.params.has(n)).toBe(true);
    expect(s.segmentParams.get('enc0.b0')).toContain('enc0.b0.conv1.w');
    expect(s.segmentParams.get('out')).toEqual(['out.conv1.w', 'out.conv1.b', 'out.conv2.w', 'out.conv2.b']);
    expect(s.trainingBytesRecompute).toBeLessThan(0.6 * s.trainingBytes);
    cfg.dispose();
  });
});

/** An identity op whose gradient records the bytes tfjs holds when the backward pass reaches it. */
function bytesProbe(): { op: (t: tf.Tensor) => tf.Tensor; bytes: () => number } {
  let bytes = -1;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: (args[0] as tf.Tensor).mul(1),
    gradFunc: (dy: tf.Tensor) => {
      bytes = tf.memory().numBytes;
      return dy.mul(1);
    },
  }));
  return { op: (t) => op(t) as tf.Tensor, bytes: () => bytes };
}

describe('training forward memory', () => {
  // Each activation the network has finished with is freed at once, as in eval mode: what stays to
  // the end of the forward is what the tape saved for gradients (and not for a shape only) and the
  // output. Before session 25 the forward's tidy held every activation to its end (the paper's
  // configuration here: 2.6 MB live where the tape saved 2.1 MB, Reshapes' and Sums' copies included).
  it.each(Object.entries(CONFIGS))('live tensors at the forward\'s end are what the tape saved, and the output (%s)', (_, cfg) => {
    const m = buildModel(cfg, { seed: 3 });
    const x = tf.randomUniform([1, ...SHAPE, 1], 0, 1, 'float32', 5);
    const base = tf.memory().numBytes;
    let live = -1;
    let saved = 0;
    const { value, grads } = tf.variableGrads(() => {
      const y = forward(m, x, { training: true });
      live = tf.memory().numBytes - base;
      const tape = (tf.engine() as unknown as { state: { activeTape: { saved?: tf.Tensor[] }[] } }).state.activeTape;
      for (const node of tape) for (const t of node.saved ?? []) if (!t.isDisposed) saved += 4 * t.size;
      saved += 4 * y.size;
      return tf.sum(y) as tf.Scalar;
    }, [...m.params.values()]);
    tf.dispose([value, ...Object.values(grads), x]);
    m.dispose();
    expect(saved).toBeGreaterThan(0);
    // the running statistics' small temporaries aside
    expect(live).toBeLessThanOrEqual(saved * 1.02 + 4096);
  });
});

describe('freeGradientsEarly', () => {
  it('leaves every gradient bit-identical, frees memory sooner and leaks nothing', async () => {
    const cfg = CONFIGS['paper: 1 pool, SE-residual, concat, batch norm'];
    const plain = await gradientsOf(cfg, {});
    const early = await gradientsOf(cfg, { early: true });
    expect(early.loss).toBe(plain.loss);
    for (const [k, g] of plain.grads) expect(early.grads.get(k)).toEqual(g);
    expect(early.peakBytes).toBeLessThan(0.8 * plain.peakBytes);
    expect(early.leaked).toBe(0);
  });

  it('frees a node\'s output gradient when its other input is off the gradient\'s path (a loss\'s weights)', () => {
    const n = 1000;
    const v = tf.variable(tf.randomNormal([n], 0, 1, 'float32', 7));
    const weights = tf.randomNormal([n], 0, 1, 'float32', 8);
    // bytes held when the gradient reaches v's own op, after mul's gradient is done
    const bytesAtFirstOp = (early: boolean): number => {
      const first = bytesProbe();
      const { value, grads } = tf.variableGrads(() => {
        // mul's dy is Sum's gradient, n floats; weights are a constant, so tfjs asks mul for one gradient only
        const loss = tf.sum(tf.mul(first.op(v), weights)) as tf.Scalar;
        if (early) freeGradientsEarly();
        return loss;
      }, [v]);
      tf.dispose([value, ...Object.values(grads)]);
      return first.bytes();
    };
    const plain = bytesAtFirstOp(false);
    const early = bytesAtFirstOp(true);
    expect(plain).toBeGreaterThan(0);
    // mul's dy and what mul saved are gone (without counting only the inputs asked for: one n-float tensor less)
    expect(early).toBeLessThanOrEqual(plain - 3 * 4 * n);
    tf.dispose([v, weights]);
  });

  it('frees a tensor\'s later gradients once tfjs has added them to the first (skip connections, a loss of two terms)', () => {
    const n = 1000;
    const v = tf.variable(tf.randomNormal([n], 0, 1, 'float32', 9));
    const ws = [10, 11, 12, 13].map((seed) => tf.randomNormal([n], 0, 1, 'float32', seed));
    const base = tf.memory().numBytes;
    // u used by `uses` products: tfjs sums u's gradients one by one and keeps all but the first to the end
    const run = (early: boolean, uses: number) => {
      const probe = bytesProbe();
      const { value, grads } = tf.variableGrads(() => {
        const u = probe.op(v);
        const loss = tf.addN(ws.slice(0, uses).map((w) => tf.sum(tf.mul(u, w)))) as tf.Scalar;
        if (early) freeGradientsEarly();
        return loss;
      }, [v]);
      const g = grads[v.name].dataSync().slice();
      tf.dispose([value, ...Object.values(grads)]);
      return { bytes: probe.bytes() - base, g };
    };
    for (const uses of [2, 4]) expect(run(true, uses).g).toEqual(run(false, uses).g);
    // bytes held at u's gradient per further use of u: two n-float tensors while tfjs kept the later
    // gradients (16,008 bytes from 2 uses to 4), one since they are freed after their sum
    const perTwoUses = run(true, 4).bytes - run(true, 2).bytes;
    expect(perTwoUses).toBeGreaterThan(0);
    expect(perTwoUses).toBeLessThan(3 * 4 * n);
    tf.dispose([v, ...ws]);
  });

  it('frees what Reshape, Sum, Slice and PadV2 saved (their gradients read only its shape) once the forward has run', () => {
    const n = 1200;
    const v = tf.variable(tf.randomNormal([n], 0, 1, 'float32', 14));
    const run = (early: boolean) => {
      // the loss's own gradient, the first of the backward pass: what the forward left held
      const last = bytesProbe();
      const { value, grads } = tf.variableGrads(() => {
        // dropped as a network releases what it no longer needs: only the tape's saved copies of
        // p's data (Reshape's), the slice's (PadV2's) and the padded (Sum's) still hold them
        const p = tf.mul(v, 3);
        const r = tf.reshape(p, [12, 100]);
        const s = tf.slice(r, [1, 0], [10, 100]);
        const padded = tf.pad(s, [[0, 2], [0, 0]]);
        const loss = last.op(tf.sum(padded)) as tf.Scalar;
        tf.dispose([p, r, s, padded]);
        if (early) freeGradientsEarly();
        return loss;
      }, [v]);
      const g = grads[v.name].dataSync().slice();
      tf.dispose([value, ...Object.values(grads)]);
      return { bytes: last.bytes(), g };
    };
    const plain = run(false);
    const early = run(true);
    expect(early.g).toEqual(plain.g);
    // 3 on the 1,000 sliced elements, 0 on the 200 cut off
    expect(Array.from(early.g.slice(0, 100))).toEqual(new Array(100).fill(0));
    expect(Array.from(early.g.slice(100, 1100))).toEqual(new Array(1000).fill(3));
    expect(Array.from(early.g.slice(1100))).toEqual(new Array(100).fill(0));
    // when the backward pass starts: p's 1,200 floats, the slice's 1,000 and the padded 1,200 gone
    // (tfjs counts a tensor's bytes once per handle, so the views of p count more)
    expect(early.bytes).toBeLessThanOrEqual(plain.bytes - 4 * (1200 + 1000 + 1200));
    v.dispose();
  });

  it('forgetSavedOutput frees the tape\'s copy of an output whose gradient does not read it', () => {
    const n = 1000;
    const v = tf.variable(tf.randomNormal([n], 0, 1, 'float32', 15));
    const run = (forget: boolean) => {
      // saves its output, as the fused conv does for a LeakyReLU's gradient, and never reads it
      const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
        const out = (args[0] as tf.Tensor).mul(2);
        (args[1] as tf.GradSaveFunc)([out]);
        return { value: out, gradFunc: (dy: tf.Tensor) => dy.mul(2) };
      });
      let held = -1;
      const { value, grads } = tf.variableGrads(() => {
        const before = tf.memory().numBytes;
        const y = op(v);
        if (forget) forgetSavedOutput(y);
        const loss = tf.sum(tf.square(y)) as tf.Scalar;
        y.dispose();
        held = tf.memory().numBytes - before;
        return loss;
      }, [v]);
      const g = grads[v.name].dataSync().slice();
      tf.dispose([value, ...Object.values(grads)]);
      return { held, g };
    };
    const plain = run(false);
    const forgot = run(true);
    expect(forgot.g).toEqual(plain.g);
    expect(forgot.held).toBe(plain.held - 4 * n);
    // not the last op recorded, or outside a gradient computation: nothing happens
    const y = tf.mul(v, 2);
    expect(() => forgetSavedOutput(y)).not.toThrow();
    tf.dispose([y, v]);
  });

  it('does nothing outside a gradient computation', () => {
    expect(() => freeGradientsEarly()).not.toThrow();
  });
});
