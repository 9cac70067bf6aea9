/**
 * In-plane shift of one slice by a fraction of a voxel (bilinear): how a gantry-tilted CT's sheared
 * slices are put onto an orthogonal grid, as dcm2niix does. Pure; written here because the shift is two
 * lines of arithmetic per voxel and no library of this field offers it to TypeScript.
 */

/**
 * `out(i, j) = src(i - di, j - dj)`, bilinear between the four nearest pixels of `src` (nx by ny, i
 * fastest), rounded; a voxel whose source point lies outside the slice takes `fill`.
 */
export function shiftSlice(src: Int16Array, nx: number, ny: number, di: number, dj: number, fill: number, out: Int16Array): void {
  const eps = 1e-6;
  for (let j = 0; j < ny; j++) {
    const y = j - dj;
    if (y < -eps || y > ny - 1 + eps) {
      out.fill(fill, j * nx, (j + 1) * nx);
      continue;
    }
    const y0 = Math.min(ny - 1, Math.max(0, Math.floor(y + eps)));
    const y1 = Math.min(ny - 1, y0 + 1);
    const fy = Math.max(0, y - y0);
    for (let i = 0; i < nx; i++) {
      const x = i - di;
      if (x < -eps || x > nx - 1 + eps) {
        out[j * nx + i] = fill;
        continue;
      }
      const x0 = Math.min(nx - 1, Math.max(0, Math.floor(x + eps)));
      const x1 = Math.min(nx - 1, x0 + 1);
      const fx = Math.max(0, x - x0);
      const top = src[y0 * nx + x0] * (1 - fx) + src[y0 * nx + x1] * fx;
      const bottom = src[y1 * nx + x0] * (1 - fx) + src[y1 * nx + x1] * fx;
      out[j * nx + i] = Math.round(top * (1 - fy) + bottom * fy);
    }
  }
}
