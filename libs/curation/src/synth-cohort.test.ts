/** The pipeline on the synthetic cohort, checked against its ground truth (written by another module). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { indexToPoint, type Vec3 } from '@anatomynet/data';
import { writeSynthCohort, type SynthTruth } from './synth';
import { curateCohort, type CurateResult } from './cohort';
import { ORGANS } from './organs';
import { buildAnnotationReview } from './review';

let root: string, truth: SynthTruth, result: CurateResult;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'curation-synth-'));
  // Two cases: one DICOM scanned feet first (k towards the feet), one PDDCA.
  truth = await writeSynthCohort({ outDir: join(root, 'in'), cases: 2, seed: 11, matrix: 128, sliceMm: 3, pddcaFraction: 0.5, ffsFraction: 1 });
  result = await curateCohort({ inputs: [join(root, 'in')], outDir: join(root, 'out') });
}, 170_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function truthOf(caseId: string) {
  const map = JSON.parse(readFileSync(join(root, 'out.private', 'source-map.json'), 'utf8'));
  const loc: string = map.cases[caseId].location;
  return truth.cases.find((t) => loc === join(root, 'in', t.dir) || loc.startsWith(join(root, 'in', t.dir) + '/'))!;
}

describe('curation of the synthetic cohort', () => {
  it('curates every case, DICOM and PDDCA', () => {
    expect(result.failed).toEqual([]);
    expect(result.manifest.numCases).toBe(2);
    expect(truth.cases.map((t) => t.patientPosition).sort()).toContain('FFS');
    expect(result.manifest.cases.every((c) => c.synthetic)).toBe(true);
    expect(result.splits.method).toBe('hash'); // synthetic PDDCA-style ids are not the MICCAI benchmark
    expect(readFileSync(join(root, 'out', 'DATASHEET.md'), 'utf8')).toMatch(/- synthetic: 2 cases\. Synthetic head-and-neck phantoms/);
    expect(result.skipped.map((s) => s.reason)).toEqual(['ground truth of a synthetic cohort (not an input image)']);
    expect(new Set(result.manifest.cases.map((c) => c.sourceKind))).toEqual(new Set(['dicom', 'pddca']));
  });

  it('finds every annotated organ with exactly its true voxels (so the crop cut none away)', () => {
    for (const c of result.manifest.cases) {
      const t = truthOf(c.caseId);
      for (const o of ORGANS) {
        const ot = t.organs[o.key];
        if (ot.annotated) {
          expect(c.availability[o.key], `${c.caseId} ${o.key}`).toBe('annotated');
          const lost = c.overlaps.filter((x) => x.a === o.key || x.b === o.key).reduce((s, x) => s + x.voxels, 0);
          expect(c.voxels[o.key], `${c.caseId} ${o.key}`).toBeGreaterThanOrEqual(ot.voxels - lost);
          expect(c.voxels[o.key], `${c.caseId} ${o.key}`).toBeLessThanOrEqual(ot.voxels);
        } else {
          expect(c.availability[o.key], `${c.caseId} ${o.key}`).not.toBe('annotated');
        }
      }
    }
  });

  it('measures each organ where the truth puts it (centre inside its box), on its true CT numbers, and the checks find nothing', () => {
    for (const c of result.manifest.cases) {
      const t = truthOf(c.caseId);
      for (const o of ORGANS) {
        const m = c.measures?.[o.key], ot = t.organs[o.key];
        expect(m === undefined, `${c.caseId} ${o.key}`).toBe(c.voxels[o.key] === 0);
        if (!m) continue;
        m.centroidMm.forEach((x, a) => {
          expect(x, `${c.caseId} ${o.key} axis ${a}`).toBeGreaterThanOrEqual(ot.boxMm!.min[a]! - 0.05);
          expect(x, `${c.caseId} ${o.key} axis ${a}`).toBeLessThanOrEqual(ot.boxMm!.max[a]! + 0.05);
        });
        if (c.voxels[o.key] === ot.voxels) expect(Math.abs(m.meanHu - ot.meanHu), `${c.caseId} ${o.key}`).toBeLessThanOrEqual(0.051); // ours to 0.1 HU, the truth's to 0.001
        expect(m.pieces, `${c.caseId} ${o.key}`).toBe(1);
      }
      // the patient's left is +x in LPS, whichever way the scan ran (one case is feet first)
      for (const side of ['Parotid', 'Submandibular', 'OpticNerve'] as const) {
        const l = c.measures?.[`${side}_L`], r = c.measures?.[`${side}_R`];
        if (l && r) expect(l.centroidMm[0], `${c.caseId} ${side}`).toBeGreaterThan(r.centroidMm[0] + 10);
      }
    }
    expect(result.manifest.annotationFindings).toEqual([]);
  });

  it('removes the chest: the crop ends above the lung apex and holds the top of the head', () => {
    for (const c of result.manifest.cases) {
      const t = truthOf(c.caseId);
      const g = { ...t.geometry };
      const zs = [c.cropBox.start[2], c.cropBox.end[2] - 1].map((k) => indexToPoint(g, [0, 0, k] as Vec3)[2]);
      const sourceZs = [0, t.geometry.shape[2] - 1].map((k) => indexToPoint(g, [0, 0, k] as Vec3)[2]);
      expect(Math.min(...zs), c.caseId).toBeGreaterThan(t.landmarks.lungApexZMm);
      expect(Math.max(...zs), c.caseId).toBeGreaterThanOrEqual(Math.min(t.landmarks.vertexZMm, Math.max(...sourceZs)) - 3);
    }
  });

  it('maps every organ ROI name to its organ and every other ROI to none', () => {
    const names = JSON.parse(readFileSync(join(root, 'out', 'names.json'), 'utf8')) as { name: string; organ: string | null }[];
    const mapped = new Map(names.map((n) => [n.name, n.organ]));
    for (const t of truth.cases) {
      for (const r of t.rois) expect(mapped.get(r.name), r.name).toBe(r.organ ?? null);
    }
  });
});

describe('annotation errors planted in the synthetic cohort', () => {
  let dir: string, planted: SynthTruth, curated: CurateResult;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'curation-synth-errors-'));
    planted = await writeSynthCohort({ outDir: join(dir, 'in'), cases: 6, seed: 5, matrix: 128, sliceMm: 3, pddcaFraction: 0.2, annotationErrors: 5 });
    curated = await curateCohort({ inputs: [join(dir, 'in')], outDir: join(dir, 'out') });
  }, 170_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are each found by the check for them, in the case they were planted in, and nothing else is', () => {
    const check = { 'swapped-sides': 'sides', 'stray-contour': 'stray-piece', 'moved-contour': 'hu', 'shifted-set': 'shift', 'skipped-slice': 'gap' } as const;
    const kinds = planted.cases.map((c) => c.annotationError?.kind);
    expect(kinds.filter(Boolean).sort()).toEqual(['moved-contour', 'shifted-set', 'skipped-slice', 'stray-contour', 'swapped-sides']);
    expect(planted.options.annotationErrors).toBe(5);
    const sources = JSON.parse(readFileSync(join(dir, 'out.private', 'source-map.json'), 'utf8')).cases as Record<string, { location: string }>;
    const truthDir = (caseId: string) => planted.cases.find((t) => sources[caseId]!.location.startsWith(join(dir, 'in', t.dir)))!;
    const found = curated.manifest.annotationFindings!.map((f) => ({ caseId: truthDir(f.caseId).caseId, check: f.check, organs: f.organs }));
    // a shifted structure set moves every organ; the mandible, on its bone, is the one the check sees it by
    const seenBy = (e: NonNullable<SynthTruth['cases'][number]['annotationError']>) => (e.kind === 'shifted-set' ? ['Mandible'] : e.organs);
    const expected = planted.cases.filter((t) => t.annotationError).map((t) => ({ caseId: t.caseId, check: check[t.annotationError!.kind], organs: seenBy(t.annotationError!) }));
    const byCase = (a: { caseId: string }, b: { caseId: string }) => a.caseId.localeCompare(b.caseId);
    expect(found.sort(byCase)).toEqual(expected.sort(byCase));
  });

  it('the review page draws the shifted set\'s mandible as drawn and as the translation found would seat it', () => {
    const { findings } = buildAnnotationReview(join(dir, 'out'), curated.manifest);
    const shift = findings.filter((e) => e.finding.check === 'shift');
    expect(shift).toHaveLength(1);
    expect(shift[0]!.images.map((im) => im.caption.split(':')[0])).toEqual([expect.stringMatching(/^Mandible, axial slice \d+$/), expect.stringMatching(/^Mandible, axial slice \d+ of its largest area$/), 'Mandible, coronal']);
    // the planted 3 mm left and 4 mm anterior to whole voxels of this case, found and drawn back (an HFS case: i left, j posterior)
    const rec = curated.manifest.cases.find((c) => c.caseId === shift[0]!.finding.caseId)!;
    const back = [-Math.round(3 / rec.spacing[0]) * rec.spacing[0], Math.round(4 / rec.spacing[1]) * rec.spacing[1], 0].map((x) => Math.round(x * 10) / 10 + 0);
    expect(rec.direction).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(rec.measures!.Mandible!.boneAlignment!.shiftMm).toEqual(back);
    expect(shift[0]!.images[0]!.caption).toContain(`as drawn green, moved ${Math.hypot(...back).toFixed(1)} mm (LPS ${back.map((x) => x.toFixed(1)).join(', ')}) as the check found red, both yellow`);
    // the other findings keep their images
    for (const e of findings.filter((x) => x.finding.check !== 'shift')) expect(e.images).toHaveLength(e.finding.check === 'sides' ? 1 : 2);
  });
});

describe('a synthetic cohort whose annotations are DICOM SEGs (and whose CTs are Enhanced CT images)', () => {
  let dir: string, asRt: CurateResult, asSeg: CurateResult, segTruth: SynthTruth, asEnhanced: CurateResult, enhancedTruth: SynthTruth;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'curation-synth-seg-'));
    const base = { cases: 3, seed: 7, matrix: 96, sliceMm: 3, pddcaFraction: 0 };
    await writeSynthCohort({ ...base, outDir: join(dir, 'rt') });
    segTruth = await writeSynthCohort({ ...base, outDir: join(dir, 'seg'), segCases: 3 });
    asRt = await curateCohort({ inputs: [join(dir, 'rt')], outDir: join(dir, 'out-rt') });
    asSeg = await curateCohort({ inputs: [join(dir, 'seg')], outDir: join(dir, 'out-seg') });
    enhancedTruth = await writeSynthCohort({ ...base, outDir: join(dir, 'enhanced'), enhancedCases: 3, segCases: 1 });
    asEnhanced = await curateCohort({ inputs: [join(dir, 'enhanced')], outDir: join(dir, 'out-enhanced') });
  }, 240_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('curates the same cases into the same label files as the RTSTRUCTs of the same cohort give', () => {
    expect(segTruth.options.segCases).toBe(3);
    expect(segTruth.cases.every((c) => c.files.seg && c.files.rtstruct === null)).toBe(true);
    expect(asSeg.failed).toEqual([]);
    expect(asSeg.manifest.cases.map((c) => c.caseId)).toEqual(asRt.manifest.cases.map((c) => c.caseId));
    for (const [i, c] of asSeg.manifest.cases.entries()) {
      const r = asRt.manifest.cases[i]!;
      expect(c.availability, c.caseId).toEqual(r.availability);
      expect(c.voxels, c.caseId).toEqual(r.voxels);
      expect(c.voxels).not.toEqual(Object.fromEntries(ORGANS.map((o) => [o.key, 0])));
      const label = (out: string) => readFileSync(join(dir, out, 'labelsTr', `${c.caseId}.nii.gz`));
      expect(label('out-seg').equals(label('out-rt')), c.caseId).toBe(true);
    }
    expect(asSeg.manifest.annotationFindings).toEqual([]);
  });

  it('reads the SEGs, not something else: the same scans, other annotation files', () => {
    for (const [i, c] of asSeg.manifest.cases.entries()) {
      expect(c.imageDigest).toBe(asRt.manifest.cases[i]!.imageDigest);
      expect(c.inputDigest).not.toBe(asRt.manifest.cases[i]!.inputDigest);
    }
    expect(asSeg.skipped.map((s) => s.reason)).toEqual(['ground truth of a synthetic cohort (not an input image)']);
  });

  it('Enhanced CT cases (one file each, frames shuffled; one annotated by SEG) curate to the same images and labels', () => {
    expect(enhancedTruth.options.enhancedCases).toBe(3);
    expect(enhancedTruth.cases.map((c) => [c.enhancedCt, c.files.ct.length])).toEqual([[true, 1], [true, 1], [true, 1]]);
    expect(enhancedTruth.cases.filter((c) => c.files.seg)).toHaveLength(1);
    expect(asEnhanced.failed).toEqual([]);
    expect(asEnhanced.manifest.cases.map((c) => c.caseId)).toEqual(asRt.manifest.cases.map((c) => c.caseId));
    for (const [i, c] of asEnhanced.manifest.cases.entries()) {
      const r = asRt.manifest.cases[i]!;
      expect([c.availability, c.voxels, c.pairing], c.caseId).toEqual([r.availability, r.voxels, 'reference']);
      for (const file of [c.image, c.label]) expect(readFileSync(join(dir, 'out-enhanced', file)).equals(readFileSync(join(dir, 'out-rt', file))), file).toBe(true);
    }
  });
});
