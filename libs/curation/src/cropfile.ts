/**
 * Manual crop file: JSON `{ "<case>": { "start": [i, j, k], "end": [i, j, k] } }`, voxel indices of the
 * source CT, start inclusive, end exclusive. `<case>` is the published case id, the PDDCA folder name
 * (0522c0001) or the CT SeriesInstanceUID. A manual box overrides the automatic crop; organs outside it
 * still widen it, with a warning.
 */
import type { Vec3 } from '@anatomynet/data';
import type { CropBox } from './crop';
import { CurationInputError } from './errors';

export function parseCropFile(text: string, path = 'crop file'): Map<string, CropBox> {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new CurationInputError(path, `not valid JSON (${(e as Error).message})`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new CurationInputError(path, 'expected a JSON object of case -> {start, end}');
  const out = new Map<string, CropBox>();
  for (const [key, v] of Object.entries(obj as Record<string, any>)) {
    const ok = (a: unknown): a is Vec3 => Array.isArray(a) && a.length === 3 && a.every((x) => Number.isInteger(x) && x >= 0);
    if (!v || !ok(v.start) || !ok(v.end)) throw new CurationInputError(path, `entry "${key}": start and end must be three non-negative integers each`);
    if ([0, 1, 2].some((a) => v.end[a] <= v.start[a])) throw new CurationInputError(path, `entry "${key}": end must exceed start on every axis`);
    out.set(key, { start: [...v.start] as Vec3, end: [...v.end] as Vec3 });
  }
  return out;
}
