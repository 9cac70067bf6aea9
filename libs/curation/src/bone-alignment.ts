/**
 * How well a bone's contour sits on the bone of its CT, and the small translation that would seat it
 * best: a structure set drawn on another scan of the patient, or registered to this one with an offset,
 * lies a few millimetres off everywhere, too little for the mean CT number to leave the range of bone.
 * The mandible is the anchor (the only organ of the nine that the CT shows by threshold alone). Written
 * here because it is a translation search over integer voxel shifts, nothing a registration library's
 * intensity metrics would do better on a binary mask against a threshold. Pure.
 */
import type { Vec3 } from '@anatomynet/data';
import type { Box3 } from '@anatomynet/metrics';

/** A voxel above this is bone (cortical bone and marrow; fat, muscle and glands lie below 100). */
export const BONE_VOXEL_HU = 200;
/** Translations searched, up to this length (mm): farther off, the mean CT number already tells. */
export const ALIGNMENT_SEARCH_MM = 10;
/** Voxels of the mask that judge each translation (all of them judge the answer). */
const SAMPLE_VOXELS = 4096;

export interface BoneAlignment {
  /** Share of the contour's voxels on bone, to 0.001. */
  fraction: number;
  /** The translation (patient LPS mm, to 0.1) of at most ALIGNMENT_SEARCH_MM that puts most of it on bone; zero when none does better. */
  shiftMm: Vec3;
  /** The share on bone after that translation, to 0.001. */
  shiftedFraction: number;
}

// + 0: no -0 in the manifest
const round3 = (x: number) => Math.round(x * 1000) / 1000 + 0;
const round1 = (x: number) => Math.round(x * 10) / 10 + 0;

/**
 * The contour of label `value` inside `box` of `label` (i fastest, `shape`) against `hu` on the same grid.
 * Each integer voxel translation within ALIGNMENT_SEARCH_MM is scored by the share of a fixed sample of
 * the contour's voxels it puts on bone (outside the scan counts as not bone); the best (the shortest
 * among equals) is then scored with every voxel, and kept only when it beats no translation.
 */
export function boneAlignment(
  label: ArrayLike<number>,
  hu: ArrayLike<number>,
  grid: { shape: Vec3; spacing: Vec3; direction: readonly number[] },
  box: Box3,
  value: number,
): BoneAlignment {
  const { shape, spacing, direction } = grid;
  const [nx, ny, nz] = shape;
  const voxels: number[] = [];
  for (let k = box.min[2]; k <= box.max[2]; k++) {
    for (let j = box.min[1]; j <= box.max[1]; j++) {
      for (let i = box.min[0]; i <= box.max[0]; i++) if (label[i + nx * (j + ny * k)] === value) voxels.push(i, j, k);
    }
  }
  const n = voxels.length / 3;
  if (!n) return { fraction: 0, shiftMm: [0, 0, 0], shiftedFraction: 0 };
  // a fixed spread of the voxels (multiplicative hashing, so no row or slice pattern is favoured)
  const every = Math.max(1, Math.ceil(n / SAMPLE_VOXELS));
  const sample = every === 1 ? voxels : voxels.filter((_, x) => Math.imul(Math.floor(x / 3), 0x9e3779b1) >>> 0 < 0x100000000 / every);
  const onBone = (points: readonly number[], [di, dj, dk]: Vec3) => {
    let bone = 0;
    for (let p = 0; p < points.length; p += 3) {
      const i = points[p]! + di, j = points[p + 1]! + dj, k = points[p + 2]! + dk;
      if (i >= 0 && j >= 0 && k >= 0 && i < nx && j < ny && k < nz && hu[i + nx * (j + ny * k)]! > BONE_VOXEL_HU) bone++;
    }
    return bone / (points.length / 3);
  };
  const reach = spacing.map((s) => Math.floor(ALIGNMENT_SEARCH_MM / s)) as Vec3;
  const lengthMm = (d: Vec3) => Math.hypot(d[0] * spacing[0], d[1] * spacing[1], d[2] * spacing[2]);
  let best: Vec3 = [0, 0, 0];
  let bestShare = onBone(sample, best);
  for (let dk = -reach[2]; dk <= reach[2]; dk++) {
    for (let dj = -reach[1]; dj <= reach[1]; dj++) {
      for (let di = -reach[0]; di <= reach[0]; di++) {
        const d: Vec3 = [di, dj, dk];
        const length = lengthMm(d);
        if (length > ALIGNMENT_SEARCH_MM) continue;
        const share = onBone(sample, d);
        if (share > bestShare || (share === bestShare && length < lengthMm(best))) [best, bestShare] = [d, share];
      }
    }
  }
  const fraction = onBone(voxels, [0, 0, 0]);
  const shifted = onBone(voxels, best);
  if (shifted <= fraction) return { fraction: round3(fraction), shiftMm: [0, 0, 0], shiftedFraction: round3(fraction) };
  const shiftMm = [0, 1, 2].map((r) => round1([0, 1, 2].reduce((s, a) => s + direction[r * 3 + a]! * spacing[a]! * best[a]!, 0))) as Vec3;
  return { fraction: round3(fraction), shiftMm, shiftedFraction: round3(shifted) };
}

/** A translation in LPS mm as whole voxels along each index axis (the direction matrix is orthonormal: its transpose takes LPS back). */
export function voxelTranslation(mm: Vec3, grid: { spacing: Vec3; direction: readonly number[] }): Vec3 {
  return [0, 1, 2].map((a) => Math.round([0, 1, 2].reduce((s, r) => s + grid.direction[r * 3 + a]! * mm[r]!, 0) / grid.spacing[a]!)) as Vec3;
}

/**
 * The label `value` of `label` (i fastest, `grid.shape`) moved by a translation in LPS mm (a `shiftMm`),
 * to whole voxels along each index axis; other labels and voxels moved off the grid are dropped. What the
 * review page draws beside the contour as drawn.
 */
export function translatedLabel(label: ArrayLike<number>, grid: { shape: Vec3; spacing: Vec3; direction: readonly number[] }, shiftMm: Vec3, value: number): Uint8Array {
  const [nx, ny, nz] = grid.shape;
  const d = voxelTranslation(shiftMm, grid);
  const out = new Uint8Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        if (label[i + nx * (j + ny * k)] !== value) continue;
        const ti = i + d[0]!, tj = j + d[1]!, tk = k + d[2]!;
        if (ti >= 0 && tj >= 0 && tk >= 0 && ti < nx && tj < ny && tk < nz) out[ti + nx * (tj + ny * tk)] = value;
      }
    }
  }
  return out;
}
