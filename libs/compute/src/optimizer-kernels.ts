/**
 * Names and contracts of the fused optimizer-update kernels, shared by the cpu and webgpu
 * implementations and by the optimizers that call them (optimizers.ts):
 * - `AnatomyNetRmspropUpdate` {value, meanSquare, moment, grad} (one shape), attrs {lr, decay,
 *   momentum, epsilon} -> [value', meanSquare', moment'];
 * - `AnatomyNetMomentumUpdate` {value, accumulation, grad}, attrs {lr, momentum} -> [value', accumulation'].
 * The formulas are tfjs's RMSprop (not centred) and momentum (not Nesterov); cpu/optimizer-updates.ts.
 */
export const RMSPROP_UPDATE = 'AnatomyNetRmspropUpdate';
export const MOMENTUM_UPDATE = 'AnatomyNetMomentumUpdate';
