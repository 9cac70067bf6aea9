/** Canonical JSON and SHA-256, so equal configs get equal digests whatever their key order. */
import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level and no whitespace. Throws a TypeError on values JSON
 * cannot hold faithfully (NaN, Infinity, functions, undefined inside arrays, bigint).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value, '$'));
}

/** Hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hex SHA-256 of `canonicalJson(value)`. */
export function configDigest(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

function sortKeys(v: unknown, path: string): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`canonicalJson: ${path} is ${v}, which JSON cannot hold`);
    return v;
  }
  if (Array.isArray(v)) {
    return v.map((x, i) => {
      if (x === undefined) throw new TypeError(`canonicalJson: ${path}[${i}] is undefined`);
      return sortKeys(x, `${path}[${i}]`);
    });
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x, `${path}.${k}`);
    }
    return out;
  }
  throw new TypeError(`canonicalJson: ${path} is a ${typeof v}, which JSON cannot hold`);
}
