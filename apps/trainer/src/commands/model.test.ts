import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInputShape } from './model';

const root = join(__dirname, '..', '..', '..', '..');
const trainer = (...args: string[]): { out: string; code: number } => {
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'apps/trainer/src/main.ts', ...args], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
    return { out, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; status: number };
    return { out: `${err.stdout}${err.stderr}`, code: err.status };
  }
};

describe('parseInputShape', () => {
  it('reads D,H,W and refuses anything else', () => {
    expect(parseInputShape('9, 13,11')).toEqual([9, 13, 11]);
    expect(() => parseInputShape('9,13')).toThrow(/D,H,W/);
    expect(() => parseInputShape('9,0,4')).toThrow(/positive integers/);
  });
});

describe('trainer model', () => {
  it('prints layers, shapes, the 871,748 parameters and memory for the default config', () => {
    const { out, code } = trainer('model', '--input', '9,13,11');
    expect(code).toBe(0);
    expect(out).toMatch(/enc0\.down\s+conv3\/2 lrelu\s+\[1,5,7,6,32\]\s+896/);
    expect(out).toMatch(/out\.softmax\s+softmax\s+\[1,9,13,11,10\]/);
    expect(out).toContain('parameters: 871,748 trainable, 1,184 buffers');
    expect(out).toMatch(/activations, training step \(saved for backward\): [\d.]+ MiB/);
  });

  it('names the file and field of an invalid config, exit code 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trainer-model-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ merge: 'max' }));
    const { out, code } = trainer('model', '--config', file);
    expect(code).toBe(1);
    expect(out).toContain(`error: ${file}: model config field "merge" = "max"`);
  });
});
