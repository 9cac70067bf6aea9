/**
 * Where each organ of a published label volume lies, in how many pieces, and what CT numbers it holds:
 * the measurements the annotation checks (annotation-checks.ts) judge. Pure; one pass over the volume,
 * then each organ's own bounding box.
 */
import type { Vec3, Volume } from '@anatomynet/data';
import { boxShape, connectedComponents, cropMask, labelBoundingBoxes, type Box3 } from '@anatomynet/metrics';
import { ORGANS, type OrganKey } from './organs';
import { boneAlignment, type BoneAlignment } from './bone-alignment';

export interface OrganMeasures {
  /** Mean CT number of its voxels (HU, to 0.1). */
  meanHu: number;
  /** Centre of the organ's voxels in patient coordinates (LPS mm: +x is the patient's left), to 0.1 mm. */
  centroidMm: Vec3;
  /** Its 26-connected pieces. */
  pieces: number;
  /** Voxels outside the largest piece. */
  strayVoxels: number;
  /**
   * The farthest any other piece lies from the largest, in mm between the nearest voxel centres of their
   * bounding boxes (so never more than the true gap); 0 for one piece.
   */
  strayGapMm: number;
  /**
   * How far the farthest piece lies from the largest along the closest chain of pieces (the longest step,
   * box to box, of the best path from piece to piece), in mm: what parts a stray piece from the rest of the
   * organ, where pieces drawn on alternate slices chain up. Absent past MAX_CHAINED_PIECES pieces (a
   * speckled mask) and in manifests curated before it was measured.
   */
  strayChainGapMm?: number;
  /**
   * Slices (along the third axis) between the organ's first and last that hold none of it, in runs
   * shorter than SHORT_GAP_MM between the slices around them: a contour left out there, or drawn on
   * alternate slices and exported without its interpolation. (Longer runs part a stray piece. Absent in
   * manifests curated before it was measured.)
   */
  gapSlices?: number;
  /** The mandible's: how much of it lies on bone, and the small translation that would seat it best. */
  boneAlignment?: BoneAlignment;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Pieces up to which `strayChainGapMm` is measured (its cost grows with their square). */
export const MAX_CHAINED_PIECES = 500;

/** The distance between the slices around a run of empty ones under which the run is a gap in a contour. */
export const SHORT_GAP_MM = 10;

/**
 * The longest step of the best chains from piece `from` to every other (Prim's tree grown from it: the
 * largest edge it takes), given the distance between two pieces' boxes.
 */
function chainGapMm(boxes: readonly Box3[], from: number, gap: (a: Box3, b: Box3) => number): number {
  const n = boxes.length;
  const reach = boxes.map((b) => gap(b, boxes[from]!));
  const joined = new Uint8Array(n);
  joined[from] = 1;
  let longest = 0;
  for (let added = 1; added < n; added++) {
    let next = -1;
    for (let i = 0; i < n; i++) if (!joined[i] && (next < 0 || reach[i]! < reach[next]!)) next = i;
    joined[next] = 1;
    longest = Math.max(longest, reach[next]!);
    for (let i = 0; i < n; i++) if (!joined[i]) reach[i] = Math.min(reach[i]!, gap(boxes[i]!, boxes[next]!));
  }
  return longest;
}

/** Empty slices between occupied ones, in runs whose occupied neighbours lie less than SHORT_GAP_MM apart. */
function shortGapSlices(onSlice: Uint8Array, sliceMm: number): number {
  let gaps = 0, run = 0;
  for (let k = 0; k < onSlice.length; k++) {
    if (!onSlice[k]) {
      run++;
      continue;
    }
    if (run > 0 && (run + 1) * sliceMm < SHORT_GAP_MM) gaps += run;
    run = 0;
  }
  return gaps;
}

/**
 * The measures of every organ with voxels in `label` (uint8, values 1..9 as ORGANS) on `image`'s HU (the
 * same grid). `boneAlignment: false` skips the mandible's translation search, for contours known to be
 * drawn on this scan (a model's), which the shift check does not judge.
 */
export function organMeasures(
  label: Pick<Volume<Uint8Array>, 'data' | 'shape' | 'spacing' | 'origin' | 'direction'>,
  image: Pick<Volume, 'data' | 'shape'>,
  o: { boneAlignment?: boolean } = {},
): Partial<Record<OrganKey, OrganMeasures>> {
  const { data, shape, spacing, origin, direction } = label;
  if (image.shape.some((n, a) => n !== shape[a])) throw new RangeError(`organMeasures: image ${image.shape.join('x')} and label ${shape.join('x')} differ`);
  const boxes = labelBoundingBoxes(data, shape, ORGANS.length + 1);
  const out: Partial<Record<OrganKey, OrganMeasures>> = {};
  for (const organ of ORGANS) {
    const box = boxes[organ.index];
    if (!box) continue;
    const size = boxShape(box);
    const { labels, sizes } = connectedComponents(cropMask(data, shape, box, organ.index), size, 26);
    const sum: Vec3 = [0, 0, 0];
    let n = 0, hu = 0;
    const pieceBoxes = sizes.map(() => ({ min: [Infinity, Infinity, Infinity], max: [-1, -1, -1] }) as Box3);
    const onSlice = new Uint8Array(size[2]);
    for (let o = 0, k = 0; k < size[2]; k++) {
      for (let j = 0; j < size[1]; j++) {
        for (let i = 0; i < size[0]; i++, o++) {
          const piece = labels[o]!;
          if (piece === 0) continue;
          const at: Vec3 = [i + box.min[0], j + box.min[1], k + box.min[2]];
          hu += image.data[at[0] + shape[0] * (at[1] + shape[1] * at[2])]!;
          onSlice[k] = 1;
          for (let a = 0; a < 3; a++) {
            sum[a] += at[a];
            const b = pieceBoxes[piece]!;
            if (at[a] < b.min[a]) b.min[a] = at[a];
            if (at[a] > b.max[a]) b.max[a] = at[a];
          }
          n++;
        }
      }
    }
    const index = sum.map((s) => s / n);
    const centroidMm = [0, 1, 2].map((r) => round1(origin[r] + [0, 1, 2].reduce((s, a) => s + direction[r * 3 + a] * spacing[a] * index[a], 0))) as Vec3;
    // reduce, not Math.max(...): a speckled mask may hold more pieces than a call takes arguments
    const largest = sizes.reduce((best, size, id) => (size > sizes[best]! ? id : best), 0);
    const boxGapMm = (b: Box3, l: Box3) => Math.hypot(...[0, 1, 2].map((a) => Math.max(0, b.min[a] - l.max[a], l.min[a] - b.max[a]) * spacing[a]));
    const gapMm = (b: Box3) => boxGapMm(b, pieceBoxes[largest]!);
    const chained = sizes.length - 1 <= MAX_CHAINED_PIECES ? { strayChainGapMm: round1(chainGapMm(pieceBoxes.slice(1), largest - 1, boxGapMm)) } : {};
    out[organ.key] = {
      meanHu: round1(hu / n),
      centroidMm,
      pieces: sizes.length - 1,
      strayVoxels: n - sizes[largest]!,
      strayGapMm: round1(pieceBoxes.slice(1).reduce((far, b) => Math.max(far, gapMm(b)), 0)),
      ...chained,
      gapSlices: shortGapSlices(onSlice, spacing[2]),
      ...(organ.key === 'Mandible' && o.boneAlignment !== false ? { boneAlignment: boneAlignment(data, image.data, { shape, spacing, direction }, box, organ.index) } : {}),
    };
  }
  return out;
}
