/** Small builders shared by this library's tests. */
import type { Shape3 } from './types.js';

/** A 0/1 mask of `shape` set where `inside(i, j, k)` holds. */
export function maskWhere(shape: Shape3, inside: (i: number, j: number, k: number) => boolean): Uint8Array {
  const [nx, ny, nz] = shape;
  const m = new Uint8Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) if (inside(i, j, k)) m[i + nx * (j + ny * k)] = 1;
  return m;
}
