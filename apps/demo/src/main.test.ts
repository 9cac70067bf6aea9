import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'demo-main-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test('options that would fail a later step are refused before the first, and nothing is written', () => {
  const out = join(tmp, 'out');
  for (const [args, message] of [
    [['--workers', '0'], '--workers 0: give a whole number of processes, 1 or more'],
    [['--cases', '2.5'], '--cases 2.5: give a whole number of cases, 1 or more'],
    [['--seed', 'abc'], '--seed abc: give a whole number'],
    [['--replicates', '0'], '--replicates 0: give a whole number from 1 to 20'],
    [['--grids', 'fig3-poolng'], '--grids: no experiments/fig3-poolng.json (grids: fig3-pooling,'],
    [['--profile', 'quick'], 'Choices: "smoke", "full"'],
  ] as const) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'apps/demo/src/main.ts'), '--out', out, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(message);
  }
  expect(existsSync(out)).toBe(false);
});
