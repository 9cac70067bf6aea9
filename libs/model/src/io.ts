import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelConfigError, validateModelConfig, type ModelConfig } from './config';
import { createModel, type AnatomyNetModel } from './model';
import type { ParamSpec } from './summary';

/** Format tag written into config.json. */
export const WEIGHTS_FORMAT = 'anatomynet-weights/1';
export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'weights.bin';
export const DIGEST_FILE = 'digest.sha256';

/** A model folder that cannot be read: missing file, digest mismatch, bad layout. */
export class ModelFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'ModelFileError';
  }
}

interface TensorEntry {
  name: string;
  kind: 'param' | 'buffer';
  shape: number[];
  /** Offset in float32 elements into weights.bin. */
  offset: number;
}

/** Layout of config.json. */
export interface SavedModelManifest {
  format: string;
  model: ModelConfig;
  tensors: TensorEntry[];
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function writeAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/**
 * Writes the model to a folder: config.json (model config + tensor table), weights.bin
 * (float32 little-endian, parameters and buffers in spec order) and digest.sha256 (sha256sum format,
 * over config.json and weights.bin). Each file is written to a temp name and renamed; the digest
 * goes last, so a folder whose digest verifies is complete.
 */
export async function saveModel(model: AnatomyNetModel, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const tensors: TensorEntry[] = [];
  const total = model.specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  const all = new Float32Array(total);
  let offset = 0;
  for (const spec of model.specs) {
    const v = (spec.kind === 'param' ? model.params : model.buffers).get(spec.name)!;
    const values = (await v.data()) as Float32Array;
    all.set(values, offset);
    tensors.push({ name: spec.name, kind: spec.kind, shape: spec.shape, offset });
    offset += values.length;
  }
  const manifest: SavedModelManifest = { format: WEIGHTS_FORMAT, model: model.config, tensors };
  const configText = `${JSON.stringify(manifest, null, 1)}\n`;
  // Float32Array is little-endian on every platform Node runs on; make it explicit anyway.
  const bin = Buffer.alloc(total * 4);
  for (let i = 0; i < total; i++) bin.writeFloatLE(all[i], i * 4);
  writeAtomic(join(dir, WEIGHTS_FILE), bin);
  writeAtomic(join(dir, CONFIG_FILE), configText);
  const digest = `${sha256(Buffer.from(configText))}  ${CONFIG_FILE}\n${sha256(bin)}  ${WEIGHTS_FILE}\n`;
  writeAtomic(join(dir, DIGEST_FILE), digest);
}

function readOrThrow(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ModelFileError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * Reads a folder written by {@link saveModel}: verifies both digests first, then the format, the
 * model config and every tensor's name and shape against the architecture the config builds.
 * @throws ModelFileError naming the file and the reason (tampering shows as a digest mismatch).
 */
export function loadModel(dir: string): AnatomyNetModel {
  const digestFile = join(dir, DIGEST_FILE);
  const digest = readOrThrow(digestFile).toString('utf8');
  const expected = new Map<string, string>();
  for (const line of digest.split('\n').filter((l) => l.trim() !== '')) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (!m) throw new ModelFileError(digestFile, `malformed line ${JSON.stringify(line)}`);
    expected.set(m[2], m[1]);
  }
  const files: Record<string, Buffer> = {};
  for (const name of [CONFIG_FILE, WEIGHTS_FILE]) {
    const file = join(dir, name);
    if (!expected.has(name)) throw new ModelFileError(digestFile, `no digest for ${name}`);
    files[name] = readOrThrow(file);
    const actual = sha256(files[name]);
    if (actual !== expected.get(name)) {
      throw new ModelFileError(file, `sha256 ${actual} does not match ${expected.get(name)} in ${DIGEST_FILE}`);
    }
  }
  const configFile = join(dir, CONFIG_FILE);
  const weightsFile = join(dir, WEIGHTS_FILE);
  let manifest: SavedModelManifest;
  try {
    manifest = JSON.parse(files[CONFIG_FILE].toString('utf8'));
  } catch (e) {
    throw new ModelFileError(configFile, `invalid JSON: ${(e as Error).message}`);
  }
  if (manifest.format !== WEIGHTS_FORMAT) {
    throw new ModelFileError(configFile, `format ${JSON.stringify(manifest.format)} is not ${WEIGHTS_FORMAT}`);
  }
  let cfg: ModelConfig;
  try {
    cfg = validateModelConfig(manifest.model);
  } catch (e) {
    if (e instanceof ModelConfigError) throw new ModelFileError(configFile, e.message);
    throw e;
  }
  const bin = files[WEIGHTS_FILE];
  const count = bin.length / 4;
  const byName = new Map((manifest.tensors ?? []).map((t) => [t.name, t]));
  const valueOf = (spec: ParamSpec): Float32Array => {
    const t = byName.get(spec.name);
    if (!t) throw new ModelFileError(configFile, `tensor ${spec.name} is missing`);
    if (t.kind !== spec.kind || JSON.stringify(t.shape) !== JSON.stringify(spec.shape)) {
      throw new ModelFileError(configFile, `tensor ${spec.name} is ${t.kind} [${t.shape}], expected ${spec.kind} [${spec.shape}]`);
    }
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(t.offset) || t.offset < 0 || t.offset + n > count) {
      throw new ModelFileError(weightsFile, `tensor ${spec.name} at offset ${t.offset} runs past the end (${count} floats)`);
    }
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = bin.readFloatLE((t.offset + i) * 4);
    return out;
  };
  if (!Array.isArray(manifest.tensors) || byName.size !== manifest.tensors.length) {
    throw new ModelFileError(configFile, 'tensor table is missing or has duplicate names');
  }
  const model = createModel(cfg, valueOf);
  if (model.specs.length !== byName.size) {
    model.dispose();
    throw new ModelFileError(configFile, `${byName.size} tensors listed, the architecture has ${model.specs.length}`);
  }
  return model;
}
