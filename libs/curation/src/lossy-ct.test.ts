/**
 * A case whose CT slices are stored near-lossless (JPEG-LS, NEAR 2, by GDCM): its case fails, naming the
 * option, unless lossy images are accepted; then it curates within 2 HU of its lossless twin, and the case
 * and DATASHEET.md say it was lossy.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNifti } from '@anatomynet/data';
import { curateCohort, type CurateResult } from './cohort';
import { caseCuratedFrom, headNeckPhantom, writeDicomCase } from './testing/phantom';

let root: string, refused: CurateResult, accepted: CurateResult;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'curation-lossy-'));
  const phantom = headNeckPhantom(2);
  writeDicomCase(join(root, 'in', 'L'), phantom, { patientId: 'LOSSY-L', uidSeed: 'll' });
  writeDicomCase(join(root, 'twin', 'T'), phantom, { patientId: 'LOSSY-L', uidSeed: 'll' });
  // a lossless case beside it, so that there is something to publish either way
  writeDicomCase(join(root, 'in', 'G'), headNeckPhantom(3), { patientId: 'LOSSY-G', uidSeed: 'lg' });
  const ct = join(root, 'in', 'L', 'ct');
  for (const f of readdirSync(ct)) {
    const r = spawnSync('gdcmconv', ['--jpegls', '--lossy', '-e', '2', join(ct, f), join(ct, f)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gdcmconv: ${r.stderr}`);
  }
  refused = await curateCohort({ inputs: [join(root, 'in')], outDir: join(root, 'refused') });
  accepted = await curateCohort({ inputs: [join(root, 'in')], outDir: join(root, 'accepted'), acceptLossy: true });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('curating a lossy-compressed CT', () => {
  it('fails its case by default, saying how to accept it', () => {
    expect(refused.manifest.numCases).toBe(1);
    expect(refused.failed).toEqual([expect.objectContaining({ source: expect.stringContaining(join(root, 'in', 'L')), reason: expect.stringMatching(/JPEG-LS Near-Lossless\) is lossy: .*--accept-lossy\)/) })]);
    expect(accepted.manifest.numCases).toBe(2);
  });

  it('with acceptLossy, curates within NEAR of its lossless twin, and the case and the datasheet say so', async () => {
    const c = caseCuratedFrom(accepted, join(root, 'in', 'L'));
    expect(c.warnings).toContainEqual(expect.stringMatching(/^60 slices compressed lossy, read as accepted \(JPEG-LS NEAR 2: 60\)/));
    const twin = await curateCohort({ inputs: [join(root, 'twin')], outDir: join(root, 'twin-out') });
    const t = caseCuratedFrom(twin, join(root, 'twin', 'T'));
    expect([c.shape, c.cropBox, c.voxels]).toEqual([t.shape, t.cropBox, t.voxels]);
    const ours = readNifti(join(root, 'accepted', c.image)).data, theirs = readNifti(join(root, 'twin-out', t.image)).data;
    let worst = 0;
    ours.forEach((v, p) => (worst = Math.max(worst, Math.abs(v - theirs[p]))));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(2);
    expect(readFileSync(join(root, 'accepted', 'DATASHEET.md'), 'utf8')).toContain("1 cases' CT images were compressed lossy: their CT numbers differ from the scan's");
  });
});
