/**
 * DICOM SEG as the annotation of a CT series: curated like an RTSTRUCT (the same voxels), preferred when
 * it maps more organs than an RTSTRUCT of the same CT, and reported when it cannot be used.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCtSeries, readDicomFile, scanDicomTree, writeDicomFile } from '@anatomynet/data';
import { buildDicomSeg, writeDicomSeg, type ParsedSeg, type SegSegmentSpec } from '@anatomynet/rt';
import { curateCohort, type CurateResult } from './cohort';
import { segmentNames } from './load';
import { mapName, type NameReportRow } from './names';
import { ORGANS, type OrganKey } from './organs';
import { headNeckPhantom, writeDicomCase, type Phantom } from './testing/phantom';

let root: string, result: CurateResult;
const phantoms: Record<string, Phantom> = {};

/** The phantom's organs as a SEG on the CT series written under `<dir>/ct`, labelled by TG-263 name. */
function segOf(dir: string, ph: Phantom, change?: (ds: Record<string, any>) => void): string {
  const ct = readCtSeries(scanDicomTree(join(dir, 'ct')).ctSeries[0]!.files);
  const organs = ORGANS.filter((o) => ph.masks.has(o.key));
  const specs: SegSegmentSpec[] = organs.map((o, i) => ({ label: i + 1, name: o.tg263, color: [255, 0, 0], type: { value: o.snomed.value, scheme: 'SCT', meaning: o.snomed.meaning } }));
  const masks = organs.map((o, i) => ({ label: i + 1, mask: ph.masks.get(o.key)! }));
  const path = join(dir, 'seg.dcm');
  if (!change) {
    writeDicomSeg(path, { masks }, ct, specs);
  } else {
    const ds = buildDicomSeg({ masks }, ct, specs);
    change(ds);
    writeDicomFile(path, ds);
  }
  return path;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'curation-seg-'));
  const input = join(root, 'in');
  // A: CT + SEG only, the SEG deflated (Deflated Explicit VR Little Endian, by dcmtk). B: CT with an RTSTRUCT of two organs and a SEG of all nine. C: a SEG without its
  // SegmentSequence. D: a SEG whose brainstem frames lie on other axes and whose mandible frames are offset by a fraction of a voxel.
  phantoms.A = headNeckPhantom(1);
  writeDicomCase(join(input, 'A'), phantoms.A, { patientId: 'SEG-A', uidSeed: 'sa', writeRt: false });
  const segA = segOf(join(input, 'A'), phantoms.A);
  execFileSync('dcmconv', ['+td', segA, `${segA}.deflated`]);
  renameSync(`${segA}.deflated`, segA);
  phantoms.B = headNeckPhantom(2);
  const two = headNeckPhantom(2, ['BrainStem', 'Mandible']);
  writeDicomCase(join(input, 'B'), two, { patientId: 'SEG-B', uidSeed: 'sb' });
  segOf(join(input, 'B'), phantoms.B);
  phantoms.C = headNeckPhantom(3);
  writeDicomCase(join(input, 'C'), phantoms.C, { patientId: 'SEG-C', uidSeed: 'sc', writeRt: false });
  segOf(join(input, 'C'), phantoms.C, (ds) => delete ds.SegmentSequence);
  phantoms.D = headNeckPhantom(4, ['BrainStem', 'Mandible']);
  writeDicomCase(join(input, 'D'), phantoms.D, { patientId: 'SEG-D', uidSeed: 'sd', writeRt: false });
  segOf(join(input, 'D'), phantoms.D, (ds) => {
    // the brainstem's frames on other axes (rows and columns swapped); the mandible's shifted a third of a
    // voxel across (resampled: each voxel takes the pixel nearest its centre, the same voxels)
    for (const g of ds.PerFrameFunctionalGroupsSequence) {
      if (g.SegmentIdentificationSequence[0].ReferencedSegmentNumber === 1) g.PlaneOrientationSequence = [{ ImageOrientationPatient: ['0', '1', '0', '1', '0', '0'] }];
      else g.PlanePositionSequence[0].ImagePositionPatient[0] = String(Number(g.PlanePositionSequence[0].ImagePositionPatient[0]) + 0.3 * Number(ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing[1]));
    }
  });
  // E: labels that say nothing ("Segment_1") or a planning structure, over codes that name an organ.
  phantoms.E = headNeckPhantom(5, ['BrainStem', 'Parotid_L', 'Parotid_R']);
  writeDicomCase(join(input, 'E'), phantoms.E, { patientId: 'SEG-E', uidSeed: 'se', writeRt: false });
  const ctE = readCtSeries(scanDicomTree(join(input, 'E', 'ct')).ctSeries[0]!.files);
  const coded = (key: OrganKey) => {
    const o = ORGANS.find((x) => x.key === key)!;
    return { type: { value: o.snomed.value, scheme: 'SCT', meaning: o.snomed.meaning }, ...(o.laterality ? { typeModifier: { value: '0', scheme: 'SCT', meaning: o.laterality } } : {}) };
  };
  writeDicomSeg(join(input, 'E', 'seg.dcm'), { masks: (['BrainStem', 'Parotid_L', 'Parotid_R'] as const).map((k, i) => ({ label: i + 1, mask: phantoms.E!.masks.get(k)! })) }, ctE, [
    { label: 1, name: 'Brainstem', color: [1, 2, 3], ...coded('BrainStem') },
    { label: 2, name: 'Segment_1', color: [1, 2, 3], ...coded('Parotid_L') },
    { label: 3, name: 'PTV_Parotid', color: [1, 2, 3], ...coded('Parotid_R') },
  ]);
  result = await curateCohort({ inputs: [input], outDir: join(root, 'out') });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const count = (m: Uint8Array) => m.reduce((n, v) => n + v, 0);

