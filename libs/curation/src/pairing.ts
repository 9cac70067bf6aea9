/**
 * Pair annotation objects (RTSTRUCTs, DICOM SEGs) with CT series. First by reference: the object names
 * the CT's series and every image it references is in that series. Where the referenced images are
 * absent, fall back to the frame of reference plus geometry (the contours or frames must lie within the
 * CT) and say so in a warning. A CT with several keeps the best-scoring one (most organs), the others
 * are reported.
 */
import type { Vec3 } from '@anatomynet/data';
import { compareStrings } from './names';

export interface Extent {
  min: Vec3;
  max: Vec3;
}

export interface CtSeriesRef {
  seriesInstanceUID: string;
  frameOfReferenceUID: string;
  sopInstanceUIDs: readonly string[];
  /** LPS bounds of the voxel centres, mm, when known. */
  extent?: Extent;
}

export interface RtStructRef {
  path: string;
  /** What the file is, for messages (default RTSTRUCT). */
  kind?: 'RTSTRUCT' | 'SEG';
  frameOfReferenceUID?: string;
  referencedSeriesUIDs: readonly string[];
  referencedSopInstanceUIDs: readonly string[];
  /** LPS bounds of all contour points (a SEG: of its frames), mm (null: none). */
  extent?: Extent | null;
  /** Higher is preferred when several RTSTRUCTs pair with one CT (e.g. organs mapped). */
  score?: number;
}

export interface Pair {
  rtPath: string;
  seriesInstanceUID: string;
  method: 'reference' | 'frame-of-reference';
  warnings: string[];
}

export interface PairingResult {
  pairs: Pair[];
  unpairedRt: { path: string; reason: string }[];
  unpairedCt: { seriesInstanceUID: string; reason: string }[];
}

/** Slack allowed when checking contours lie within a CT, mm (half a thick slice plus rounding). */
const EXTENT_TOLERANCE_MM = 3;

export function extentInside(inner: Extent, outer: Extent, tol = EXTENT_TOLERANCE_MM): boolean {
  return [0, 1, 2].every((a) => inner.min[a] >= outer.min[a] - tol && inner.max[a] <= outer.max[a] + tol);
}

export function pairStructureSets(cts: readonly CtSeriesRef[], rts: readonly RtStructRef[]): PairingResult {
  const candidates: (Pair & { score: number; kind: string })[] = [];
  const unpairedRt: PairingResult['unpairedRt'] = [];
  const sortedCts = [...cts].sort((a, b) => compareStrings(a.seriesInstanceUID, b.seriesInstanceUID));
  for (const rt of [...rts].sort((a, b) => compareStrings(a.path, b.path))) {
    const score = rt.score ?? 0;
    const kind = rt.kind ?? 'RTSTRUCT';
    const bySeries = sortedCts.find(
      (ct) =>
        rt.referencedSeriesUIDs.includes(ct.seriesInstanceUID) &&
        rt.referencedSopInstanceUIDs.length > 0 &&
        rt.referencedSopInstanceUIDs.every((s) => ct.sopInstanceUIDs.includes(s)),
    );
    if (bySeries) {
      candidates.push({ rtPath: rt.path, seriesInstanceUID: bySeries.seriesInstanceUID, method: 'reference', warnings: [], score, kind });
      continue;
    }
    if (!rt.frameOfReferenceUID) {
      unpairedRt.push({ path: rt.path, reason: `${kind} references no CT image present and names no frame of reference` });
      continue;
    }
    const sameFor = sortedCts.filter((ct) => ct.frameOfReferenceUID === rt.frameOfReferenceUID);
    if (sameFor.length === 0) {
      unpairedRt.push({ path: rt.path, reason: `frame of reference matches no CT series` });
      continue;
    }
    const fits = sameFor.filter((ct) => !rt.extent || !ct.extent || extentInside(rt.extent, ct.extent));
    if (fits.length === 0) {
      unpairedRt.push({ path: rt.path, reason: `${kind === 'SEG' ? 'frames' : 'contours'} lie outside every CT series of its frame of reference` });
      continue;
    }
    // Prefer a series the object names, then the one with most slices.
    const chosen = [...fits].sort(
      (a, b) =>
        Number(rt.referencedSeriesUIDs.includes(b.seriesInstanceUID)) - Number(rt.referencedSeriesUIDs.includes(a.seriesInstanceUID)) ||
        b.sopInstanceUIDs.length - a.sopInstanceUIDs.length,
    )[0];
    const why = rt.referencedSopInstanceUIDs.length === 0 ? `the ${kind} references no CT images` : `the CT images the ${kind} references are absent`;
    const warnings = [`paired by frame of reference and geometry: ${why}`];
    if (fits.length > 1) warnings.push(`${fits.length} CT series share the frame of reference and contain the ${kind === 'SEG' ? 'frames' : 'contours'}; chose the one with most slices`);
    candidates.push({ rtPath: rt.path, seriesInstanceUID: chosen.seriesInstanceUID, method: 'frame-of-reference', warnings, score, kind });
  }
  // One annotation object per CT: the best score, then reference over fallback, then path order.
  const pairs: Pair[] = [];
  const bySeriesUid = new Map<string, (Pair & { score: number; kind: string })[]>();
  for (const c of candidates) bySeriesUid.set(c.seriesInstanceUID, [...(bySeriesUid.get(c.seriesInstanceUID) ?? []), c]);
  for (const [, list] of [...bySeriesUid].sort((a, b) => compareStrings(a[0], b[0]))) {
    list.sort((a, b) => b.score - a.score || Number(b.method === 'reference') - Number(a.method === 'reference') || compareStrings(a.rtPath, b.rtPath));
    const [best, ...rest] = list;
    pairs.push({ rtPath: best.rtPath, seriesInstanceUID: best.seriesInstanceUID, method: best.method, warnings: best.warnings });
    for (const r of rest) unpairedRt.push({ path: r.rtPath, reason: `another ${best.kind === r.kind ? r.kind : `${best.kind} (${best.rtPath})`} for the same CT series was used` });
  }
  const paired = new Set(pairs.map((p) => p.seriesInstanceUID));
  const unpairedCt = sortedCts
    .filter((ct) => !paired.has(ct.seriesInstanceUID))
    .map((ct) => ({ seriesInstanceUID: ct.seriesInstanceUID, reason: 'no RTSTRUCT or SEG pairs with this CT series' }));
  unpairedRt.sort((a, b) => compareStrings(a.path, b.path));
  return { pairs, unpairedRt, unpairedCt };
}
