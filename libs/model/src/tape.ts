/**
 * Gradient memory. tfjs-core's backward pass keeps every activation's gradient until the whole pass
 * ends (backpropagateGradients never frees the output gradients it has consumed), so a training step's
 * peak holds a gradient for every activation on top of the activations the tape saved. Wrapping the
 * tape's gradient functions frees each node's output gradients, and the activations it saved for its
 * gradient, once all of its input gradients exist (tfjs itself frees the saved ones at the very end).
 * This reaches into tfjs-core 4.22's engine (state.activeTape and its nodes); recompute.test.ts checks the
 * gradients are unchanged and the peak falls, so a tfjs upgrade that changes the tape fails loudly.
 */
import * as tf from '@tensorflow/tfjs';

interface TapeNode {
  inputs: Record<string, tf.Tensor>;
  /** What the forward kept for this node's gradient (tfjs frees these only when the pass ends). */
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

const wrapped = new WeakSet<object>();

/** The engine's active gradient tape (null outside a gradient computation). */
function activeTape(): TapeNode[] | null {
  return (tf.engine() as unknown as { state: { activeTape: TapeNode[] | null } }).state.activeTape;
}

/**
 * Call inside the function given to tf.variableGrads / tf.grads, after the forward pass: the nodes
 * recorded so far free their output gradients as soon as the backward pass has used them.
 */
export function freeGradientsEarly(): void {
  const tape = activeTape();
  if (!tape) return;
  for (const node of tape) {
    const inner = node.gradient;
    if (!inner || wrapped.has(node)) continue;
    wrapped.add(node);
    node.gradient = function (this: TapeNode | undefined, dys) {
      const fns = inner(dys);
      // tfjs calls this on its copy of the node that keeps only the inputs on the gradient's path
      // (not a loss's targets, say): only theirs are asked for, so only they are counted
      let pending = Object.keys((this ?? node).inputs).length;
      const out: Record<string, () => tf.Tensor> = {};
      for (const name of Object.keys(fns)) {
        out[name] = () => {
          let g = fns[name]();
          // Some gradients are dy itself; give the input its own handle (same data) before dy goes.
          if (dys.includes(g)) g = g.clone();
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
