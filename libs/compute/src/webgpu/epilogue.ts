/**
 * The fused conv's epilogue (../fused-conv.ts) as WGSL, shared by the GEMM and direct conv programs:
 * each output value passes through `epilogue(v, channel)` before it is written, so bias, the eval-mode
 * BatchNorm and LeakyReLU cost no pass of their own.
 */
import type { ProgramUniform, TensorInfo } from './program';

export interface ConvEpilogue {
  bias: TensorInfo;
  /** Running mean, running variance, gamma, beta, [C] each. */
  norm?: TensorInfo[];
  eps: number;
  /** LeakyReLU slope; null: no activation. */
  alpha: number | null;
}

export const epilogueKey = (e: ConvEpilogue | undefined): string =>
  (e ? `_epi${e.norm ? 'n' : ''}${e.alpha !== null ? 'a' : ''}` : '');

// With the norm a conv program binds 8 storage buffers (result, x, filter, bias and these four):
// WebGPU's default maxStorageBuffersPerShaderStage, which is what tfjs-webgpu's device gets. One
// more input would need the norm stacked again, or a higher limit requested.
const NORM_VARIABLES = ['normMean', 'normVar', 'normGamma', 'normBeta'];

export const epilogueVariables = (e: ConvEpilogue | undefined): string[] => (e ? ['bias', ...(e.norm ? NORM_VARIABLES : [])] : []);

export const epilogueInputs = (e: ConvEpilogue | undefined): TensorInfo[] => (e ? [e.bias, ...(e.norm ?? [])] : []);

/** The uniform fields the epilogue adds to a program's `uniforms` (none without an epilogue). */
export const epilogueUniformFields = (e: ConvEpilogue | undefined): string => (e ? ' epiEps : f32, epiAlpha : f32,' : '');

export const epilogueUniforms = (e: ConvEpilogue | undefined): ProgramUniform[] =>
  (e ? [{ type: 'float32', data: [e.eps] }, { type: 'float32', data: [e.alpha ?? 1] }] : []);

/** `fn epilogue(v, c)`, c the output channel. */
export function epilogueWgsl(e: ConvEpilogue): string {
  const norm = e.norm ? `
    let s = normGamma[c] * inverseSqrt(normVar[c] + uniforms.epiEps);
    y = y * s + (normBeta[c] - normMean[c] * s);` : '';
  const act = e.alpha !== null ? `
    if (y < 0.0) { y = y * uniforms.epiAlpha; }` : '';
  return `
  fn epilogue(v : f32, c : i32) -> f32 {
    var y = v + bias[c];${norm}${act}
    return y;
  }`;
}
