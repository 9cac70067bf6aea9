/**
 * The curator's per-case checks on a model's contours (`contourFindings`): a phantom's organs as the
 * segmentation, then the errors a model makes planted in it, each found by its check, in patient space.
 */
import { describe, expect, test } from 'vitest';
import type { Volume } from '@anatomynet/data';
import { buildContourReview, ORGANS, renderContourReviewHtml, type OrganKey } from '@anatomynet/curation';
import { headNeckPhantom, ORGAN_SPHERES, PHANTOM_SHAPE, sphereMask } from '@anatomynet/curation/testing';
import { contourFindings } from './segment';

const phantom = headNeckPhantom(3);
const index = (key: OrganKey) => ORGANS.find((o) => o.key === key)!.index;

/** The phantom's organs as a label map, with some organs drawn elsewhere (centre in voxels). */
function labelsOf(moved: Partial<Record<OrganKey, [number, number, number]>> = {}, extra: [OrganKey, [number, number, number], number][] = []): Uint8Array {
  const labels = new Uint8Array(phantom.ct.data.length);
  for (const o of ORGANS) {
    const s = ORGAN_SPHERES[o.key];
    sphereMask(PHANTOM_SHAPE, moved[o.key] ?? s.c, s.r).forEach((v, p) => v && (labels[p] = o.index));
  }
  for (const [key, c, r] of extra) sphereMask(PHANTOM_SHAPE, c, r).forEach((v, p) => v && (labels[p] = index(key)));
  return labels;
}

/** The same scan stored with i reversed and a direction that says so: the same patient, the same LPS. */
function mirroredStorage<T extends Int16Array | Uint8Array>(data: T): T {
  const [nx, ny, nz] = PHANTOM_SHAPE;
  const out = data.slice() as T;
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) out[nx - 1 - i + nx * (j + ny * k)] = data[i + nx * (j + ny * k)]!;
  return out;
}
const flippedCt: Volume<Int16Array> = {
  ...phantom.ct,
  data: mirroredStorage(phantom.ct.data),
  origin: [phantom.ct.origin[0] + (PHANTOM_SHAPE[0] - 1) * 4, phantom.ct.origin[1], phantom.ct.origin[2]],
  direction: [-1, 0, 0, 0, 1, 0, 0, 0, 1],
};

describe('contourFindings', () => {
  test("the phantom's own organs: nothing to check", () => {
    expect(contourFindings(labelsOf(), phantom.ct)).toEqual([]);
    expect(contourFindings(mirroredStorage(labelsOf()), flippedCt)).toEqual([]);
  });

  test('parotids with their sides confused: a sides finding naming both, in the words for a model', () => {
    const swapped = labelsOf({ Parotid_L: ORGAN_SPHERES.Parotid_R.c, Parotid_R: ORGAN_SPHERES.Parotid_L.c });
    const found = contourFindings(swapped, phantom.ct);
    expect(found).toEqual([{ check: 'sides', organs: ['Parotid_L', 'Parotid_R'], message: expect.stringMatching(/^Parotid_L lies to the patient's right of Parotid_R .*: the model confused the sides\?$/) }]);
    // patient space decides, not storage: the same swap stored mirrored (the left parotid now at the
    // larger i) is found the same
    expect(contourFindings(mirroredStorage(swapped), flippedCt)).toEqual(found);
  });

  test('the review page draws each finding as the curator\'s review draws an annotation\'s, then every organ', () => {
    const swapped = labelsOf({ Parotid_L: ORGAN_SPHERES.Parotid_R.c, Parotid_R: ORGAN_SPHERES.Parotid_L.c }, [['Submandibular_L', [36, 30, 28], 1]]);
    const found = contourFindings(swapped, phantom.ct);
    expect(found.map((f) => f.check)).toEqual(['sides', 'stray-piece']);
    const review = buildContourReview(phantom.ct, swapped, found, 'patient.nii.gz');
    // sides: one axial slice with both parotids; a stray piece: the organ's axial slice and its coronal projection
    expect(review.findings.map((e) => [e.finding.caseId, e.finding.check, e.images.length])).toEqual([['patient.nii.gz', 'sides', 1], ['patient.nii.gz', 'stray-piece', 2]]);
    expect(review.findings[0]!.images[0]!.caption).toMatch(/^axial slice \d+: Parotid_L green, Parotid_R red; the patient's right on the image's left$/);
    expect(review.images.map((im) => im.caption.split(':')[0])).toEqual(['coronal', expect.stringMatching(/^axial slice \d+, the most organ voxels; the patient's right on the image's left$/)]);
    const html = renderContourReviewHtml({ input: '/data/patient.nii.gz', models: ['/runs/a'] }, review);
    expect(html.match(/<section>/g)).toHaveLength(2);
    expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(5);
    expect(html).toContain('2 findings to look at first');
    // nothing to check: the organs alone
    const clean = renderContourReviewHtml({ input: 'x', models: ['m'] }, buildContourReview(phantom.ct, labelsOf(), [], 'x'));
    expect(clean).toContain('nothing found');
    expect(clean.match(/<img /g)).toHaveLength(2);
  });

  test('a false positive far from its organ: a stray-piece finding with its size and distance', () => {
    const found = contourFindings(labelsOf({}, [['Submandibular_L', [36, 30, 28], 1]]), phantom.ct);
    expect(found).toEqual([{
      check: 'stray-piece', organs: ['Submandibular_L'],
      message: expect.stringMatching(/^Submandibular_L: 7 of its \d+ voxels \(0\.45 mL\) lie in 1 other piece, up to [\d.]+ mm from the largest: a false positive away from the organ\?$/),
    }]);
  });

  test('a mandible drawn on air: a CT-number finding', () => {
    const found = contourFindings(labelsOf({ Mandible: [32, 4, 36] }), phantom.ct);
    expect(found).toEqual([{ check: 'hu', organs: ['Mandible'], message: expect.stringMatching(/^Mandible: mean -1000\.0 HU inside its contour, where bone is above 300: the contour off the organ \(a scan unlike those the model learned from\)\?$/) }]);
  });

  test('an organ far from the volumes of the model\'s training cases: a volume finding; none without them', () => {
    // the phantom's parotids: 33 voxels of 4 mm, 2.11 mL; its brainstem the same
    const trainingMl = { Parotid_L: [9, 9.5, 10, 10, 10.5, 11, 9.8, 10.2], BrainStem: [2, 2.1, 2.2, 1.9, 2, 2.05, 2.15, 1.95] };
    expect(contourFindings(labelsOf(), phantom.ct, trainingMl)).toEqual([{
      check: 'volume', organs: ['Parotid_L'],
      message: "Parotid_L: 2.11 mL, 1/4.7 of the median of 10.00 mL over the model's 8 training cases: the organ partly missed?",
    }]);
    expect(contourFindings(labelsOf(), phantom.ct, { Parotid_L: trainingMl.Parotid_L.slice(0, 7) })).toEqual([]);
  });

  test('an organ the model did not find is no finding', () => {
    const labels = labelsOf();
    labels.forEach((v, p) => v === index('Parotid_R') && (labels[p] = 0));
    expect(contourFindings(labels, phantom.ct)).toEqual([]);
  });
});
