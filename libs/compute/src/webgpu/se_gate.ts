/**
 * `AnatomyNetSEGate` (../fused-conv.ts) on webgpu: the squeeze-and-excitation gate of one case per
 * workgroup, sigmoid(leakyRelu((sums / voxels) w1 + b1) w2 + b2). Composed, that is seven dispatches
 * on [N, C] tensors of a few dozen values, each costing more CPU time to record than GPU time to run.
 * Its backward `AnatomyNetSEGateGrad` likewise: one dispatch (five where the device binds fewer than
 * 11 storage buffers) for the composed backward's sixteen.
 */
import * as tf from '@tensorflow/tfjs';
import { SE_GATE, SE_GATE_GRAD } from '../fused-conv';
import { type ProgramUniform, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';
import { rawOutput, rawPipeline, RawProgram, rawShader, runRaw, type RawBackend } from './raw_program';

const THREADS = 64;

/** What the gate's tfjs programs share: `workgroups` workgroups of {@link THREADS}, the gate's uniforms. */
abstract class GateProgram implements WebGPUProgram {
  // a y axis makes tfjs emit `fn main()` with workgroup ids (not the flat main(index))
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  uniforms = 'voxels : f32, alpha : f32,';
  constructor(readonly variableNames: string[], readonly outputShape: number[], public shaderKey: string, workgroups: number) {
    this.dispatch = [workgroups, 1, 1];
  }
  abstract getUserCode(): string;
}

class SeGateProgram extends GateProgram {
  constructor(cases: number, private channels: number, private hidden: number) {
    super(['sums', 'w1', 'b1', 'w2', 'b2'], [cases, channels], `anatomynet_se_gate_${channels}_${hidden}`, cases);
  }

  getUserCode(): string {
    const c = this.channels, r = this.hidden;
    return `${caseForwardWgsl(c, r)}
      fn main() {
        let n = i32(workgroupId.x);
        let t = i32(localId.x);
        caseForward(n, t);
        for (var k = t; k < ${c}; k = k + ${THREADS}) { result[n * ${c} + k] = gate[k]; }
      }`;
  }
}

/**
 * WGSL: workgroup arrays and `caseForward(n, t)`, case n's gate in `gate` (with the means `z`, the
 * hidden layer `hid` and its LeakyReLU slope `slope` on the way). Each sum in the composed ops'
 * order: the products over the input axis, then the bias.
 */
function caseForwardWgsl(c: number, r: number): string {
  return `
      var<workgroup> z : array<f32, ${c}>;
      var<workgroup> hid : array<f32, ${r}>;
      var<workgroup> slope : array<f32, ${r}>;
      var<workgroup> gate : array<f32, ${c}>;
      fn caseForward(n : i32, t : i32) {
        for (var i = t; i < ${c}; i = i + ${THREADS}) { z[i] = sums[n * ${c} + i] / uniforms.voxels; }
        workgroupBarrier();
        for (var j = t; j < ${r}; j = j + ${THREADS}) {
          var a = 0.0;
          for (var i = 0; i < ${c}; i = i + 1) { a = a + z[i] * w1[i * ${r} + j]; }
          a = a + b1[j];
          hid[j] = select(a, uniforms.alpha * a, a < 0.0);
          slope[j] = select(uniforms.alpha, 1.0, a > 0.0);
        }
        workgroupBarrier();
        for (var k = t; k < ${c}; k = k + ${THREADS}) {
          var a = 0.0;
          for (var j = 0; j < ${r}; j = j + 1) { a = a + hid[j] * w2[j * ${c} + k]; }
          gate[k] = 1.0 / (1.0 + exp(-(a + b2[k])));
        }
        workgroupBarrier();
      }`;
}

/** The gate's five gradients, in {@link SE_GATE_GRAD}'s output order. */
const GATE_GRADS = ['dsums', 'dw1', 'db1', 'dw2', 'db2'] as const;
type GateGrad = (typeof GATE_GRADS)[number];

const gradShapes = (n: number, c: number, r: number): Record<GateGrad, number[]> =>
  ({ dsums: [n, c], dw1: [c, r], db1: [r], dw2: [r, c], db2: [c] });

/**
 * WGSL: the workgroup arrays and `caseBackward(n, t)`, which runs case n's forward again and its
 * backward to the hidden layer: dpre2 = dgate s (1 - s), dpre1 = (w2 dpre2) leakyRelu'(pre1). A few
 * hundred multiply-adds per case, in workgroup memory.
 */
function caseBackwardWgsl(c: number, r: number): string {
  return `${caseForwardWgsl(c, r)}
      var<workgroup> dpre2 : array<f32, ${c}>;
      var<workgroup> dpre1 : array<f32, ${r}>;
      fn caseBackward(n : i32, t : i32) {
        caseForward(n, t);
        for (var k = t; k < ${c}; k = k + ${THREADS}) { dpre2[k] = dgate[n * ${c} + k] * (gate[k] * (1.0 - gate[k])); }
        workgroupBarrier();
        for (var j = t; j < ${r}; j = j + ${THREADS}) {
          var a = 0.0;
          for (var k = 0; k < ${c}; k = k + 1) { a = a + w2[j * ${c} + k] * dpre2[k]; }
          dpre1[j] = a * slope[j];
        }
        workgroupBarrier();
      }`;
}

/** WGSL writing case n's dsums row into `out` (after caseBackward). */
const dsumsWgsl = (c: number, r: number, out: string) => `
        for (var i = t; i < ${c}; i = i + ${THREADS}) {
          var a = 0.0;
          for (var j = 0; j < ${r}; j = j + 1) { a = a + w1[i * ${r} + j] * dpre1[j]; }
          ${out}[n * ${c} + i] = a / uniforms.voxels;
        }`;

/** WGSL adding case n's term to a weight's gradient in `out`, each thread owning its elements (after caseBackward). */
function weightGradWgsl(wrt: Exclude<GateGrad, 'dsums'>, c: number, r: number, out: string): string {
  const term = {
    dw1: { size: c * r, value: `z[e / ${r}] * dpre1[e % ${r}]` },
    db1: { size: r, value: 'dpre1[e]' },
    dw2: { size: r * c, value: `hid[e / ${c}] * dpre2[e % ${c}]` },
    db2: { size: c, value: 'dpre2[e]' },
  }[wrt];
  return `
        for (var e = t; e < ${term.size}; e = e + ${THREADS}) {
          ${out}[e] = select(${out}[e], 0.0, n == 0) + ${term.value};
        }`;
}

/**
 * One of the gate's five gradients as a tfjs program, where the device has too few storage buffers
 * for {@link seGateGradOneDispatch}: five dispatches against the composed backward's sixteen. dsums
 * has a workgroup per case; the weights' gradients one workgroup that adds the cases.
 */
class SeGateGradProgram extends GateProgram {
  constructor(private cases: number, private channels: number, private hidden: number, private wrt: GateGrad) {
    super(['dgate', 'sums', 'w1', 'b1', 'w2', 'b2'], gradShapes(cases, channels, hidden)[wrt],
      `anatomynet_se_gate_grad_${wrt}_${wrt === 'dsums' ? 0 : cases}_${channels}_${hidden}`, wrt === 'dsums' ? cases : 1);
  }

  getUserCode(): string {
    const c = this.channels, r = this.hidden;
    const body = this.wrt === 'dsums'
      ? `let n = i32(workgroupId.x); caseBackward(n, t); ${dsumsWgsl(c, r, 'result')}`
      : `for (var n = 0; n < ${this.cases}; n = n + 1) {
          caseBackward(n, t);
          ${weightGradWgsl(this.wrt, c, r, 'result')}
          workgroupBarrier();
        }`;
    return `${caseBackwardWgsl(c, r)}
      fn main() {
        let t = i32(localId.x);
        ${body}
      }`;
  }
}

/** The five gradients in one workgroup of one dispatch (11 storage buffers), the cases in turn. */
class SeGateGradAllProgram extends RawProgram {}

/** Storage buffers {@link seGateGradOneDispatch} binds: five gradients and six operands. */
export const SE_GATE_GRAD_BUFFERS = 11;

type GateInputs = Record<'dgate' | 'sums' | 'w1' | 'b1' | 'w2' | 'b2', TensorInfo>;

/** The gate's gradients as five tfjs programs. */
export function seGateGradPerOutput(backend: WebGPUBackendLike, inputs: GateInputs, n: number, c: number, r: number, uniforms: ProgramUniform[]): TensorInfo[] {
  const { dgate, sums, w1, b1, w2, b2 } = inputs;
  return GATE_GRADS.map((wrt) => backend.runWebGPUProgram(new SeGateGradProgram(n, c, r, wrt), [dgate, sums, w1, b1, w2, b2], 'float32', uniforms));
}

/** The gate's gradients in one dispatch of a shader of our own (raw_program.ts). */
export function seGateGradOneDispatch(backend: RawBackend, inputs: GateInputs, n: number, c: number, r: number, uniforms: ProgramUniform[]): TensorInfo[] {
  const shapes = gradShapes(n, c, r);
  const outputs = GATE_GRADS.map((g) => rawOutput(backend, shapes[g]));
  const operands = ['dgate', 'sums', 'w1', 'b1', 'w2', 'b2'] as const;
  const pipeline = rawPipeline(backend.device, `anatomynet_se_gate_grad_all_${n}_${c}_${r}`, () => rawShader(
    [...GATE_GRADS.map((name) => ({ name, written: true })), ...operands.map((name) => ({ name, written: false }))],
    'voxels : f32, alpha : f32,', THREADS, `
      let t = i32(lid);
      for (var n = 0; n < ${n}; n = n + 1) {
        caseBackward(n, t);
        ${dsumsWgsl(c, r, 'dsums')}
        ${(['dw1', 'db1', 'dw2', 'db2'] as const).map((g) => weightGradWgsl(g, c, r, g)).join('')}
        workgroupBarrier();
      }`, caseBackwardWgsl(c, r)));
  runRaw(backend, new SeGateGradAllProgram(pipeline, [1, 1, 1], shapes.dsums), [...outputs, ...operands.map((k) => inputs[k])], uniforms);
  return outputs;
}

/** Refuses operands that are not float32 sums [N, C], w1 [C, R], b1 [R], w2 [R, C], b2 [C]. */
function gateOperands(kernel: string, inputs: Record<'sums' | 'w1' | 'b1' | 'w2' | 'b2', TensorInfo>): [number, number, number] {
  const { sums, w1, b1, w2, b2 } = inputs;
  const [n, c] = sums.shape;
  const r = b1.shape[0];
  const fits = sums.shape.length === 2 && w1.shape.join() === `${c},${r}` && w2.shape.join() === `${r},${c}` && b2.shape.join() === `${c}`;
  if (!fits || [sums, w1, b1, w2, b2].some((t) => t.dtype !== 'float32')) {
    throw new RangeError(`${kernel}: float32 sums [N, C], w1 [C, R], b1 [R], w2 [R, C], b2 [C] expected, got [${sums.shape}], [${w1.shape}], [${b1.shape}], [${w2.shape}], [${b2.shape}]`);
  }
  return [n, c, r];
}

const gateUniforms = (attrs: unknown): ProgramUniform[] => {
  const { voxels, alpha } = attrs as { voxels: number; alpha: number };
  return [{ type: 'float32', data: [voxels] }, { type: 'float32', data: [alpha] }];
};

export function seGateGradConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const inputs = args.inputs as GateInputs;
    const [n, c, r] = gateOperands(SE_GATE_GRAD, inputs);
    const { dgate, sums } = inputs;
    if (dgate.dtype !== 'float32' || dgate.shape.join() !== sums.shape.join()) {
      throw new RangeError(`${SE_GATE_GRAD}: dgate ${dgate.dtype} [${dgate.shape}] must be float32 like sums [${sums.shape}]`);
    }
    const uniforms = gateUniforms(args.attrs);
    return backend.device.limits.maxStorageBuffersPerShaderStage >= SE_GATE_GRAD_BUFFERS
      ? seGateGradOneDispatch(backend as RawBackend, inputs, n, c, r, uniforms)
      : seGateGradPerOutput(backend, inputs, n, c, r, uniforms);
  };
  return { kernelName: SE_GATE_GRAD, backendName: 'webgpu', kernelFunc };
}

export function seGateConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const inputs = args.inputs as Record<'sums' | 'w1' | 'b1' | 'w2' | 'b2', TensorInfo>;
    const [n, c, r] = gateOperands(SE_GATE, inputs);
    const { sums, w1, b1, w2, b2 } = inputs;
    return backend.runWebGPUProgram(new SeGateProgram(n, c, r), [sums, w1, b1, w2, b2], 'float32', gateUniforms(args.attrs));
  };
  return { kernelName: SE_GATE, backendName: 'webgpu', kernelFunc };
}
