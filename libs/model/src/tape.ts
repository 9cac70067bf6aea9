/**
 * Gradient memory. tfjs-core's backward pass keeps every activation's gradient until the whole pass
 * ends (backpropagateGradients never frees the output gradients it has consumed), so a training step's
 * peak holds a gradient for every activation on top of the activations the tape saved. Wrapping the
 * tape's gradient functions frees each node's output gradients, and the activations it saved for its
 * gradient, once all of its input gradients exist (tfjs itself frees the saved ones at the very end).
 * Where a tensor gets a second gradient (a residual skip, a loss of two terms), tfjs adds it to the
 * first and frees the first but not it: the wrapper frees it at the next gradient function's call,
 * after that sum (at 178x302x225 the Dice + focal loss's second 484 MB sat there to the pass's end).
 * This reaches into tfjs-core 4.22's engine (state.activeTape and its nodes); recompute.test.ts checks the
 * gradients are unchanged and the peak falls, so a tfjs upgrade that changes the tape fails loudly.
 */
import * as tf from '@tensorflow/tfjs';

interface TapeNode {
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs?: tf.Tensor[];
  /** What the forward kept for this node's gradient (tfjs frees these only when the pass ends). */
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

const wrapped = new WeakSet<object>();

/**
 * Kernels whose gradient reads only the shapes of the tensors the forward saved for it (tfjs's
 * Reshape, Slice and PadV2; Sum and Mean, tfjs's or @anatomynet/compute's broadcast). tfjs keeps
 * the tensors themselves: a Reshape after the SE's product kept that 1.8 GB of a 178x302x225 step
 * to its backward pass, which nothing else needed.
 */
const SHAPE_ONLY_SAVED = new Set(['Reshape', 'Slice', 'PadV2', 'Sum', 'Mean']);

/** How far {@link freeShapeOnlySaved} has gone through each tape. */
const scanned = new WeakMap<TapeNode[], number>();

/**
 * Frees what the {@link SHAPE_ONLY_SAVED} nodes recorded since the last call saved (their shapes stay
 * readable). A network calls it as it drops tensors, so that such a copy does not outlive the
 * tensor; {@link freeGradientsEarly} calls it for the rest. No-op outside a gradient computation.
 */
export function freeShapeOnlySaved(): void {
  const tape = activeTape();
  if (!tape) return;
  for (let i = scanned.get(tape) ?? 0; i < tape.length; i++) {
    if (SHAPE_ONLY_SAVED.has(tape[i].kernelName)) for (const t of tape[i].saved ?? []) t.dispose();
  }
  scanned.set(tape, tape.length);
}

/**
 * Frees what the tape saved of `y` for the gradient of the kernel that just made it, where the
 * caller knows that gradient does not read it (the fused conv saves its output for a LeakyReLU's
 * gradient, also when it has none). No-op outside a gradient computation.
 */
export function forgetSavedOutput(y: tf.Tensor): void {
  const tape = activeTape();
  if (!tape) return;
  // the node is the last one recorded (the tape is off inside a recomputed segment's forward)
  const node = tape[tape.length - 1];
  if (!node?.outputs?.includes(y)) return;
  for (const t of node.saved ?? []) if (t.dataId === y.dataId) t.dispose();
}

/**
 * The engine's active gradient tape; null outside a gradient computation (tfjs leaves the last
 * tape in place after one ends).
 */
function activeTape(): TapeNode[] | null {
  const state = (tf.engine() as unknown as { state: { activeTape: TapeNode[] | null; gradientDepth: number } }).state;
  return state.gradientDepth > 0 ? state.activeTape : null;
}

/**
 * Call inside the function given to tf.variableGrads / tf.grads, after the forward pass: the nodes
 * recorded so far free their output gradients as soon as the backward pass has used them.
 */
export function freeGradientsEarly(): void {
  const tape = activeTape();
  if (!tape) return;
  freeShapeOnlySaved();
  // ids of the tensors given a gradient so far in this pass, and the later gradients tfjs has summed
  // into the first by the time the next gradient function runs
  const received = new Set<number>();
  let summed: tf.Tensor[] = [];
  const freeSummed = () => {
    for (const t of summed) t.dispose();
    summed = [];
  };
  for (const node of tape) {
    const inner = node.gradient;
    if (!inner || wrapped.has(node)) continue;
    wrapped.add(node);
    node.gradient = function (this: TapeNode | undefined, dys) {
      freeSummed();
      const fns = inner(dys);
      // tfjs calls this on its copy of the node that keeps only the inputs on the gradient's path
      // (not a loss's targets, say): only theirs are asked for, so only they are counted
      const inputs = (this ?? node).inputs;
      let pending = Object.keys(inputs).length;
      const given: tf.Tensor[] = [];
      const out: Record<string, () => tf.Tensor> = {};
      for (const name of Object.keys(fns)) {
        out[name] = () => {
          freeSummed();
          let g = fns[name]();
          // Some gradients are dy itself, a saved tensor, or one tensor for two inputs; give each
          // input its own handle (same data) before dy goes or the other's is summed and freed.
          if (dys.includes(g) || given.includes(g) || node.saved?.includes(g)) g = g.clone();
          given.push(g);
          const x = inputs[name];
          if (x) {
            if (received.has(x.id)) summed.push(g);
            else received.add(x.id);
          }
          if (--pending === 0) {
            for (const dy of dys) dy?.dispose();
            for (const t of node.saved ?? []) t.dispose();
          }
          return g;
        };
      }
      return out;
    };
  }
}
