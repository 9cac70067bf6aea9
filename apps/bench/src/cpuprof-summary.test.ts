import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';

const script = join(import.meta.dirname, 'cpuprof-summary.mjs');
const frame = (functionName: string, url = '', lineNumber = -1) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: '0' });

test('self time per function over two profiles, with the idle share', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cpuprof-'));
  const profile = (samples: number[], timeDeltas: number[]) => ({
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 3, 4] },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('submit', 'file:///x/bench.mjs', 9) },
      { id: 4, callFrame: frame('runKernel', 'file:///x/bench.mjs', 99) },
    ],
    startTime: 0,
    endTime: 10_000,
    samples,
    timeDeltas,
  });
  // sample i lasts until the next: timeDeltas[i + 1] microseconds (the last sample has no end)
  writeFileSync(join(dir, 'a.cpuprofile'), JSON.stringify(profile([3, 3, 4, 2], [0, 1000, 1000, 2000])));
  writeFileSync(join(dir, 'b.cpuprofile'), JSON.stringify(profile([2, 4, 3], [0, 4000, 1000])));
  const r = spawnSync(process.execPath, [script, join(dir, 'a.cpuprofile'), join(dir, 'b.cpuprofile'), '--top', '2'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const lines = r.stdout.trim().split('\n');
  // a: submit 2 ms, runKernel 2 ms; b: idle 4 ms, runKernel 1 ms -> 9 ms in all
  expect(lines[0]).toBe('profiled 0.01 s over 2 profile(s): idle 44.4%, garbage collector 0.0%, program 0.0%');
  expect(lines.slice(1).map((l) => l.trim().split(/\s+/))).toEqual([
    ['4.0', 'ms', '44.4%', '(idle)'],
    ['3.0', 'ms', '33.3%', 'runKernel', 'bench.mjs:100'],
  ]);
});

test('usage without profiles', () => {
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stdout).toMatch(/usage/);
});
