/** Volumes turned for display: the radiological view of axial slices. */

/** The typed arrays a CT or label volume comes in. */
export type Voxels = Uint8Array | Int16Array | Uint16Array | Int32Array | Float32Array | Float64Array;

/**
 * Flips the i and j axes so an axial slice shows anterior at the top and the patient's right on the
 * image's left (radiological view), when the volume is axis-aligned with i ~ ±L and j ~ ±P; otherwise
 * returns the data as it is with `oriented: false`. Returns new arrays; the inputs are not changed.
 */
export function toRadiologicalView<T extends Voxels>(shape: [number, number, number], direction: number[], volumes: T[]): { volumes: T[]; oriented: boolean } {
  const iCol = [direction[0], direction[3], direction[6]], jCol = [direction[1], direction[4], direction[7]];
  const aligned = Math.abs(iCol[0]) > 0.9 && Math.abs(jCol[1]) > 0.9;
  if (!aligned) return { volumes, oriented: false };
  const flipI = iCol[0] < 0, flipJ = jCol[1] < 0;
  if (!flipI && !flipJ) return { volumes, oriented: true };
  const [nx, ny, nz] = shape;
  const out = volumes.map((v) => {
    const o = new (v.constructor as new (n: number) => T)(v.length);
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++) {
        const jj = flipJ ? ny - 1 - j : j;
        for (let i = 0; i < nx; i++) o[i + nx * (j + ny * k)] = v[(flipI ? nx - 1 - i : i) + nx * (jj + ny * k)];
      }
    return o;
  });
  return { volumes: out, oriented: true };
}
