/**
 * Child process of bounds_clamps.test.ts: runs one conv pass on one tiling of each kernel kind and
 * GEMM mode at a tiny size, and the output upsampling, so that Dawn (started with `dump_shaders`, set by the parent through
 * ANATOMYNET_DAWN_FLAGS) prints each shader's WGSL and SPIR-V. Prints NO_ADAPTER and exits when
 * there is no WebGPU adapter.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../backend';
import { convPassRunners } from '../conv_bench';
import { requestDawnAdapter } from '../dawn';
import { tilingValid } from '../conv3d_gemm';
import { candidatesFor, convTilingKey, forceTiling, gemmPlan, isGemm, tilingKind, type ConvTiling, type GemmPass } from '../gemm_plan';
import { deviceSharedBytes, type WebGPUBackendLike } from '../program';
import { UPSAMPLE_CONCAT } from '../../fused-conv';

if (!(await requestDawnAdapter())) {
  console.log('NO_ADAPTER');
  process.exit(0);
}
await selectBackend({ prefer: 'webgpu', log: () => undefined });
// the control: an index Tint cannot bound, which must come out clamped
{
  const device = (tf.backend() as unknown as WebGPUBackendLike).device;
  const code = `var<workgroup> control : array<f32, 64>;
    @group(0) @binding(0) var<storage, read_write> out : array<f32>;
    @compute @workgroup_size(64)
    fn main(@builtin(local_invocation_index) i : u32) { control[i] = 1.0; workgroupBarrier(); out[i] = control[u32(out[0])]; }`;
  device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
}
const shared = deviceSharedBytes(tf.backend() as unknown as WebGPUBackendLike);
const input: [number, number, number] = [4, 6, 5];
// every GEMM mode (tap4, tap, flat, step4, step), the packed B slab and prefetch, the direct and
// direct dW kernels, and Winograd's transforms (F(2), and F(4) a plane a thread: F(4) in one thread
// a tile compiles for minutes on lavapipe and indexes no array by anything but constants and loops;
// F(2)'s dx transforms are its forward's)
const convs: { cin: number; cout: number; stride: number; passes: GemmPass[]; winograd: boolean }[] = [
  { cin: 48, cout: 48, stride: 1, passes: ['forward', 'dx', 'dw'], winograd: true },
  { cin: 17, cout: 16, stride: 1, passes: ['forward', 'dw'], winograd: false },
  { cin: 1, cout: 32, stride: 2, passes: ['forward'], winograd: false },
];
for (const c of convs) {
  const { conv, runs, dispose } = convPassRunners({ input, cin: c.cin, cout: c.cout, stride: c.stride });
  for (const pass of c.passes) {
    const plan = gemmPlan(pass, conv);
    const seen = new Set<string>();
    const picks: ConvTiling[] = [];
    for (const t of candidatesFor(plan, shared)) {
      const w = t as { m?: number; planes?: boolean };
      if (tilingKind(t) === 'winograd' && (!c.winograd || (w.m === 4 && !w.planes) || (w.m === 2 && pass === 'dx'))) continue;
      const variant = `${tilingKind(t)}_${w.m ?? ''}_${w.planes ?? ''}`;
      if (seen.has(variant)) continue;
      seen.add(variant);
      picks.push(t);
      // the tuner's twins of its fastest GEMM tiling
      if (isGemm(t)) for (const twin of [{ ...t, bv: true }, { ...t, bv: true, pf: true }]) if (tilingValid(twin, plan.mode)) picks.push(twin);
    }
    for (const t of picks) {
      forceTiling(t);
      try {
        const y = runs[pass]();
        await y.data();
        y.dispose();
        console.log(`RAN ${pass} ${c.cin}->${c.cout} ${convTilingKey(t)}`);
      } finally {
        forceTiling(undefined);
      }
    }
  }
  dispose();
}
// the output block's upsampling (its workgroup tile of outputs), the reference network's channels
{
  const x = tf.ones([1, 2, 3, 2, 32]), w = tf.ones([32, 8 * 16]), b = tf.ones([16]), append = tf.ones([1, 4, 6, 4, 1]);
  const y = tf.engine().runKernel(UPSAMPLE_CONCAT, { x, w, b, append }, {}) as tf.Tensor;
  await y.data();
  tf.dispose([x, w, b, append, y]);
  console.log('RAN upsample_concat 32->16+1');
}
process.exit(0);
