/**
 * Tint's robustness transform clamps every index into a fixed-size array (workgroup memory,
 * function-scope arrays) that its integer range analysis cannot bound: an extra instruction, and an
 * address the GPU compiler cannot fold, per read. The conv kernels derive their indices from the
 * thread index bounded by `threadIndex` and from loops over constants, so their inner loops read
 * workgroup memory unclamped. This test compiles each kernel kind in a child process with Dawn's
 * `dump_shaders` and counts the clamps in the SPIR-V it prints.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

interface DumpedShader {
  wgsl: string;
  /** Arrays a robustness clamp indexes, one entry per clamp. */
  clamped: string[];
}

/**
 * The shaders of a Dawn `dump_shaders` log: each "Dumped WGSL" with the SPIR-V after it. A
 * robustness clamp is a UMin/SMin against a constant whose result indexes an array (an access
 * chain) or a vector component; a min of the shader's own (threadIndex's) feeds arithmetic.
 */
export function parseShaderDump(log: string): DumpedShader[] {
  return log.split('// Dumped WGSL:').slice(1).map((block) => {
    const [wgsl, spirv = ''] = block.split('/* Dumped SPIRV disassembly */');
    const clamped: string[] = [];
    for (const m of spirv.matchAll(/%(\w+) = OpExtInst %\w+ %\w+ [US]Min %\w+ %u?int_\d+/g)) {
      const id = m[1];
      const use = new RegExp(`OpAccessChain %\\w+ %(\\w+)(?: %\\w+)* %${id}\\b|(OpVector(?:Extract|Insert)Dynamic) %\\w+(?: %\\w+)* %${id}\\b`).exec(spirv);
      if (use) clamped.push(use[1] ?? 'vector component');
    }
    return { wgsl, clamped };
  });
}

const here = dirname(fileURLToPath(import.meta.url));

function dumpKernels(): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ANATOMYNET_DAWN_FLAGS: 'enable-dawn-features=dump_shaders,disable_symbol_renaming' };
    const p = spawn(process.execPath, ['--import', 'tsx', join(here, 'testing', 'shader-dump-worker.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`shader-dump-worker exited ${code}:\n${out.slice(-2000)}`))));
  });
}

describe('robustness clamps in the conv kernels (Dawn dump_shaders)', () => {
  it('parses clamps from a dump: array indices and a vector component, not a min of the shader\'s own', () => {
    const log = `// Dumped WGSL:\nvar<workgroup> As : array<vec4<f32>, 8>;\n/* Dumped SPIRV disassembly */
      %t = OpExtInst %uint %1 UMin %x %uint_127
      %u = OpBitcast %int %t
      %5 = OpExtInst %uint %1 UMin %4 %uint_7
      %6 = OpAccessChain %_ptr_Workgroup_v4float %As %5
      %8 = OpExtInst %uint %1 UMin %7 %uint_3
      %9 = OpAccessChain %_ptr_Workgroup_float %As %u %8
      %11 = OpExtInst %uint %1 UMin %10 %uint_3
      %12 = OpVectorInsertDynamic %v4float %v %f %11
      %kEnd = OpExtInst %int %1 SMin %a %b\n`;
    expect(parseShaderDump(log)).toEqual([{ wgsl: expect.stringContaining('As'), clamped: ['As', 'As', 'vector component'] }]);
  });

  it('leaves the GEMM, direct and Winograd plane kernels\' inner loops and the upsampling unclamped', async () => {
    const log = await dumpKernels();
    if (log.includes('NO_ADAPTER')) {
      console.warn('bounds clamps test SKIPPED: no WebGPU adapter (install mesa-vulkan-drivers >= 25 from bookworm-backports)');
      return;
    }
    const shaders = parseShaderDump(log);
    const ran = log.split('\n').filter((l) => l.startsWith('RAN '));
    expect(ran.length).toBeGreaterThanOrEqual(20);
    const has = (s: DumpedShader, ...names: string[]) => names.every((n) => s.wgsl.includes(n));
    // the control's index is a value read from memory: clamped, so dumps and the parser still work
    const control = shaders.filter((s) => has(s, 'var<workgroup> control'));
    expect(control.map((s) => s.clamped)).toEqual([['control']]);
    const kinds = {
      gemm: shaders.filter((s) => has(s, 'var<workgroup> As', 'var<workgroup> Bs')),
      direct: shaders.filter((s) => has(s, 'var<workgroup> Xs', 'var<workgroup> Ws')),
      directDw: shaders.filter((s) => has(s, 'var<workgroup> Xs', 'var<workgroup> Ds')),
      winogradPlanes: shaders.filter((s) => has(s, 'var rows = array')),
      upsample: shaders.filter((s) => has(s, 'var<workgroup> tile')),
    };
    // tap4, tap, flat, step4, step and the Winograd GEMMs, each plain, packed and prefetching
    expect(kinds.gemm.length).toBeGreaterThanOrEqual(15);
    expect(kinds.direct.length).toBeGreaterThanOrEqual(1);
    expect(kinds.directDw.length).toBeGreaterThanOrEqual(2);
    expect(kinds.winogradPlanes.length).toBeGreaterThanOrEqual(3);
    expect(kinds.upsample.length).toBe(1);
    for (const s of [...kinds.gemm, ...kinds.winogradPlanes, ...kinds.upsample]) expect(s.clamped).toEqual([]);
    // only the staging loops, which start at the thread index and stride by the workgroup
    for (const s of kinds.direct) expect(s.clamped.sort()).toEqual(['Ws', 'Xs']);
    for (const s of kinds.directDw) expect(s.clamped.sort()).toEqual(['Ds', 'Xs']);
  }, 600_000);
});
