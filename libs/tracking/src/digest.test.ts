import { describe, expect, it } from 'vitest';
import { canonicalJson, configDigest, sha256Hex } from './digest.js';

describe('canonicalJson and configDigest', () => {
  it('sorts keys at every level, so key order does not change the digest', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(configDigest({ x: 1, y: 2 })).toBe(configDigest({ y: 2, x: 1 }));
    expect(configDigest({ x: 1 })).not.toBe(configDigest({ x: 2 }));
  });
  it('hashes with SHA-256 (known vector)', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
  it('names values JSON cannot hold', () => {
    expect(() => canonicalJson({ lr: NaN })).toThrow(/\$\.lr is NaN/);
    expect(() => canonicalJson({ a: [1, undefined] })).toThrow(/\$\.a\[1\] is undefined/);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(/function/);
  });
});
