import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_CONFIG, ModelConfigError, readModelConfigFile, validateModelConfig } from './config';

const configsDir = join(__dirname, '..', 'configs');

function refusal(raw: unknown): ModelConfigError {
  try {
    validateModelConfig(raw);
  } catch (e) {
    if (e instanceof ModelConfigError) return e;
    throw e;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
}

describe('validateModelConfig', () => {
  it('fills defaults (the ref_anatomynet.py architecture)', () => {
    const cfg = validateModelConfig({});
    expect(cfg).toEqual({ ...DEFAULT_MODEL_CONFIG, filters: [32, 40, 48, 56] });
    expect(validateModelConfig({ pools: 3, merge: 'sum' })).toMatchObject({ pools: 3, merge: 'sum', filters: [32, 40, 48, 56] });
  });

  it.each([
    [{ pools: 5 }, 'pools', 5],
    [{ pools: 0 }, 'pools', 0],
    [{ pools: 1.5 }, 'pools', 1.5],
    [{ pools: 3, filters: [8, 8] }, 'pools', 3],
    [{ filters: [8, 0, 8] }, 'filters[1]', 0],
    [{ filters: 'wide' }, 'filters', 'wide'],
    [{ filters: [] }, 'filters', []],
    [{ block: 'dense' }, 'block', 'dense'],
    [{ norm: 'group' }, 'norm', 'group'],
    [{ merge: 'max' }, 'merge', 'max'],
    [{ leakySlope: -0.1 }, 'leakySlope', -0.1],
    [{ bnMomentum: 0 }, 'bnMomentum', 0],
    [{ seRatio: 0 }, 'seRatio', 0],
    [{ downsampleNorm: 'yes' }, 'downsampleNorm', 'yes'],
    [{ numClasses: 1 }, 'numClasses', 1],
    [{ filter: [8] }, 'filter', [8]],
  ])('refuses %j naming the field and value', (raw, field, value) => {
    const e = refusal(raw);
    expect(e.field).toBe(field);
    expect(e.value).toEqual(value);
    expect(e.message).toContain(`"${field}"`);
    expect(e.message).toContain(JSON.stringify(value));
  });

  it('refuses a non-object', () => {
    expect(refusal([1, 2]).field).toBe('(root)');
    expect(refusal(null).field).toBe('(root)');
  });
});

describe('readModelConfigFile', () => {
  it('reads every shipped config', () => {
    const files = readdirSync(configsDir).filter((f) => f.endsWith('.json'));
    expect(files).toEqual(expect.arrayContaining(['anatomynet-ref.json', 'anatomynet-paper.json', 'anatomynet-public.json']));
    for (const f of files) expect(readModelConfigFile(join(configsDir, f)).numClasses).toBe(10);
  });

  it('names the file with the bad field, and bad JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'model-config-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ block: 'unet' }));
    expect(() => readModelConfigFile(bad)).toThrow(/bad\.json: model config field "block" = "unet"/);
    writeFileSync(bad, '{ "pools": ');
    expect(() => readModelConfigFile(bad)).toThrow(/bad\.json: .*cannot read JSON/);
  });
});
