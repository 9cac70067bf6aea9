/**
 * One optimizer step of one variable in one pass: tfjs's RMSprop (not centred) and momentum (not
 * Nesterov) updates, op for op in float32. Every intermediate is rounded where tfjs-cpu's separate
 * kernels round it (each stores a Float32Array), so the result equals the stock optimizers' bit for
 * bit, where tfjs runs about 11 kernels (RMSprop) or 4 (momentum) and uploads a scalar per constant.
 */

export interface RmspropHyper {
  lr: number;
  decay: number;
  momentum: number;
  epsilon: number;
}

export interface RmspropState {
  value: Float32Array;
  meanSquare: Float32Array;
  moment: Float32Array;
}

const f = Math.fround;

/**
 * ms' = ms decay + g^2 (1 - decay); mom' = mom momentum + g lr / sqrt(ms' + eps); value' = value - mom'.
 * Returns new arrays (the inputs are tensor data and stay untouched).
 */
export function rmspropUpdate(s: RmspropState, grad: Float32Array, h: RmspropHyper): RmspropState {
  const n = grad.length;
  const decay = f(h.decay), keep = f(1 - h.decay), lr = f(h.lr), momentum = f(h.momentum), eps = f(h.epsilon);
  const value = new Float32Array(n), meanSquare = new Float32Array(n), moment = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const g = grad[i];
    const ms = f(f(s.meanSquare[i] * decay) + f(f(g * g) * keep));
    const mom = f(f(s.moment[i] * momentum) + f(f(g * lr) / f(Math.sqrt(f(ms + eps)))));
    meanSquare[i] = ms;
    moment[i] = mom;
    value[i] = s.value[i] - mom;
  }
  return { value, meanSquare, moment };
}

/** acc' = momentum acc + g; value' = -lr acc' + value (tfjs's operand order). */
export function momentumUpdate(value: Float32Array, accumulation: Float32Array, grad: Float32Array, h: { lr: number; momentum: number }) {
  const n = grad.length;
  const m = f(h.momentum), c = f(-h.lr);
  const v = new Float32Array(n), acc = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = f(f(m * accumulation[i]) + grad[i]);
    acc[i] = a;
    v[i] = f(c * a) + value[i];
  }
  return { value: v, accumulation: acc };
}
