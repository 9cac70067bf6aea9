/** Voxel array constructors by name, and raw-bytes -> typed array with endianness. */
import type { VoxelArray } from './volume';

export type VoxelTypeName = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';

type Ctor = { new (n: number): VoxelArray; BYTES_PER_ELEMENT: number };
export const VOXEL_CTORS: Record<VoxelTypeName, Ctor> = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
};

export function voxelTypeOf(a: VoxelArray): VoxelTypeName {
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Uint16Array) return 'uint16';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint32Array) return 'uint32';
  if (a instanceof Float32Array) return 'float32';
  return 'float64';
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Copies `count` voxels from `bytes[offset..]` into a fresh, aligned typed array, swapping bytes if needed. */
export function decodeVoxels(type: VoxelTypeName, bytes: Uint8Array, offset: number, count: number, littleEndian: boolean): VoxelArray {
  const C = VOXEL_CTORS[type];
  const out = new C(count);
  const size = C.BYTES_PER_ELEMENT;
  const dst = new Uint8Array(out.buffer, out.byteOffset, count * size);
  dst.set(bytes.subarray(offset, offset + count * size));
  if (size > 1 && littleEndian !== LITTLE_ENDIAN_HOST) swapBytes(dst, size);
  return out;
}

/** The voxels' bytes in little-endian order (a view when the host is little-endian). */
export function voxelBytesLE(a: VoxelArray): Uint8Array {
  const u8 = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN_HOST || a.BYTES_PER_ELEMENT === 1) return u8;
  const copy = u8.slice();
  swapBytes(copy, a.BYTES_PER_ELEMENT);
  return copy;
}

function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const t = b[lo];
      b[lo] = b[hi];
      b[hi] = t;
    }
  }
}
