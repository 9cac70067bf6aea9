/** Reading values from naturalized (dcmjs) datasets, which give a sequence, a string or a number in several shapes. */
export type Item = Record<string, unknown>;

/** A naturalized sequence (array, or a single item object) -> items; absent -> []. */
export function items(v: unknown): Item[] {
  if (v === undefined || v === null || v === '') return [];
  if (Array.isArray(v)) return v.filter((x): x is Item => typeof x === 'object' && x !== null);
  if (typeof v === 'object') return [v as Item];
  return [];
}

export function str(v: unknown): string | undefined {
  if (Array.isArray(v)) v = v[0];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object' && v !== null && 'Alphabetic' in v) v = (v as { Alphabetic: unknown }).Alphabetic;
  const s = String(v).replace(/\0/g, '').trim();
  return s === '' ? undefined : s;
}

/** Numeric values from a naturalized DS/IS element: number, numeric string, "a\b\c", or an array of those. */
export function numbers(v: unknown): number[] {
  if (v === undefined || v === null) return [];
  const parts = Array.isArray(v) ? v : typeof v === 'string' ? v.split('\\') : [v];
  return parts.map((x) => (typeof x === 'number' ? x : Number(String(x).trim())));
}
