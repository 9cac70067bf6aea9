/**
 * The paper's masks and weights for missing annotations (eq. 4-6), from annotation availability.
 * Class 0 is background; organs are 1..C-1. `annotated[k]` says whether organ k+1 is annotated.
 */

/** m_i: [C] with m(0) = 1 only if every organ is annotated (eq. 5) and m(c) = annotated (eq. 4). */
export function caseMask(annotated: readonly boolean[]): number[] {
  return [annotated.every(Boolean) ? 1 : 0, ...annotated.map((a) => (a ? 1 : 0))];
}

/** Masks of several cases: [N][C]. */
export function caseMasks(availability: readonly (readonly boolean[])[]): number[][] {
  return availability.map(caseMask);
}

/** How {@link classWeights} scales w(c) = 1 / count(c). */
export type WeightNormalisation = 'none' | 'min-one' | 'mean-one';

/**
 * w(c) = 1 / sum_i m_i(c) over the training cases (eq. 6), background counted by the mask rule (`maskOf`:
 * the paper's {@link caseMask}, or the marginal form's).
 * A class no case annotates gets weight 0 (it can never enter the loss). 'min-one' multiplies by the
 * largest count, so the most annotated class weighs 1 (the public code's 257/count); 'mean-one'
 * scales the non-zero weights to mean 1. @throws RangeError on ragged rows or no cases.
 */
export function classWeights(
  availability: readonly (readonly boolean[])[],
  normalise: WeightNormalisation = 'none',
  maskOf: (annotated: readonly boolean[]) => number[] = caseMask,
): number[] {
  if (availability.length === 0) throw new RangeError('classWeights: no training cases');
  const organs = availability[0].length;
  availability.forEach((row, i) => {
    if (row.length !== organs) throw new RangeError(`classWeights: case ${i} has ${row.length} organs, case 0 has ${organs}`);
  });
  const counts = new Array<number>(organs + 1).fill(0);
  for (const row of availability) maskOf(row).forEach((m, c) => (counts[c] += m));
  const w = counts.map((n) => (n > 0 ? 1 / n : 0));
  const nonzero = w.filter((x) => x > 0);
  if (normalise === 'none' || nonzero.length === 0) return w;
  const scale = normalise === 'min-one' ? 1 / Math.min(...nonzero) : nonzero.length / nonzero.reduce((a, b) => a + b, 0);
  return w.map((x) => x * scale);
}
