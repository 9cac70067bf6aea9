import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateModelConfig } from './config';
import { CONFIG_FILE, DIGEST_FILE, loadModel, ModelFileError, saveModel, WEIGHTS_FILE } from './io';
import { buildModel, forward } from './model';

const root = mkdtempSync(join(tmpdir(), 'model-io-'));
const cfg = validateModelConfig({ filters: [4, 6], pools: 2, outputUpFilters: 4, outputFilters: 4, seRatio: 2 });

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function savedCopy(name: string): Promise<string> {
  const m = buildModel(cfg, { seed: 9 });
  // Move the running statistics away from their initial values so buffers are checked too.
  tf.dispose(tf.tidy(() => forward(m, tf.randomUniform([1, 4, 4, 4, 1], 0, 1, 'float32', 3), { training: true })));
  const dir = join(root, name);
  await saveModel(m, dir);
  m.dispose();
  return dir;
}

describe('saveModel / loadModel', () => {
  it('round-trips parameters, buffers and config exactly', async () => {
    const m = buildModel(cfg, { seed: 9 });
    tf.dispose(tf.tidy(() => forward(m, tf.randomUniform([1, 4, 4, 4, 1], 0, 1, 'float32', 3), { training: true })));
    const dir = join(root, 'roundtrip');
    await saveModel(m, dir);
    const back = loadModel(dir);
    expect(back.config).toEqual(cfg);
    for (const [name, v] of [...m.params, ...m.buffers]) {
      const w = back.params.get(name) ?? back.buffers.get(name);
      expect(Array.from(w!.dataSync())).toEqual(Array.from(v.dataSync()));
    }
    expect(Array.from(back.buffers.get('enc0.b0.norm1.runningMean')!.dataSync()).some((v) => v !== 0)).toBe(true);
    const x = tf.randomUniform([1, 5, 3, 4, 1], 0, 1, 'float32', 4);
    const a = forward(m, x);
    const b = forward(back, x);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(readFileSync(join(dir, WEIGHTS_FILE)).length).toBe(4 * back.specs.reduce((s, p) => s + p.shape.reduce((x1, y) => x1 * y, 1), 0));
    expect(readFileSync(join(dir, DIGEST_FILE), 'utf8')).toMatch(/^[0-9a-f]{64} {2}config\.json\n[0-9a-f]{64} {2}weights\.bin\n$/);
    tf.dispose([x, a, b]);
    m.dispose();
    back.dispose();
  });

  it('detects a flipped byte in the weights', async () => {
    const dir = await savedCopy('tampered-weights');
    const file = join(dir, WEIGHTS_FILE);
    const bytes = readFileSync(file);
    bytes[100] ^= 1;
    writeFileSync(file, bytes);
    expect(() => loadModel(dir)).toThrow(ModelFileError);
    expect(() => loadModel(dir)).toThrow(/weights\.bin: sha256 .* does not match/);
  });

  it('detects an edited config', async () => {
    const dir = await savedCopy('tampered-config');
    const file = join(dir, CONFIG_FILE);
    writeFileSync(file, readFileSync(file, 'utf8').replace('"leakySlope": 0.01', '"leakySlope": 0.2'));
    expect(() => loadModel(dir)).toThrow(/config\.json: sha256 .* does not match/);
  });

  it('names a missing file', async () => {
    const dir = await savedCopy('missing');
    rmSync(join(dir, WEIGHTS_FILE));
    expect(() => loadModel(dir)).toThrow(/weights\.bin: cannot read \(ENOENT\)/);
    expect(() => loadModel(join(root, 'nowhere'))).toThrow(/digest\.sha256: cannot read/);
  });
});
