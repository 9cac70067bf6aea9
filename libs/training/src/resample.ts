/**
 * Resampling between voxel grids that share origin and direction (the axis-aligned case the trainer
 * needs: coarser grids for CPU smoke profiles, and back to the case's own grid for evaluation).
 * Grids are `[nx, ny, nz]`, i fastest; a voxel's centre sits at `index * spacing` from the shared origin.
 */
export type Shape3 = [number, number, number];

/** Shape of the grid covering the same extent at `targetMm` (at least one voxel per axis). */
export function resampledShape(shape: Shape3, spacingMm: Shape3, targetMm: Shape3): Shape3 {
  return [0, 1, 2].map((a) => Math.max(1, Math.round((shape[a] * spacingMm[a]) / targetMm[a]))) as Shape3;
}

/** Per-axis source coordinates (in source voxels) of each target voxel centre, clamped to the source. */
function axisMap(nSrc: number, nDst: number): Float64Array {
  const m = new Float64Array(nDst);
  // Align the grids' outer edges, so that the same physical extent maps onto itself.
  const scale = nSrc / nDst;
  for (let t = 0; t < nDst; t++) m[t] = Math.min(nSrc - 1, Math.max(0, (t + 0.5) * scale - 0.5));
  return m;
}

/** Trilinear resampling of a scalar image to `dstShape` (same physical extent). */
export function resampleLinear(src: ArrayLike<number>, shape: Shape3, dstShape: Shape3): Float32Array {
  const [nx, ny] = shape;
  const mx = axisMap(shape[0], dstShape[0]), my = axisMap(shape[1], dstShape[1]), mz = axisMap(shape[2], dstShape[2]);
  const out = new Float32Array(dstShape[0] * dstShape[1] * dstShape[2]);
  let o = 0;
  for (let k = 0; k < dstShape[2]; k++) {
    const z0 = Math.floor(mz[k]), z1 = Math.min(shape[2] - 1, z0 + 1), fz = mz[k] - z0;
    for (let j = 0; j < dstShape[1]; j++) {
      const y0 = Math.floor(my[j]), y1 = Math.min(ny - 1, y0 + 1), fy = my[j] - y0;
      for (let i = 0; i < dstShape[0]; i++) {
        const x0 = Math.floor(mx[i]), x1 = Math.min(nx - 1, x0 + 1), fx = mx[i] - x0;
        const at = (x: number, y: number, z: number) => src[x + nx * (y + ny * z)];
        const c00 = at(x0, y0, z0) * (1 - fx) + at(x1, y0, z0) * fx;
        const c10 = at(x0, y1, z0) * (1 - fx) + at(x1, y1, z0) * fx;
        const c01 = at(x0, y0, z1) * (1 - fx) + at(x1, y0, z1) * fx;
        const c11 = at(x0, y1, z1) * (1 - fx) + at(x1, y1, z1) * fx;
        out[o++] = (c00 * (1 - fy) + c10 * fy) * (1 - fz) + (c01 * (1 - fy) + c11 * fy) * fz;
      }
    }
  }
  return out;
}

/**
 * Label map of class probabilities resampled linearly to `dstShape`, then argmax: how nnU-Net brings a
 * coarse prediction back to the image's own grid, with smooth organ edges instead of the coarse voxels'
 * steps. `probs` is channels-last ([nx, ny, nz, numClasses], class fastest). Separable and one class at a
 * time, so memory stays at a few floats per target voxel whatever the class count. Ties go to the lower class.
 */
export function argmaxOfLinearResample(probs: Float32Array, numClasses: number, shape: Shape3, dstShape: Shape3): Uint8Array {
  const [nx, ny, nz] = shape;
  const [tx, ty, tz] = dstShape;
  if (probs.length !== nx * ny * nz * numClasses) throw new RangeError(`argmaxOfLinearResample: ${probs.length} values for ${shape.join('x')} voxels of ${numClasses} classes`);
  const ax = axisWeights(nx, tx), ay = axisWeights(ny, ty), az = axisWeights(nz, tz);
  const alongX = new Float32Array(tx * ny * nz), alongXY = new Float32Array(tx * ty * nz);
  const plane = tx * ty;
  const best = new Float32Array(plane * tz).fill(-Infinity);
  const out = new Uint8Array(plane * tz);
  for (let c = 0; c < numClasses; c++) {
    for (let row = 0, o = 0; row < ny * nz; row++) {
      const base = row * nx;
      for (let i = 0; i < tx; i++, o++) {
        const w = ax.w[i]!;
        alongX[o] = probs[(base + ax.lo[i]!) * numClasses + c]! * (1 - w) + probs[(base + ax.hi[i]!) * numClasses + c]! * w;
      }
    }
    for (let k = 0, o = 0; k < nz; k++) {
      for (let j = 0; j < ty; j++) {
        const w = ay.w[j]!, r0 = (ay.lo[j]! + ny * k) * tx, r1 = (ay.hi[j]! + ny * k) * tx;
        for (let i = 0; i < tx; i++, o++) alongXY[o] = alongX[r0 + i]! * (1 - w) + alongX[r1 + i]! * w;
      }
    }
    for (let k = 0; k < tz; k++) {
      const w = az.w[k]!, p0 = az.lo[k]! * plane, p1 = az.hi[k]! * plane, base = k * plane;
      for (let q = 0; q < plane; q++) {
        const v = alongXY[p0 + q]! * (1 - w) + alongXY[p1 + q]! * w;
        if (v > best[base + q]!) {
          best[base + q] = v;
          out[base + q] = c;
        }
      }
    }
  }
  return out;
}

/** Per target index along one axis: the two source indices around its centre and the upper one's weight. */
function axisWeights(nSrc: number, nDst: number): { lo: Int32Array; hi: Int32Array; w: Float32Array } {
  const m = axisMap(nSrc, nDst);
  const lo = new Int32Array(nDst), hi = new Int32Array(nDst), w = new Float32Array(nDst);
  for (let t = 0; t < nDst; t++) {
    lo[t] = Math.floor(m[t]!);
    hi[t] = Math.min(nSrc - 1, lo[t]! + 1);
    w[t] = m[t]! - lo[t]!;
  }
  return { lo, hi, w };
}

/** Nearest-neighbour resampling of a label map to `dstShape` (same physical extent). */
export function resampleNearest(src: Uint8Array, shape: Shape3, dstShape: Shape3): Uint8Array {
  const [nx, ny] = shape;
  const mx = axisMap(shape[0], dstShape[0]), my = axisMap(shape[1], dstShape[1]), mz = axisMap(shape[2], dstShape[2]);
  const out = new Uint8Array(dstShape[0] * dstShape[1] * dstShape[2]);
  let o = 0;
  for (let k = 0; k < dstShape[2]; k++) {
    const z = Math.round(mz[k]);
    for (let j = 0; j < dstShape[1]; j++) {
      const y = Math.round(my[j]);
      for (let i = 0; i < dstShape[0]; i++) out[o++] = src[Math.round(mx[i]) + nx * (y + ny * z)];
    }
  }
  return out;
}