describe('curating DICOM SEG annotations', () => {
  it('a CT with a SEG, deflated or not: every organ with exactly its voxels, paired by reference', () => {
    expect(readDicomFile(join(root, 'in', 'A', 'seg.dcm'), { pixelData: false }).transferSyntaxUID).toBe('1.2.840.10008.1.2.1.99');
    const bySeg = result.manifest.cases.filter((x) => x.structures.length === 9);
    expect(bySeg).toHaveLength(2); // A, and B whose SEG won over its RTSTRUCT
    for (const c of bySeg) {
      expect(c.pairing).toBe('reference');
      expect(c.structures.map((s) => s.name)).toEqual(ORGANS.map((o) => o.tg263));
      for (const o of ORGANS) expect(c.voxels[o.key], o.key).toBe(count(phantoms.A.masks.get(o.key as OrganKey)!));
    }
    // the phantoms' spheres do not depend on the seed, so A's counts are B's
    for (const o of ORGANS) expect(count(phantoms.B.masks.get(o.key)!)).toBe(count(phantoms.A.masks.get(o.key)!));
  });

  it('a CT with an RTSTRUCT of two organs and a SEG of nine: the SEG is used, the RTSTRUCT reported', () => {
    const skippedRt = result.skipped.find((s) => s.paths[0] === join(root, 'in', 'B', 'rs.dcm'));
    expect(skippedRt).toMatchObject({ kind: 'rtstruct', reason: `another SEG (${join(root, 'in', 'B', 'seg.dcm')}) for the same CT series was used` });
  });

  it('an unusable SEG is reported with the reason, and its CT as unpaired', () => {
    const seg = result.skipped.find((s) => s.paths[0] === join(root, 'in', 'C', 'seg.dcm'));
    expect(seg).toMatchObject({ kind: 'seg', reason: expect.stringMatching(/^unusable SEG: .*seg\.dcm: SegmentSequence is missing or empty$/) });
    expect(result.skipped.some((s) => s.kind === 'ct-series' && s.paths[0]!.startsWith(join(root, 'in', 'C', 'ct')) && s.reason === 'no RTSTRUCT or SEG pairs with this CT series')).toBe(true);
  });

  it('frames on other axes are not placed (an error of that structure, named with the reason); frames offset by a fraction of a voxel are resampled, and said so', () => {
    const d = result.manifest.cases.find((x) => x.structures.some((s) => s.status === 'error'))!;
    expect(d.structures.find((s) => s.name === 'Brainstem')).toMatchObject({
      organ: 'BrainStem', status: 'error', reason: expect.stringMatching(/^nothing could be placed: \d+ of \d+ frames not on the CT's in-plane axes \(rotated or flipped\)$/),
    });
    expect(d.availability.BrainStem).toBe('not-annotated');
    expect(d.structures.find((s) => s.name === 'Bone_Mandible')).toMatchObject({ organ: 'Mandible', status: 'mapped', voxels: count(phantoms.D!.masks.get('Mandible')!) });
    expect(d.warnings).toContainEqual(expect.stringMatching(/^Bone_Mandible: (\d+) of \1 frames resampled to the CT's voxels by nearest neighbour \(another pixel spacing or a fractional offset\)$/));
    expect(d.availability.Mandible).toBe('annotated');
    expect(result.manifest.numCases).toBe(4);
  });
});

describe('a SEG segment whose label names no organ', () => {
  it('is mapped by its codes, and said so; a planning structure is not, whatever its codes', () => {
    const e = result.manifest.cases.find((x) => x.structures.some((s) => s.name === 'Segment_1'))!;
    expect(e.structures).toEqual([
      expect.objectContaining({ name: 'Brainstem', organ: 'BrainStem', status: 'mapped', voxels: count(phantoms.E!.masks.get('BrainStem')!) }),
      expect.objectContaining({ name: 'Segment_1', organ: 'Parotid_L', status: 'mapped', reason: 'by its SNOMED CT codes: Parotid gland, Left', voxels: count(phantoms.E!.masks.get('Parotid_L')!) }),
      expect.objectContaining({ name: 'PTV_Parotid', organ: null, status: 'planning' }),
    ]);
    expect(e.availability).toMatchObject({ BrainStem: 'annotated', Parotid_L: 'annotated', Parotid_R: 'not-annotated' });
  });

  it('names.json reports it as curation mapped it, with the codes that named it (none for a planning label)', () => {
    const names = JSON.parse(readFileSync(join(root, 'out', 'names.json'), 'utf8')) as NameReportRow[];
    expect(names.filter((n) => n.name === 'Segment_1' || n.name === 'PTV_Parotid')).toEqual([
      { name: 'PTV_Parotid', cases: 1, organ: null, status: 'planning', reason: expect.any(String) },
      { name: 'Segment_1', codedName: 'Parotid gland, Left', cases: 1, organ: 'Parotid_L', status: 'mapped', reason: 'by its SNOMED CT codes: Parotid gland, Left' },
    ]);
    // a label that names its organ is one row of that name, whatever its codes (A, B, D and E's SEGs)
    expect(names.filter((n) => n.name === 'Brainstem')).toEqual([{ name: 'Brainstem', cases: 4, organ: 'BrainStem', status: 'mapped', reason: '' }]);
  });
});

describe('segmentNames', () => {
  it('a segment without a label is named by its codes, else by its number; the name table maps the coded name', () => {
    const seg = {
      segments: [
        { number: 1, label: 'Brainstem' },
        { number: 2, label: '', type: { value: '45289007', scheme: 'SCT', meaning: 'Parotid gland' }, typeModifier: { value: '7771000', scheme: 'SCT', meaning: 'Left' } },
        { number: 3, label: '' },
      ],
    } as unknown as ParsedSeg;
    expect(segmentNames(seg)).toEqual(['Brainstem', 'Parotid gland, Left', 'Segment 3']);
    expect(segmentNames(seg).map((n) => mapName(n).organ)).toEqual(['BrainStem', 'Parotid_L', null]);
  });
});
