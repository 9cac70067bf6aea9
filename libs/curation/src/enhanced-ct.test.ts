/**
 * Cases whose CT is one Enhanced CT image (multi-frame, pydicom's, frames shuffled): with an RTSTRUCT
 * whose contours name their frames, and with a SEG whose frames carry only their source frame. Each
 * curates to exactly what the same phantom curates to from a single-frame series.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCtSeries, readNifti, SOP_ENHANCED_CT_IMAGE, writeDicomFile, type CtSeries } from '@anatomynet/data';
import { buildDicomSeg, writeRtStruct, type RtCtReference } from '@anatomynet/rt';
import { curateCohort, type CurateResult } from './cohort';
import type { CaseRecord } from './manifest';
import { ORGANS } from './organs';
import { caseCuratedFrom, headNeckPhantom, writeDicomCase, type Phantom } from './testing/phantom';

const here = dirname(fileURLToPath(import.meta.url));
let root: string, result: CurateResult, phantom: Phantom;

/** Writes the phantom's CT as single-frame files under `scratch`, then as one Enhanced CT in `<dir>/ct`; returns it read. */
function enhancedCase(dir: string, scratch: string, patientId: string, uidSeed: string): CtSeries {
  writeDicomCase(scratch, phantom, { patientId, uidSeed, writeRt: false });
  mkdirSync(join(dir, 'ct'), { recursive: true });
  const file = join(dir, 'ct', 'enhanced.dcm');
  execFileSync('/usr/bin/python3', [join(here, '..', '..', 'data', 'src', 'testing', 'make_enhanced_ct.py'), join(scratch, 'ct'), file, 'shuffle', 'rescale']);
  return readCtSeries([file]);
}

const reference = (s: CtSeries, patientId: string): RtCtReference => ({
  volume: s.volume, seriesInstanceUID: s.seriesInstanceUID, studyInstanceUID: s.studyInstanceUID, frameOfReferenceUID: s.frameOfReferenceUID,
  sopInstanceUIDs: s.sopInstanceUIDs, frameNumbers: s.frameNumbers!, sopClassUID: s.sopClassUID, patientId, patientName: `Doe^${patientId}`,
});

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'curation-enhanced-'));
  const input = join(root, 'in');
  phantom = headNeckPhantom(6);
  const organs = ORGANS.filter((o) => phantom.masks.has(o.key));
  const masks = organs.map((o) => ({ label: o.index, mask: phantom.masks.get(o.key)! }));
  // S: the single-frame series with its RTSTRUCT, what the others must match
  writeDicomCase(join(input, 'S'), phantom, { patientId: 'ENH-S', uidSeed: 'es' });
  // R: Enhanced CT + RTSTRUCT naming each contour's frame
  const r = enhancedCase(join(input, 'R'), join(root, 'scratch-r'), 'ENH-R', 'er');
  expect(r.sopClassUID).toBe(SOP_ENHANCED_CT_IMAGE);
  writeRtStruct(join(input, 'R', 'rs.dcm'), { masks }, reference(r, 'ENH-R'), organs.map((o) => ({ label: o.index, name: o.tg263, color: [255, 0, 0] })));
  // G: Enhanced CT + SEG whose frames name only their source image and frame (no plane positions)
  const g = enhancedCase(join(input, 'G'), join(root, 'scratch-g'), 'ENH-G', 'eg');
  const seg = buildDicomSeg({ masks }, reference(g, 'ENH-G'), organs.map((o) => ({ label: o.index, name: o.tg263, color: [255, 0, 0], type: { value: o.snomed.value, scheme: 'SCT', meaning: o.snomed.meaning } })));
  for (const frame of seg.PerFrameFunctionalGroupsSequence as Record<string, unknown>[]) delete frame.PlanePositionSequence;
  writeDicomFile(join(input, 'G', 'seg.dcm'), seg);
  result = await curateCohort({ inputs: [input], outDir: join(root, 'out') });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('curating Enhanced CT cases', () => {
  /** The case curated from input folder `name`. */
  const caseOf = (name: string): CaseRecord => caseCuratedFrom(result, join(root, 'in', name));
  it('an RTSTRUCT on its frames and a SEG placed by source frame curate to the single-frame case: image, labels and voxels', () => {
    expect(result.manifest.numCases).toBe(3);
    const single = caseOf('S');
    const singleImage = readNifti(join(root, 'out', single.image)), singleLabel = readNifti(join(root, 'out', single.label));
    for (const id of ['R', 'G']) {
      const c = caseOf(id);
      expect(c.pairing, id).toBe('reference');
      expect(c.structures.map((s) => [s.name, s.status]), id).toEqual(single.structures.map((s) => [s.name, s.status]));
      expect(c.voxels, id).toEqual(single.voxels);
      expect([c.shape, c.spacing, c.origin, c.direction], id).toEqual([single.shape, single.spacing, single.origin, single.direction]);
      expect(readNifti(join(root, 'out', c.image)).data, id).toEqual(singleImage.data);
      expect(readNifti(join(root, 'out', c.label)).data, id).toEqual(singleLabel.data);
    }
    expect(Object.values(single.voxels).filter((v) => v > 0)).toHaveLength(phantom.masks.size);
  });
});
