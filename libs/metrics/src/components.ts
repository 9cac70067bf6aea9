/** Connected components of binary masks (used by inference clean-up: keep the largest piece per organ). */
import { boundingBox, boxShape, cropMask } from './bbox.js';
import { type Shape3, type VoxelValues, checkShape } from './types.js';

/** 6: voxels sharing a face are connected; 26: sharing a face, an edge or a corner. */
export type Connectivity = 6 | 26;

/** Components of a mask: `labels[o]` is 0 for background, else a component id 1..n; `sizes[id]` voxels. */
export interface Components {
  labels: Int32Array;
  /** `sizes[0]` is 0; `sizes[id]` counts component id's voxels. */
  sizes: number[];
}

/**
 * Labels the connected components of a mask (nonzero = foreground) in scan order (i fastest), so
 * component 1 holds the first foreground voxel.
 * @param connectivity 26 by default (the usual choice for 3D organ clean-up).
 */
export function connectedComponents(mask: VoxelValues, shape: Shape3, connectivity: Connectivity = 26): Components {
  checkShape('connectedComponents', mask, shape);
  if (connectivity !== 6 && connectivity !== 26) throw new RangeError(`connectedComponents: connectivity ${String(connectivity)} is neither 6 nor 26`);
  const [nx, ny, nz] = shape;
  const n = nx * ny * nz;
  const labels = new Int32Array(n);
  const sizes = [0];
  const neighbours = neighbourSteps(connectivity);
  const queue = new Int32Array(n);
  for (let seed = 0; seed < n; seed++) {
    if (mask[seed] === 0 || labels[seed] !== 0) continue;
    const id = sizes.length;
    labels[seed] = id;
    let head = 0, tail = 0;
    queue[tail++] = seed;
    while (head < tail) {
      const o = queue[head++]!;
      const x = o % nx, y = Math.floor(o / nx) % ny, z = Math.floor(o / (nx * ny));
      for (const [dx, dy, dz] of neighbours) {
        const xx = x + dx, yy = y + dy, zz = z + dz;
        if (xx < 0 || yy < 0 || zz < 0 || xx >= nx || yy >= ny || zz >= nz) continue;
        const q = xx + nx * (yy + ny * zz);
        if (mask[q] === 0 || labels[q] !== 0) continue;
        labels[q] = id;
        queue[tail++] = q;
      }
    }
    sizes.push(tail);
  }
  return { labels, sizes };
}

/**
 * The largest connected component of a mask as a 0/1 Uint8Array of the full shape (all zeros for an
 * empty mask). Ties go to the component holding the earliest voxel in scan order. Works on the mask's
 * bounding box, so small organs in large volumes are cheap.
 * @param connectivity 26 by default; 6 splits pieces touching only by an edge or corner.
 */
export function largestConnectedComponent(mask: VoxelValues, shape: Shape3, connectivity: Connectivity = 26): Uint8Array {
  checkShape('largestConnectedComponent', mask, shape);
  return keepComponents(mask, shape, connectivity, (sizes) => {
    let best = 1;
    for (let id = 2; id < sizes.length; id++) if (sizes[id]! > sizes[best]!) best = id;
    return sizes.map((_, id) => id === best);
  });
}

/**
 * Every connected component holding at least `minShare` of the largest one's voxels, as a 0/1
 * Uint8Array. minShare 1 keeps the largest (and any tied with it). Between 0 and 1 it still drops
 * small far-away false positives but keeps an organ the prediction split into large pieces (a
 * U-shaped mandible cut at the chin), which the largest-component rule would halve.
 */
export function largeConnectedComponents(mask: VoxelValues, shape: Shape3, minShare: number, connectivity: Connectivity = 26): Uint8Array {
  checkShape('largeConnectedComponents', mask, shape);
  if (!(minShare > 0 && minShare <= 1)) throw new RangeError(`largeConnectedComponents: minShare ${minShare} is not in (0, 1]`);
  return keepComponents(mask, shape, connectivity, (sizes) => {
    const largest = Math.max(...sizes);
    return sizes.map((n, id) => id > 0 && n >= minShare * largest);
  });
}

/**
 * The components `pick` chooses (by id, from their sizes; id 0 is background) as a 0/1 mask of the
 * full shape. Labels only the mask's bounding box, so small organs in large volumes are cheap.
 */
function keepComponents(mask: VoxelValues, shape: Shape3, connectivity: Connectivity, pick: (sizes: number[]) => boolean[]): Uint8Array {
  const out = new Uint8Array(mask.length);
  const box = boundingBox(mask, shape);
  if (!box) return out;
  const cs = boxShape(box);
  const { labels, sizes } = connectedComponents(cropMask(mask, shape, box), cs, connectivity);
  const keep = pick(sizes);
  let o = 0;
  for (let z = 0; z < cs[2]; z++) {
    for (let y = 0; y < cs[1]; y++) {
      let dst = box.min[0] + shape[0] * (box.min[1] + y + shape[1] * (box.min[2] + z));
      for (let x = 0; x < cs[0]; x++, o++, dst++) if (keep[labels[o]!]) out[dst] = 1;
    }
  }
  return out;
}

function neighbourSteps(connectivity: Connectivity): [number, number, number][] {
  const steps: [number, number, number][] = [];
  for (let dz = -1; dz <= 1; dz++) {
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const manhattan = Math.abs(dx) + Math.abs(dy) + Math.abs(dz);
        if (manhattan === 0 || (connectivity === 6 && manhattan > 1)) continue;
        steps.push([dx, dy, dz]);
      }
    }
  }
  return steps;
}
