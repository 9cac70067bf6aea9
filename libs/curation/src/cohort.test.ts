import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDicomFile, readNifti, writeDicomFile, writeNrrd } from '@anatomynet/data';
import { curateCohort, type CurateResult } from './cohort';
import { validateDataset } from './validate';
import { CurationInputError, NothingToPublishError } from './errors';
import { loadCase, openDataset } from './dataset';
import { buildAnnotationReview } from './review';
import { headNeckPhantom, sphereMask, writeDicomCase, writePddcaCase } from './testing/phantom';
import { ORGANS } from './organs';
import { sha256Hex } from './hashing';

let root: string;
let dicomIn: string, pddcaIn: string;
let first: CurateResult;

function listTree(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).flatMap((e) => {
    const r = rel ? `${rel}/${e}` : e;
    return statSync(join(dir, r)).isDirectory() ? listTree(dir, r) : [r];
  }).sort();
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'curation-'));
  dicomIn = join(root, 'dicom');
  pddcaIn = join(root, 'pddca');
  // DICOM: a case paired by reference, one by frame of reference (references absent), a CT without
  // RTSTRUCT, an RTSTRUCT of a foreign frame, an unreadable file and an RTSTRUCT without preamble.
  const a = writeDicomCase(join(dicomIn, 'PAT-A', 'study', 'x'), headNeckPhantom(1), { patientId: 'PAT-A', uidSeed: 'a' });
  writeDicomCase(join(dicomIn, 'PAT-B'), headNeckPhantom(2, ['BrainStem', 'Mandible', 'Parotid_L', 'Parotid_R']), {
    patientId: 'PAT-B', uidSeed: 'b', absentReferences: true, identityRemoved: false,
    names: { BrainStem: 'Brain Stem', Mandible: 'mandible', Parotid_L: 'Parotid Lt', Parotid_R: 'Parotid-Rt' },
  });
  writeDicomCase(join(dicomIn, 'PAT-C'), headNeckPhantom(3), { patientId: 'PAT-C', uidSeed: 'c', writeRt: false });
  writeDicomCase(join(dicomIn, 'PAT-D'), headNeckPhantom(4), { patientId: 'PAT-D', uidSeed: 'd', writeCt: false, foreignFrame: true });
  writeFileSync(join(dicomIn, 'notes.txt'), 'not a DICOM file\n');
  // a scanner's localizer (scout) stored in PAT-A's axial series: a coronal projection, left out
  const scout = readDicomFile(join(dicomIn, 'PAT-A', 'study', 'x', 'ct', 'CT0001.dcm'));
  Object.assign(scout.dataset, { ImageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'], SOPInstanceUID: '2.25.99001', ImageOrientationPatient: ['1', '0', '0', '0', '0', '-1'] });
  writeDicomFile(join(dicomIn, 'PAT-A', 'study', 'x', 'ct', 'scout.dcm'), scout.dataset, scout.transferSyntaxUID);
  writeFileSync(join(dicomIn, 'PAT-A', 'rs-no-preamble.dcm'), readFileSync(a.rtPath).subarray(132));
  // PDDCA: a full case, an offsite test case missing the chiasm with an empty optic nerve, and a case
  // whose mandible mask is multi-valued.
  writePddcaCase(join(pddcaIn, '0522c0001'), headNeckPhantom(5));
  const t = headNeckPhantom(6, ORGANS.map((o) => o.key).filter((k) => k !== 'Chiasm'));
  t.masks.set('OpticNerve_L', new Uint8Array(t.masks.get('OpticNerve_L')!.length));
  writePddcaCase(join(pddcaIn, '0522c0555'), t);
  const m = headNeckPhantom(7);
  writePddcaCase(join(pddcaIn, '0522c0002'), m);
  const bad = m.masks.get('Mandible')!.slice();
  bad[bad.indexOf(1)] = 2;
  writeNrrd(join(pddcaIn, '0522c0002', 'structures', 'Mandible.nrrd'), { ...m.ct, data: bad });
  first = await curateCohort({ inputs: [dicomIn, pddcaIn], outDir: join(root, 'out1') });
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('curateCohort', () => {
  it('publishes the nnU-Net v2 raw layout', () => {
    const files = listTree(join(root, 'out1'));
    expect(files).toEqual([
      'DATASHEET.md', 'SHA256SUMS', 'dataset.json',
      ...first.manifest.cases.map((c) => c.image), ...first.manifest.cases.map((c) => c.label),
      'manifest.json', 'names.json', 'splits.json',
    ].sort());
    const ds = JSON.parse(readFileSync(join(root, 'out1', 'dataset.json'), 'utf8'));
    expect(ds.channel_names).toEqual({ '0': 'CT' });
    expect(ds.labels).toEqual({ background: 0, BrainStem: 1, Chiasm: 2, Mandible: 3, OpticNerve_L: 4, OpticNerve_R: 5, Parotid_L: 6, Parotid_R: 7, Submandibular_L: 8, Submandibular_R: 9 });
    expect(ds.numTraining).toBe(5);
    expect(ds.file_ending).toBe('.nii.gz');
  });

  it('curates the good cases, pairing by reference and by frame of reference with a warning', () => {
    const dicom = first.manifest.cases.filter((c) => c.sourceKind === 'dicom');
    expect(dicom.map((c) => c.pairing).sort()).toEqual(['frame-of-reference', 'reference']);
    const fb = dicom.find((c) => c.pairing === 'frame-of-reference')!;
    expect(fb.warnings.some((w) => w.startsWith('paired by frame of reference and geometry'))).toBe(true);
    expect(fb.availability).toMatchObject({ BrainStem: 'annotated', Mandible: 'annotated', Parotid_L: 'annotated', Chiasm: 'not-annotated' });
    expect(first.manifest.identityNotRemoved).toEqual([fb.caseId]);
  });

  it('records availability, volumes and the crop per case', () => {
    const pd = first.manifest.cases.filter((c) => c.sourceKind === 'pddca');
    expect(pd).toHaveLength(3);
    expect(first.manifest.cases.every((c) => !c.synthetic)).toBe(true);
    const all = first.manifest.cases;
    const test = all.find((c) => c.availability.Chiasm === 'not-annotated' && c.sourceKind === 'pddca')!;
    expect(test.availability.OpticNerve_L).toBe('annotated-empty');
    expect(test.voxels.OpticNerve_L).toBe(0);
    expect(test.availability.BrainStem).toBe('annotated');
    // BrainStem sphere r=2: 33 voxels of 64 mm³.
    expect(test.voxels.BrainStem).toBe(33);
    expect(test.volumeMl.BrainStem).toBeCloseTo(33 * 0.064, 6);
    expect(test.cropBox.start[2]).toBeGreaterThan(20); // chest removed
    expect(test.shape[2]).toBe(test.cropBox.end[2] - test.cropBox.start[2]);
    const img = readNifti(join(root, 'out1', test.image)), lab = readNifti(join(root, 'out1', test.label));
    expect(img.data).toBeInstanceOf(Int16Array);
    expect(lab.data).toBeInstanceOf(Uint8Array);
    expect(img.shape).toEqual(test.shape);
    // HU unchanged: the crop's voxel (0,0,0) is the source voxel at the box start.
    const src = headNeckPhantom(6).ct;
    const [i, j, k] = test.cropBox.start;
    expect(img.data[0]).toBe(src.data[i + 64 * (j + 64 * k)]);
  });

  it('reports a multi-valued structure as an error for that structure and curates the rest', () => {
    const bad = first.manifest.cases.filter((x) => x.structures.some((s) => s.status === 'error'));
    expect(bad).toHaveLength(1);
    const c = bad[0];
    expect(c.structures.find((s) => s.name === 'Mandible')).toMatchObject({ organ: 'Mandible', status: 'error' });
    expect(c.skipped).toEqual([{ item: 'structure Mandible', reason: 'multi-valued mask (values 1, 2); a structure mask must be binary' }]);
    expect(c.availability.Mandible).toBe('not-annotated');
    expect(c.availability.Parotid_R).toBe('annotated');
  });

  it('reports every bad input with a reason and accounts for every file', () => {
    const reasons = first.skipped.map((s) => [s.paths[0].slice(root.length), s.reason]);
    const has = (path: RegExp, reason: RegExp) => reasons.some(([p, r]) => path.test(p) && reason.test(r));
    expect(has(/notes\.txt$/, /unreadable as DICOM/)).toBe(true);
    expect(has(/PAT-A\/study\/x\/ct\/scout\.dcm$/, /^DICOM CT: a localizer \(scout\) image, not a slice$/)).toBe(true);
    expect(has(/rs-no-preamble\.dcm$/, /DICM/)).toBe(true);
    expect(has(/PAT-C\/ct\//, /no RTSTRUCT or SEG pairs/)).toBe(true);
    expect(has(/PAT-D\/rs\.dcm$/, /frame of reference matches no CT/)).toBe(true);
    const inputs = JSON.parse(readFileSync(join(root, 'out1.private', 'inputs.json'), 'utf8'));
    const total = listTree(dicomIn).length + listTree(pddcaIn).length;
    expect(inputs.files).toHaveLength(total);
    expect(first.manifest.inputs.files).toBe(total);
    expect(first.manifest.inputs.used + first.manifest.inputs.skipped).toBe(total);
  });

  it('writes no patient name, id, path or UID into the published files; the source map lies outside', () => {
    for (const f of ['manifest.json', 'names.json', 'splits.json', 'DATASHEET.md', 'dataset.json']) {
      const text = readFileSync(join(root, 'out1', f), 'utf8');
      expect(text).not.toMatch(/PAT-|Doe|0522c0|2\.25\.|\/tmp/);
    }
    const map = JSON.parse(readFileSync(join(root, 'out1.private', 'source-map.json'), 'utf8'));
    expect(Object.keys(map.ids.cases)).toContain('pddca:0522c0555');
  });

  it('puts the MICCAI 2015 offsite case in the test split', () => {
    const map = JSON.parse(readFileSync(join(root, 'out1.private', 'source-map.json'), 'utf8'));
    const id = map.ids.cases['pddca:0522c0555'];
    expect(first.splits.test).toEqual([id]);
    expect(first.splits.method).toBe('miccai2015-offsite');
  });

  it('opens for the trainer: index files and one case', () => {
    const ds = openDataset(join(root, 'out1'));
    expect(ds.manifest.numCases).toBe(5);
    expect([...ds.splits.train, ...ds.splits.validation, ...ds.splits.test].sort()).toEqual([...ds.cases.keys()].sort());
    const id = ds.manifest.cases[0].caseId;
    const { image, label, record } = loadCase(ds, id);
    expect(image.shape).toEqual(record.shape);
    expect(label.shape).toEqual(record.shape);
    expect(() => loadCase(ds, 'hn_9999')).toThrow(/no case hn_9999/);
    expect(() => openDataset(join(root, 'nowhere'))).toThrow(/dataset\.json: missing/);
  });

  it('writes a names report of every raw name', () => {
    const names = JSON.parse(readFileSync(join(root, 'out1', 'names.json'), 'utf8'));
    expect(names.find((n: any) => n.name === 'Parotid Lt')).toMatchObject({ cases: 1, organ: 'Parotid_L', status: 'mapped' });
    expect(names.find((n: any) => n.name === 'BrainStem')).toMatchObject({ cases: 3, organ: 'BrainStem' });
  });

  it('is deterministic: a second run elsewhere gives byte-identical published files', async () => {
    await curateCohort({ inputs: [pddcaIn, dicomIn], outDir: join(root, 'out2') });
    const a = listTree(join(root, 'out1')), b = listTree(join(root, 'out2'));
    expect(b).toEqual(a);
    for (const f of a) expect(sha256Hex(readFileSync(join(root, 'out2', f))), f).toBe(sha256Hex(readFileSync(join(root, 'out1', f))));
  });

  it('skips unchanged cases on a re-run and redoes only a changed one', async () => {
    const before = readFileSync(join(root, 'out1', 'manifest.json'));
    expect(first.manifest).toMatchObject({ version: 1 });
    expect(first.manifest.previous).toBeUndefined();
    expect(readFileSync(join(root, 'out1', 'DATASHEET.md'), 'utf8')).toContain('Version 1: the first published in this folder.');
    const again = await curateCohort({ inputs: [dicomIn, pddcaIn], outDir: join(root, 'out1') });
    expect(again.curated).toEqual([]);
    expect(again.reused).toHaveLength(5);
    expect(again.versionBefore).toBe(1);
    expect(readFileSync(join(root, 'out1', 'manifest.json')).equals(before)).toBe(true);
    const ph = headNeckPhantom(5);
    writeNrrd(join(pddcaIn, '0522c0001', 'structures', 'Chiasm.nrrd'), { ...ph.ct, data: new Uint8Array(ph.ct.data.length) });
    const changed = await curateCohort({ inputs: [dicomIn, pddcaIn], outDir: join(root, 'out1') });
    expect(changed.curated).toHaveLength(1);
    const [was, now] = [again, changed].map((r) => r.manifest.cases.find((c) => c.caseId === changed.curated[0])!);
    expect(now.availability.Chiasm).toBe('annotated-empty');
    // other contours of the same scan: new input digest, the same image digest
    expect(now.inputDigest).not.toBe(was.inputDigest);
    expect(now.imageDigest).toBe(was.imageDigest);
    // a new version, naming the one it replaced by the digest runs trained on it record
    expect(changed.manifest.version).toBe(2);
    expect(changed.manifest.previous).toEqual({ version: 1, manifestDigest: sha256Hex(before), added: [], removed: [], changed: [now.caseId], splits: 'kept', moved: [] });
    expect(changed.splits).toEqual(again.splits);
    expect(readFileSync(join(root, 'out1', 'DATASHEET.md'), 'utf8')).toContain(`Version 2, replacing version 1 (manifest sha256 \`${sha256Hex(before)}\``);
    const digests = changed.manifest.cases.map((c) => c.imageDigest);
    expect(new Set(digests).size).toBe(digests.length);
    expect(digests.every((d) => /^[0-9a-f]{64}$/.test(d ?? ''))).toBe(true);
  });

  it('a new patient makes a new version that keeps every earlier case in its split; taking it away again another', async () => {
    const v2 = readFileSync(join(root, 'out1', 'manifest.json'));
    const v2Splits = JSON.parse(readFileSync(join(root, 'out1', 'splits.json'), 'utf8'));
    writePddcaCase(join(pddcaIn, '0522c0003'), headNeckPhantom(8));
    const grown = await curateCohort({ inputs: [dicomIn, pddcaIn], outDir: join(root, 'out1') });
    expect(grown.curated).toHaveLength(1);
    const added = grown.curated[0];
    expect(grown.manifest).toMatchObject({ version: 3, previous: { version: 2, manifestDigest: sha256Hex(v2), added: [added], removed: [], changed: [], splits: 'kept', moved: [] } });
    for (const set of ['train', 'validation', 'test'] as const) expect(grown.splits[set].filter((id) => id !== added)).toEqual(v2Splits[set]);
    const v3 = readFileSync(join(root, 'out1', 'manifest.json'));
    const same = await curateCohort({ inputs: [dicomIn, pddcaIn], outDir: join(root, 'out1') });
    expect(same).toMatchObject({ versionBefore: 3, manifest: { version: 3 } });
    expect(readFileSync(join(root, 'out1', 'manifest.json')).equals(v3)).toBe(true);
    rmSync(join(pddcaIn, '0522c0003'), { recursive: true });
    const shrunk = await curateCohort({ inputs: [dicomIn, pddcaIn], outDir: join(root, 'out1') });
    expect(shrunk.manifest).toMatchObject({ version: 4, previous: { version: 3, manifestDigest: sha256Hex(v3), added: [], removed: [added], changed: [] } });
    expect(shrunk.removed).toEqual([added]);
  });
});

const nibabel = existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', 'import nibabel']).status === 0;

describe('published NIfTI read by nibabel (independent reader)', () => {
  it.skipIf(!nibabel)('has the manifest geometry (RAS affine = LPS flipped), int16 HU, uint8 labels with the manifest counts', () => {
    const script = `
import json, sys, nibabel as nib, numpy as np
out = []
for img, lab in zip(sys.argv[1::2], sys.argv[2::2]):
    i, l = nib.load(img), nib.load(lab)
    li = np.asarray(l.dataobj)
    out.append({"shape": list(i.shape), "dtype": str(i.get_data_dtype()), "ldtype": str(l.get_data_dtype()),
                "affine": i.affine.tolist(), "laffine": l.affine.tolist(),
                "counts": [int((li == v).sum()) for v in range(10)],
                "centres": [(l.affine @ np.append(np.argwhere(li == v).mean(axis=0), 1))[:3].tolist() if (li == v).any() else None for v in range(10)]})
print(json.dumps(out))`;
    const cases = first.manifest.cases;
    const r = spawnSync('/usr/bin/python3', ['-c', script, ...cases.flatMap((c) => [join(root, 'out2', c.image), join(root, 'out2', c.label)])], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout);
    cases.forEach((c, n) => {
      const g = got[n];
      expect(g.shape).toEqual(c.shape);
      expect(g.dtype).toBe('int16');
      expect(g.ldtype).toBe('uint8');
      const d = c.direction, sp = c.spacing, o = c.origin;
      const flip = [-1, -1, 1];
      for (let row = 0; row < 3; row++) {
        for (let col = 0; col < 3; col++) expect(g.affine[row][col]).toBeCloseTo(flip[row] * d[row * 3 + col] * sp[col], 4);
        expect(g.affine[row][3]).toBeCloseTo(flip[row] * o[row], 3);
      }
      expect(g.laffine).toEqual(g.affine);
      expect(g.counts.slice(1)).toEqual(ORGANS.map((o) => c.voxels[o.key]));
      // the annotation checks' organ centres, from nibabel's affine (RAS: x and y negated)
      for (const organ of ORGANS) {
        const ras = g.centres[organ.index];
        const mine = c.measures?.[organ.key]?.centroidMm;
        expect(mine === undefined, `${c.caseId} ${organ.key}`).toBe(ras === null);
        if (mine) mine.forEach((x, a) => expect(Math.abs(x - flip[a] * ras[a]), `${c.caseId} ${organ.key}`).toBeLessThanOrEqual(0.05 + 1e-9));
      }
    });
  });
});

describe('annotation checks on curated cases', () => {
  it('find the swapped sides, the stray piece and the contour off its bone, and nothing in the good cases (a mirrored voxel order included)', async () => {
    const dir = join(root, 'checks');
    writeDicomCase(join(dir, 'PAT-GOOD'), headNeckPhantom(11), { patientId: 'PAT-GOOD', uidSeed: 'good' });
    writeDicomCase(join(dir, 'PAT-SWAP'), headNeckPhantom(12), { patientId: 'PAT-SWAP', uidSeed: 'swap', names: { Parotid_L: 'Parotid_R', Parotid_R: 'Parotid_L' } });
    const stray = headNeckPhantom(13);
    const mandible = stray.masks.get('Mandible')!;
    sphereMask(stray.ct.shape, [32, 22, 46], 1).forEach((v, p) => v && (mandible[p] = 1)); // a sphere 6 slices (24 mm) above its top
    writePddcaCase(join(dir, '0522c0013'), stray);
    const moved = headNeckPhantom(15);
    moved.masks.set('Mandible', sphereMask(moved.ct.shape, [32, 14, 36], 3)); // 32 mm in front of the bone, in the air
    const { seriesUid: movedSeries } = writeDicomCase(join(dir, 'PAT-MOVED'), moved, { patientId: 'PAT-MOVED', uidSeed: 'moved' });
    // the patient's left at small i (voxel order mirrored in x): the same anatomy, so no finding
    const m = headNeckPhantom(14);
    const nx = m.ct.shape[0];
    const mirror = <T extends Int16Array | Uint8Array>(a: T) => a.map((_, p) => a[nx - 1 - (p % nx) + nx * Math.floor(p / nx)]!) as T;
    writePddcaCase(join(dir, '0522c0014'), {
      ct: { ...m.ct, data: mirror(m.ct.data), origin: [m.ct.origin[0] + (nx - 1) * m.ct.spacing[0], m.ct.origin[1], m.ct.origin[2]], direction: [-1, 0, 0, 0, 1, 0, 0, 0, 1] },
      masks: new Map([...m.masks].map(([k, v]) => [k, mirror(v)])),
    });
    const r = await curateCohort({ inputs: [dir], outDir: join(root, 'checks-out') });
    const sources = JSON.parse(readFileSync(join(root, 'checks-out.private', 'source-map.json'), 'utf8')).cases as Record<string, { location: string }>;
    const where = (id: string) => sources[id]!.location;
    const found = r.manifest.annotationFindings!.map((f) => [where(f.caseId).match(/PAT-\w+|0522c\d+/)![0], f.check, f.organs]);
    expect(found.sort((a, b) => String(a[0]).localeCompare(String(b[0])))).toEqual([
      ['0522c0013', 'stray-piece', ['Mandible']],
      ['PAT-MOVED', 'hu', ['Mandible']],
      ['PAT-SWAP', 'sides', ['Parotid_L', 'Parotid_R']],
    ]);
    const mirrored = r.manifest.cases.find((c) => where(c.caseId).includes('0522c0014'))!;
    expect(mirrored.direction[0]).toBe(-1);
    expect(mirrored.measures!.Parotid_L!.centroidMm[0]).toBeGreaterThan(mirrored.measures!.Parotid_R!.centroidMm[0]);
    const strayCase = r.manifest.cases.find((c) => where(c.caseId).includes('0522c0013'))!;
    expect(strayCase.measures!.Mandible).toMatchObject({ pieces: 2, strayGapMm: 24 });
    const sheet = readFileSync(join(root, 'checks-out', 'DATASHEET.md'), 'utf8');
    expect(sheet).toContain('- 3 annotation findings in 3 cases (Annotation checks, below).');
    expect(sheet).toMatch(/\| hn_\d{4} \| hu \| Mandible \| Mandible: mean -1000\.0 HU inside its contour, where bone is above 300/);
    expect(sheet).toMatch(/\| hn_\d{4} \| sides \| Parotid_L, Parotid_R \| Parotid_L lies to the patient's right of Parotid_R/);

    // the review page's images: both sides in one axial slice; an axial and a coronal view of each other organ
    const review = buildAnnotationReview(join(root, 'checks-out'), r.manifest).findings;
    expect(review.map((e) => [where(e.finding.caseId).match(/PAT-\w+|0522c\d+/)![0], e.images.length, e.problem])).toEqual(
      r.manifest.annotationFindings!.map((f) => [where(f.caseId).match(/PAT-\w+|0522c\d+/)![0], f.check === 'sides' ? 1 : 2, undefined]),
    );
    expect(review.flatMap((e) => e.images.map((im) => im.dataUri.slice(0, 22)))).toEqual(Array(5).fill('data:image/png;base64,'));

    // the physicist's answer: a names file section per case (by case id, PDDCA folder name or CT series UID)
    const swapId = r.manifest.cases.find((c) => where(c.caseId).includes('PAT-SWAP'))!.caseId;
    const manifestBefore = readFileSync(join(root, 'checks-out', 'manifest.json'));
    writeFileSync(join(root, 'fix-typo.json'), JSON.stringify({ hn_0999: { Mandible: 'ignore' } }));
    await expect(curateCohort({ inputs: [dir], outDir: join(root, 'checks-out'), namesFile: join(root, 'fix-typo.json') })).rejects.toThrow(/fix-typo\.json: "hn_0999" names no case of the inputs/);
    expect(readFileSync(join(root, 'checks-out', 'manifest.json')).equals(manifestBefore)).toBe(true);
    writeFileSync(join(root, 'fix.json'), JSON.stringify({ [swapId]: { Parotid_L: 'Parotid_R', Parotid_R: 'Parotid_L' }, '0522c0013': { Mandible: 'ignore' }, [movedSeries]: { Bone_Mandible: 'ignore' } }));
    const fixed = await curateCohort({ inputs: [dir], outDir: join(root, 'checks-out'), namesFile: join(root, 'fix.json') });
    const movedId = r.manifest.cases.find((c) => where(c.caseId).includes('PAT-MOVED'))!.caseId;
    expect(fixed.manifest.annotationFindings).toEqual([]);
    expect(fixed.manifest.caseNameOverrides).toEqual([swapId, strayCase.caseId, movedId].sort());
    expect(readFileSync(join(root, 'checks-out', 'DATASHEET.md'), 'utf8')).toContain(`- 3 cases had their structure names mapped by a names file section of their own (hand corrections: ${[swapId, strayCase.caseId, movedId].sort().join(', ')})`);
    expect(r.manifest.caseNameOverrides).toBeUndefined();
    expect(fixed.curated.sort()).toEqual([swapId, strayCase.caseId, movedId].sort());
    expect(fixed.manifest.previous).toMatchObject({ version: 1, changed: [swapId, strayCase.caseId, movedId].sort() });
    const swapped = fixed.manifest.cases.find((c) => c.caseId === swapId)!;
    expect(swapped.measures!.Parotid_L!.centroidMm[0]).toBeGreaterThan(swapped.measures!.Parotid_R!.centroidMm[0]);
    expect(fixed.manifest.cases.find((c) => c.caseId === strayCase.caseId)!.availability.Mandible).toBe('not-annotated');
  }, 60_000);
});

describe('validateDataset', () => {
  it('names a folder that is not there', async () => {
    expect(await validateDataset(join(root, 'nope'))).toMatchObject({ ok: false, problems: [`no such folder ${join(root, 'nope')}`] });
  });

  it('passes a fresh dataset and catches a tampered file', async () => {
    const dir = join(root, 'out2');
    const ok = await validateDataset(dir);
    expect(ok.problems).toEqual([]);
    expect(ok.ok).toBe(true);
    const label = first.manifest.cases[0].label;
    const bytes = readFileSync(join(dir, label));
    bytes[bytes.length - 20] ^= 0xff;
    writeFileSync(join(dir, label), bytes);
    const bad = await validateDataset(dir);
    expect(bad.ok).toBe(false);
    expect(bad.problems.some((p) => p === `${label}: checksum mismatch`)).toBe(true);
  });

  it('catches labels that contradict availability even when checksums are redone', async () => {
    const dir = join(root, 'out3');
    mkdirSync(dir);
    for (const f of listTree(join(root, 'out1'))) { mkdirSync(join(dir, f, '..'), { recursive: true }); copyFileSync(join(root, 'out1', f), join(dir, f)); }
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const c = m.cases.find((x: any) => x.availability.Chiasm !== 'annotated');
    c.availability.BrainStem = 'not-annotated';
    const text = JSON.stringify(m, null, 2) + '\n';
    writeFileSync(join(dir, 'manifest.json'), text);
    const sums = readFileSync(join(dir, 'SHA256SUMS'), 'utf8').replace(/^[0-9a-f]{64} {2}manifest\.json$/m, `${sha256Hex(text)}  manifest.json`);
    writeFileSync(join(dir, 'SHA256SUMS'), sums);
    const r = await validateDataset(dir);
    expect(r.problems).toEqual([`case ${c.caseId}: BrainStem is not-annotated but has ${c.voxels.BrainStem} voxels`]);
  });

  it('catches organ measures the labels do not have, and findings the checks would not make', async () => {
    const dir = join(root, 'out4');
    cpSync(join(root, 'out1'), dir, { recursive: true });
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const c = m.cases.find((x: any) => x.measures.Parotid_L && x.measures.Parotid_R);
    [c.measures.Parotid_L, c.measures.Parotid_R] = [c.measures.Parotid_R, c.measures.Parotid_L];
    // NIfTI's float32 geometry may put a recomputed centre one rounding step away: not a problem
    const other = m.cases.find((x: any) => x !== c && x.measures.BrainStem);
    other.measures.BrainStem.centroidMm[2] = Math.round((other.measures.BrainStem.centroidMm[2] + 0.1) * 10) / 10;
    const text = JSON.stringify(m, null, 2) + '\n';
    writeFileSync(join(dir, 'manifest.json'), text);
    writeFileSync(join(dir, 'SHA256SUMS'), readFileSync(join(dir, 'SHA256SUMS'), 'utf8').replace(/^[0-9a-f]{64} {2}manifest\.json$/m, `${sha256Hex(text)}  manifest.json`));
    expect((await validateDataset(dir)).problems).toEqual([
      `case ${c.caseId}: the label's Parotid_L, Parotid_R lie elsewhere, in other pieces or on other CT numbers than the manifest's measures say`,
      'manifest.json: annotationFindings differ from what the annotation checks find in its cases',
    ]);
  });
});

describe('a case whose CT cannot be read', () => {
  it('is reported with the reason and the run finishes with the other cases', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curation-bad-'));
    try {
      writeDicomCase(join(dir, 'in', 'P1'), headNeckPhantom(8), { patientId: 'P1', uidSeed: 'p1' });
      writePddcaCase(join(dir, 'in', 'pddca', '0522c0010'), headNeckPhantom(9));
      const slice = join(dir, 'in', 'P1', 'ct', readdirSync(join(dir, 'in', 'P1', 'ct')).sort()[10]);
      const bytes = readFileSync(slice);
      writeFileSync(slice, bytes.subarray(0, bytes.length - 3000)); // pixel data cut short
      const r = await curateCohort({ inputs: [join(dir, 'in')], outDir: join(dir, 'out') });
      expect(r.manifest.numCases).toBe(1);
      expect(r.failed).toHaveLength(1);
      expect(r.failed[0].reason).toContain(slice);
      const item = r.skipped.find((s) => s.reason.startsWith('case failed'))!;
      expect(item.paths).toContain(slice);
      // Published reasons name no path.
      const m = readFileSync(join(dir, 'out', 'manifest.json'), 'utf8');
      expect(m).toContain('case failed');
      expect(m).not.toContain(dir);
      expect((await validateDataset(join(dir, 'out'))).ok).toBe(true);

      // Nothing curated, or an input that is not there: an error, and the published dataset untouched.
      const published = () => listTree(join(dir, 'out')).map((f) => `${f} ${sha256Hex(readFileSync(join(dir, 'out', f)))}`);
      const before = published();
      const none = curateCohort({ inputs: [join(dir, 'in', 'P1')], outDir: join(dir, 'out') });
      await expect(none).rejects.toBeInstanceOf(NothingToPublishError);
      await expect(none).rejects.toMatchObject({ failed: [{ reason: expect.stringContaining(slice) }] });
      await expect(none).rejects.toThrow(/nothing published, all 1 cases found failed/);
      const typo = join(dir, 'in', 'P2');
      await expect(curateCohort({ inputs: [join(dir, 'in', 'pddca'), typo], outDir: join(dir, 'out') }))
        .rejects.toThrow(new CurationInputError(typo, 'no such input folder (check --input)'));
      expect(published()).toEqual(before);

      // A source left out keeps its id in the private source map, so no later case can take it.
      const ids = () => JSON.parse(readFileSync(join(dir, 'out.private', 'source-map.json'), 'utf8')).ids.cases;
      const all = ids();
      const pddcaOnly = await curateCohort({ inputs: [join(dir, 'in', 'pddca')], outDir: join(dir, 'out') });
      expect(pddcaOnly.manifest.numCases).toBe(1);
      expect(ids()).toEqual(all);
      expect(Object.keys(all)).toHaveLength(2);
      // a published case whose source is gone is removed from the next version, and said so
      writePddcaCase(join(dir, 'more', '0522c0011'), headNeckPhantom(12));
      const grown = await curateCohort({ inputs: [join(dir, 'in', 'pddca'), join(dir, 'more')], outDir: join(dir, 'out') });
      expect([grown.manifest.numCases, grown.removed.length]).toEqual([2, 0]);
      const added = grown.curated[0];
      const shrunk = await curateCohort({ inputs: [join(dir, 'in', 'pddca')], outDir: join(dir, 'out') });
      expect(shrunk.removed).toEqual([added]);
      expect(shrunk.manifest.cases.map((c) => c.caseId)).not.toContain(added);
      expect(existsSync(join(dir, 'out', 'imagesTr', `${added}_0000.nii.gz`))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('an output folder this curator did not write', () => {
  it('is refused before anything in it is replaced or removed', async () => {
    const other = join(root, 'someone-elses');
    mkdirSync(join(other, 'imagesTr'), { recursive: true });
    writeFileSync(join(other, 'imagesTr', 'case_0000.nii.gz'), 'theirs');
    writeFileSync(join(other, 'dataset.json'), '{"name": "theirs"}');
    await expect(curateCohort({ inputs: [pddcaIn], outDir: other })).rejects.toThrow(
      new CurationInputError(other, 'the output folder holds files and no dataset of @anatomynet/curator (manifest.json missing or unreadable); publishing would replace and remove files there: give a new or empty folder'));
    expect(listTree(other)).toEqual(['dataset.json', 'imagesTr/case_0000.nii.gz']);
    expect(readFileSync(join(other, 'dataset.json'), 'utf8')).toBe('{"name": "theirs"}');
    expect(existsSync(`${other}.private`)).toBe(false);
  });

  it('a published dataset whose private source map is missing is refused: its case ids would be numbered afresh', async () => {
    const moved = join(root, 'moved-without-private');
    cpSync(join(root, 'out2'), moved, { recursive: true });
    const before = listTree(moved).map((f) => [f, sha256Hex(readFileSync(join(moved, f)))]);
    await expect(curateCohort({ inputs: [dicomIn, pddcaIn], outDir: moved })).rejects.toThrow(
      new CurationInputError(`${moved}.private`, `no source-map.json, which keeps the case ids of the dataset published in ${moved} (version 1): restore the private folder (or give it with --private), or curate into a new folder`),
    );
    expect(listTree(moved).map((f) => [f, sha256Hex(readFileSync(join(moved, f)))])).toEqual(before);
    // given its private folder, it is the same dataset again
    cpSync(join(root, 'out2.private'), join(root, 'moved.private'), { recursive: true });
    const again = await curateCohort({ inputs: [dicomIn, pddcaIn], outDir: moved, privateDir: join(root, 'moved.private') });
    expect(again.versionBefore).toBe(1);
  });
});

describe('a CT not in Hounsfield units', () => {
  it('fails that case with the reason (a rescale never applied) and curates the others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curation-hu-'));
    try {
      const ph = headNeckPhantom(10);
      writePddcaCase(join(dir, 'in', '0522c0020'), { ...ph, ct: { ...ph.ct, data: ph.ct.data.map((v) => v + 1024) } });
      writePddcaCase(join(dir, 'in', '0522c0021'), headNeckPhantom(11));
      const r = await curateCohort({ inputs: [join(dir, 'in')], outDir: join(dir, 'out') });
      expect(r.manifest.numCases).toBe(1);
      expect(r.failed).toHaveLength(1);
      expect(r.failed[0].reason).toMatch(new RegExp(`${join(dir, 'in', '0522c0020', 'img.nrrd')}: the image does not look like a CT in Hounsfield units \\(values \\d+\\.\\.\\d+: no air`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('manual crop file', () => {
  it('overrides the automatic box, still widened (with a warning) to keep every organ', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curation-crop-'));
    try {
      writePddcaCase(join(dir, 'in', '0522c0020'), headNeckPhantom(10));
      writePddcaCase(join(dir, 'in', '0522c0021'), headNeckPhantom(11));
      // Case 0522c0020: a box that holds every organ; 0522c0021: one that cuts the brainstem (k 42..46).
      writeFileSync(join(dir, 'crop.json'), JSON.stringify({
        '0522c0020': { start: [10, 10, 20], end: [54, 54, 58] },
        '0522c0021': { start: [10, 10, 20], end: [54, 54, 44] },
      }));
      const r = await curateCohort({ inputs: [join(dir, 'in')], outDir: join(dir, 'out'), cropFile: join(dir, 'crop.json') });
      const [a, b] = r.manifest.cases;
      expect(a.cropMethod).toBe('manual');
      expect(a.cropBox).toEqual({ start: [10, 10, 20], end: [54, 54, 58] });
      expect(a.warnings).toEqual([]);
      expect(b.cropMethod).toBe('manual');
      expect(b.warnings).toContain('crop widened to keep BrainStem inside');
      expect(b.cropBox.end[2]).toBeGreaterThanOrEqual(47);
      expect(b.voxels.BrainStem).toBe(33);
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ x: { start: [0, 0], end: [1, 1, 1] } }));
      await expect(curateCohort({ inputs: [join(dir, 'in')], outDir: join(dir, 'out2'), cropFile: join(dir, 'bad.json') })).rejects.toThrow(/bad\.json: entry "x"/);
      await expect(curateCohort({ inputs: [join(dir, 'in')], outDir: join(dir, 'in', 'ds') })).rejects.toThrow(/must not contain one another/);
      // The same input given twice: each case once.
      const twice = await curateCohort({ inputs: [join(dir, 'in'), join(dir, 'in')], outDir: join(dir, 'out3') });
      expect(twice.manifest.numCases).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
