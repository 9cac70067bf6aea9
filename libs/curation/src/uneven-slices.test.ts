/**
 * A case whose CT slices are 4 mm apart, then 5 mm (the phantom's slices moved apart above its middle),
 * with an RTSTRUCT drawn on those slices: curated onto the uniform 4 mm grid, the CT linearly between
 * slices, each plane's annotations from the nearest slice; a manual crop box given in acquired slices
 * lands on the planes that hold them.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evenSlices, pickSlices, readCtSeries, readDicomFile, readNifti, writeDicomFile, type CtSeries, type EvenStack } from '@anatomynet/data';
import { writeRtStruct } from '@anatomynet/rt';
import { curateCohort, type CurateResult } from './cohort';
import { cropVolume } from './crop';
import type { CaseRecord } from './manifest';
import { ORGANS } from './organs';
import { caseCuratedFrom, headNeckPhantom, writeDicomCase, type Phantom } from './testing/phantom';

let root: string, result: CurateResult, phantom: Phantom;
const series = new Map<string, CtSeries>();
/** Source slices of the manual crop box, enclosing every organ with three slices to spare. */
let manualZ: [number, number];

/** The phantom's CT with slice k > 30 moved to 120 + 5 (k - 30) mm above the first; an RTSTRUCT on those slices. */
function unevenCase(dir: string, patientId: string, uidSeed: string): CtSeries {
  writeDicomCase(dir, phantom, { patientId, uidSeed, writeRt: false });
  const files = Array.from({ length: phantom.ct.shape[2] }, (_, k) => join(dir, 'ct', `CT${String(k + 1).padStart(4, '0')}.dcm`));
  files.forEach((path, k) => {
    if (k <= 30) return;
    const f = readDicomFile(path);
    f.dataset.ImagePositionPatient = [-128, -128, -200 + 120 + 5 * (k - 30)].map(String);
    writeDicomFile(path, f.dataset, f.transferSyntaxUID);
  });
  const ct = readCtSeries(files);
  const organs = ORGANS.filter((o) => phantom.masks.has(o.key));
  writeRtStruct(join(dir, 'rs.dcm'), { masks: organs.map((o) => ({ label: o.index, mask: phantom.masks.get(o.key)! })) }, {
    volume: ct.volume, seriesInstanceUID: ct.seriesInstanceUID, studyInstanceUID: ct.studyInstanceUID, frameOfReferenceUID: ct.frameOfReferenceUID,
    sopInstanceUIDs: ct.sopInstanceUIDs, patientId, patientName: `Doe^${patientId}`,
  }, organs.map((o) => ({ label: o.index, name: o.tg263, color: [255, 0, 0] })));
  return ct;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'curation-uneven-'));
  phantom = headNeckPhantom(3);
  const [nx, ny, nz] = phantom.ct.shape;
  let lo = nz, hi = -1;
  for (const m of phantom.masks.values()) m.forEach((x, p) => {
    if (!x) return;
    const k = Math.floor(p / (nx * ny));
    lo = Math.min(lo, k);
    hi = Math.max(hi, k);
  });
  manualZ = [lo - 3, hi + 4];
  series.set('A', unevenCase(join(root, 'in', 'A'), 'UNEVEN-A', 'ua'));
  series.set('M', unevenCase(join(root, 'in', 'M'), 'UNEVEN-M', 'um'));
  const cropFile = join(root, 'crop.json');
  writeFileSync(cropFile, JSON.stringify({ [series.get('M')!.seriesInstanceUID]: { start: [0, 0, manualZ[0]], end: [nx, ny, manualZ[1]] } }));
  mkdirSync(join(root, 'out'));
  result = await curateCohort({ inputs: [join(root, 'in')], outDir: join(root, 'out'), cropFile });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('curating a case whose slice steps vary', () => {
  /** The case curated from input folder `name`. */
  const caseOf = (name: string): CaseRecord => caseCuratedFrom(result, join(root, 'in', name));
  const evenOf = (name: string): EvenStack => evenSlices(series.get(name)!.volume)!;

  it('publishes the CT on the uniform 4 mm grid and each plane\'s labels from the nearest acquired slice', () => {
    const c = caseOf('A');
    const even = evenOf('A');
    expect(series.get('A')!.volume.sliceSpacingUniform).toBe(false);
    expect(even.volume.shape[2]).toBe(67); // 120 + 145 mm at 4 mm
    expect(c.sourceShape).toEqual([64, 64, 67]);
    expect(c.spacing).toEqual([4, 4, 4]);
    expect(c.warnings).toContain(`${even.note}; annotations from the nearest slice`);
    expect(c.cropMethod).toBe('auto');
    const image = readNifti(join(root, 'out', c.image)), label = readNifti(join(root, 'out', c.label));
    expect(image.data).toEqual(cropVolume(even.volume, c.cropBox).data);
    const sliceVoxels = 64 * 64;
    for (const o of ORGANS.filter((x) => phantom.masks.has(x.key))) {
      const expected = cropVolume({ ...even.volume, data: pickSlices(phantom.masks.get(o.key)!, sliceVoxels, even.grid.nearestSlice) }, c.cropBox).data;
      const got = Uint8Array.from(label.data as Uint8Array, (l) => (l === o.index ? 1 : 0));
      expect(got, o.key).toEqual(expected);
      expect(c.voxels[o.key], o.key).toBe(expected.reduce((s, x) => s + x, 0));
    }
    // the published geometry puts plane m where the grid says: 4 mm steps from the first slice
    expect(image.origin[2]).toBeCloseTo(-200 + 4 * c.cropBox.start[2], 6);
    expect(image.spacing[2]).toBe(4);
  });

  it('a manual crop box in acquired slices lands on the planes nearest them', () => {
    const c = caseOf('M');
    const planes = evenOf('M').grid.nearestPlane;
    expect(c.cropMethod).toBe('manual');
    expect(c.cropBox.start[2]).toBe(planes[manualZ[0]]);
    expect(c.cropBox.end[2]).toBe(planes[manualZ[1] - 1] + 1);
    expect(c.warnings.filter((w) => /crop/.test(w))).toEqual([]);
  });
});
