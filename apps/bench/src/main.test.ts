import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');

// A smoke run of `npm run bench` on tiny shapes: the JSON it prints has every figure, and the project's
// conv kernels beat stock tfjs-cpu in the same run. (Figures themselves are read from real runs, not here.)
test('bench --backend cpu prints GFLOP/s per op and model seconds beside stock tfjs-cpu', () => {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'apps/bench/src/main.ts'), '--backend', 'cpu', '--shape', '8,16,16', '--stock-shape', '8,8,8', '--reps', '1', '--no-peak', '--profile-top', '0'],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 180_000 },
  );
  const j = JSON.parse(out);
  expect(j.backendChoice.kernels).toEqual(expect.arrayContaining(['Conv3D', 'Conv3DBackpropInputV2', 'Conv3DBackpropFilterV2']));
  for (const pass of ['forward', 'backpropInput', 'backpropFilter']) {
    expect(j.opsNetworkWeighted[pass]).toBeGreaterThan(0);
    expect(j.stockComparison.speedup[pass]).toBeGreaterThan(2);
  }
  expect(j.model.forwardSeconds).toBeGreaterThan(0);
  expect(j.model.trainStepSeconds).toBeGreaterThan(0);
  expect(j.modelStockComparison.stockTfjsCpu.trainStepSeconds).toBeGreaterThan(0);
}, 200_000);

// `npm run bench:smoke` with one step each: the JSON names the cell and both step times, own kernels faster.
test('bench:smoke prints seconds per smoke training step, own kernels beside stock tfjs-cpu', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(root, 'apps/bench/src/smoke-step.ts'), '--reps', '1', '--stock-reps', '1'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 180_000,
  });
  const j = JSON.parse(out);
  expect(j).toMatchObject({ grid: 'fig3-pooling@smoke', row: 'pool1', crop: [32, 32, 32] });
  expect(j.ownSecondsPerStep).toBeGreaterThan(0);
  expect(j.stockTfjsCpuSecondsPerStep).toBeGreaterThan(j.ownSecondsPerStep * 2);
}, 200_000);
