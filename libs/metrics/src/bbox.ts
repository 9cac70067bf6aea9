/** Bounding boxes of masks and label maps, so metrics work on the small region that matters. */
import { type Box3, type Shape3, type VoxelValues } from './types.js';

/** Foreground test: a given label, or any nonzero value when `label` is undefined. */
export function isForeground(value: number, label: number | undefined): boolean {
  return label === undefined ? value !== 0 : value === label;
}

/**
 * Inclusive bounding box of the voxels equal to `label` (or nonzero when `label` is undefined);
 * `undefined` when there are none.
 */
export function boundingBox(values: VoxelValues, shape: Shape3, label?: number): Box3 | undefined {
  const [nx, ny, nz] = shape;
  let x0 = nx, y0 = ny, z0 = nz, x1 = -1, y1 = -1, z1 = -1;
  let o = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, o++) {
        if (!isForeground(values[o]!, label)) continue;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
        if (z < z0) z0 = z;
        z1 = z;
      }
    }
  }
  return x1 < 0 ? undefined : { min: [x0, y0, z0], max: [x1, y1, z1] };
}

/**
 * Bounding boxes of every label `1 .. numClasses-1` of a label map in one pass; index c holds class c's
 * box or undefined (index 0, background, is always undefined). Labels outside the range are ignored.
 */
export function labelBoundingBoxes(labels: VoxelValues, shape: Shape3, numClasses: number): (Box3 | undefined)[] {
  const [nx, ny, nz] = shape;
  const lo = new Int32Array(numClasses * 3).fill(2 ** 30), hi = new Int32Array(numClasses * 3).fill(-1);
  let o = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, o++) {
        const c = labels[o]!;
        if (!(c > 0 && c < numClasses)) continue;
        const b = c * 3;
        if (x < lo[b]!) lo[b] = x;
        if (x > hi[b]!) hi[b] = x;
        if (y < lo[b + 1]!) lo[b + 1] = y;
        if (y > hi[b + 1]!) hi[b + 1] = y;
        if (z < lo[b + 2]!) lo[b + 2] = z;
        hi[b + 2] = z;
      }
    }
  }
  return Array.from({ length: numClasses }, (_, c) =>
    c === 0 || hi[c * 3]! < 0 ? undefined : { min: [lo[c * 3]!, lo[c * 3 + 1]!, lo[c * 3 + 2]!], max: [hi[c * 3]!, hi[c * 3 + 1]!, hi[c * 3 + 2]!] },
  );
}

/** Smallest box holding both (either may be undefined). */
export function unionBox(a: Box3 | undefined, b: Box3 | undefined): Box3 | undefined {
  if (!a) return b && { min: [...b.min], max: [...b.max] };
  if (!b) return { min: [...a.min], max: [...a.max] };
  return {
    min: [Math.min(a.min[0], b.min[0]), Math.min(a.min[1], b.min[1]), Math.min(a.min[2], b.min[2])],
    max: [Math.max(a.max[0], b.max[0]), Math.max(a.max[1], b.max[1]), Math.max(a.max[2], b.max[2])],
  };
}

/** The box grown by `marginVoxels` on every side, clamped to the volume. */
export function expandBox(box: Box3, marginVoxels: number, shape: Shape3): Box3 {
  return {
    min: [Math.max(0, box.min[0] - marginVoxels), Math.max(0, box.min[1] - marginVoxels), Math.max(0, box.min[2] - marginVoxels)],
    max: [
      Math.min(shape[0] - 1, box.max[0] + marginVoxels),
      Math.min(shape[1] - 1, box.max[1] + marginVoxels),
      Math.min(shape[2] - 1, box.max[2] + marginVoxels),
    ],
  };
}

/** `[nx, ny, nz]` of a box. */
export function boxShape(box: Box3): [number, number, number] {
  return [box.max[0] - box.min[0] + 1, box.max[1] - box.min[1] + 1, box.max[2] - box.min[2] + 1];
}

/**
 * Copies the box out of a volume as a 0/1 Uint8Array of `boxShape(box)` voxels, foreground being
 * `label` (or nonzero when undefined).
 */
export function cropMask(values: VoxelValues, shape: Shape3, box: Box3, label?: number): Uint8Array {
  const [bx, by, bz] = boxShape(box);
  const out = new Uint8Array(bx * by * bz);
  const nx = shape[0], ny = shape[1];
  let o = 0;
  for (let z = 0; z < bz; z++) {
    for (let y = 0; y < by; y++) {
      let src = box.min[0] + nx * (box.min[1] + y + ny * (box.min[2] + z));
      for (let x = 0; x < bx; x++, o++, src++) {
        if (isForeground(values[src]!, label)) out[o] = 1;
      }
    }
  }
  return out;
}
