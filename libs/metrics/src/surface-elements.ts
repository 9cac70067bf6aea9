/**
 * The two ways this library finds a mask's surface elements and their areas (both on a cropped 0/1 mask;
 * outside the array counts as background):
 *
 * - `'surfels'` (default), DeepMind's surface-distance exactly: every corner of the voxel grid (the grid
 *   shifted by half a voxel) gets the 8-bit code of the 2x2x2 voxels around it; a corner whose code is
 *   neither 0 nor 255 is a surface element, weighted by the marching-cubes surfel area of its code on
 *   the anisotropic grid. Surface areas of curved shapes are then close to the true area.
 * - `'voxelFaces'`: boundary voxels, i.e. foreground voxels with a 6-neighbour outside the mask, each
 *   weighted by the mm² of its faces touching the outside (a box's total is its exact area; curved
 *   shapes get the staircase area). Distances are then between voxel centres, as MONAI and nnU-Net measure.
 */
import { NEIGHBOUR_CODE_TO_NORMALS } from './generated/neighbour-code-normals.js';
import type { SpacingMm } from './types.js';

export type SurfaceMethod = 'surfels' | 'voxelFaces';

/** Surface elements on a grid of `shape` points (the voxel grid, or the corner grid for surfels). */
export interface SurfaceElements {
  shape: [number, number, number];
  /** 1 where a surface element lies, on `shape`. */
  isSurface: Uint8Array;
  /** Offsets (in `shape`) of the elements, ascending. */
  offsets: Int32Array;
  areasMm2: Float64Array;
}

/** Surface elements of a 0/1 mask of `shape` voxels by the chosen method. */
export function surfaceElements(mask: Uint8Array, shape: readonly [number, number, number], spacingMm: SpacingMm, method: SurfaceMethod): SurfaceElements {
  if (method === 'surfels') return surfels(mask, shape, spacingMm);
  if (method === 'voxelFaces') return boundaryVoxels(mask, shape, spacingMm);
  throw new RangeError(`surface method ${String(method)} is neither 'surfels' nor 'voxelFaces'`);
}

/** Area in mm² of the surfels of each of the 256 neighbour codes at this spacing (DeepMind's table). */
export function neighbourCodeToSurfaceAreaMm2(spacingMm: SpacingMm): Float64Array {
  const [sx, sy, sz] = spacingMm;
  const out = new Float64Array(256);
  for (let code = 0; code < 256; code++) {
    const normals = NEIGHBOUR_CODE_TO_NORMALS[code]!;
    let area = 0;
    for (let n = 0; n < normals.length; n += 3) {
      area += Math.hypot(normals[n]! * sy * sz, normals[n + 1]! * sx * sz, normals[n + 2]! * sx * sy);
    }
    out[code] = area;
  }
  return out;
}

const tableCache = new Map<string, Float64Array>();

function surfels(mask: Uint8Array, shape: readonly [number, number, number], spacingMm: SpacingMm): SurfaceElements {
  const key = spacingMm.join(',');
  let table = tableCache.get(key);
  if (!table) {
    if (tableCache.size > 64) tableCache.clear();
    tableCache.set(key, (table = neighbourCodeToSurfaceAreaMm2(spacingMm)));
  }
  const [nx, ny, nz] = shape;
  const cx = nx + 1, cy = ny + 1, cz = nz + 1;
  // The mask padded by one background voxel on every side: corner (x, y, z) of the corner grid sits
  // between voxels x-1 and x of the mask, i.e. padded voxels x and x+1, so no bounds checks below.
  const px = nx + 2, py = ny + 2;
  const padded = new Uint8Array(px * py * (nz + 2));
  for (let z = 0, o = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++, o += nx) padded.set(mask.subarray(o, o + nx), 1 + px * (y + 1 + py * (z + 1)));
  }
  const sy = px, sz = px * py;
  const isSurface = new Uint8Array(cx * cy * cz);
  const offsets: number[] = [], areas: number[] = [];
  let o = 0;
  for (let z = 0; z < cz; z++) {
    for (let y = 0; y < cy; y++) {
      let p = px * (y + py * z);
      for (let x = 0; x < cx; x++, o++, p++) {
        // Bit 7 is mask voxel (x-1, y-1, z-1), bit 0 voxel (x, y, z): DeepMind's
        // ENCODE_NEIGHBOURHOOD_3D_KERNEL with axes (i, j, k).
        const code =
          (padded[p]! << 7) | (padded[p + sz]! << 6) | (padded[p + sy]! << 5) | (padded[p + sy + sz]! << 4) |
          (padded[p + 1]! << 3) | (padded[p + 1 + sz]! << 2) | (padded[p + 1 + sy]! << 1) | padded[p + 1 + sy + sz]!;
        if (code === 0 || code === 255) continue;
        isSurface[o] = 1;
        offsets.push(o);
        areas.push(table[code]!);
      }
    }
  }
  return { shape: [cx, cy, cz], isSurface, offsets: Int32Array.from(offsets), areasMm2: Float64Array.from(areas) };
}

function boundaryVoxels(mask: Uint8Array, shape: readonly [number, number, number], spacingMm: SpacingMm): SurfaceElements {
  const [nx, ny, nz] = shape;
  const ax = spacingMm[1] * spacingMm[2], ay = spacingMm[0] * spacingMm[2], az = spacingMm[0] * spacingMm[1];
  const sy = nx, sz = nx * ny;
  const isSurface = new Uint8Array(mask.length);
  const offsets: number[] = [], areas: number[] = [];
  let o = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, o++) {
        if (!mask[o]) continue;
        let a = 0;
        if (x === 0 || !mask[o - 1]) a += ax;
        if (x === nx - 1 || !mask[o + 1]) a += ax;
        if (y === 0 || !mask[o - sy]) a += ay;
        if (y === ny - 1 || !mask[o + sy]) a += ay;
        if (z === 0 || !mask[o - sz]) a += az;
        if (z === nz - 1 || !mask[o + sz]) a += az;
        if (a === 0) continue;
        isSurface[o] = 1;
        offsets.push(o);
        areas.push(a);
      }
    }
  }
  return { shape: [nx, ny, nz], isSurface, offsets: Int32Array.from(offsets), areasMm2: Float64Array.from(areas) };
}
