/**
 * Names and contracts of the fused optimizer-update kernels, shared by the cpu and webgpu
 * implementations and by the optimizers that call them (optimizers.ts):
 * - `AnatomyNetRmspropUpdate` {value, meanSquare, moment, grad} (one shape), attrs {lr, decay,
 *   momentum, epsilon} -> [value', meanSquare', moment'];
 * - `AnatomyNetMomentumUpdate` {value, accumulation, grad}, attrs {lr, momentum} -> [value', accumulation'].
 * The formulas are tfjs's RMSprop (not centred) and momentum (not Nesterov); cpu/optimizer-updates.ts.
 *
 * The in-place forms update many variables with one kernel call and write the new values into the
 * tensors given, returning nothing: `AnatomyNetRmspropUpdateInPlace` {value0, meanSquare0, moment0,
 * grad0, value1, ...} and `AnatomyNetMomentumUpdateInPlace` {value0, accumulation0, grad0, ...},
 * the same attrs plus `count` (how many variables). The caller guarantees that no other tensor
 * shares the data of a written tensor ({@link exclusiveData}) and that no gradient is one of them.
 */
import * as tf from '@tensorflow/tfjs';

export const RMSPROP_UPDATE = 'AnatomyNetRmspropUpdate';
export const MOMENTUM_UPDATE = 'AnatomyNetMomentumUpdate';
export const RMSPROP_UPDATE_IN_PLACE = 'AnatomyNetRmspropUpdateInPlace';
export const MOMENTUM_UPDATE_IN_PLACE = 'AnatomyNetMomentumUpdateInPlace';

/** True when `t` alone holds its data on the active backend, so writing it in place changes no other tensor. */
export function exclusiveData(t: tf.Tensor): boolean {
  return tf.backend().refCount(t.dataId) === 1;
}
