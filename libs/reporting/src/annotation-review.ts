/**
 * The annotation review page (`curator review`): for each finding of the curator's annotation checks,
 * the slices a physicist needs to judge it before opening the case in a planning system: an axial slice
 * through the organ (for swapped sides, the organ named left in green and the one named right in red),
 * and a coronal view with the organ's whole extent projected onto it (stray pieces, contours moved off
 * their organ). One offline HTML file, images embedded.
 */
import { join } from 'node:path';
import { esc } from './render-util';
import type { AnnotationFindingView, ManifestView } from './dataset';
import { readNiftiPreview, toRadiologicalView, type PreviewVoxels } from './nifti-preview';
import { renderOverlay } from './overlay';
import { REPORT_ORGANS } from './organs';
import { encodePngRgb } from './png';
import { PAGE_CSS } from './render-page';

export interface ReviewImage {
  caption: string;
  dataUri: string;
  width: number;
  height: number;
}

export interface ReviewEntry {
  finding: AnnotationFindingView;
  /** Where the case came from (the private source map), when known. */
  source?: string;
  images: ReviewImage[];
  /** Why no image could be drawn (an unreadable file...). */
  problem?: string;
}

const SOFT_WINDOW: [number, number] = [-160, 240];
const BONE_WINDOW: [number, number] = [-450, 1050];

const png = (rgb: Uint8Array, width: number, height: number) => `data:image/png;base64,${encodePngRgb(rgb, width, height).toString('base64')}`;

/** 0/1 mask of the voxels holding `label`. */
const maskOf = (labels: PreviewVoxels, label: number) => Uint8Array.from(labels, (v) => (v === label ? 1 : 0));

/**
 * A coronal view through the organ's mean row (anterior-posterior index), superior up, with the organ's
 * voxels projected along that axis: every piece shows, wherever it lies. Arrays in radiological order.
 */
export function coronalProjection(ct: PreviewVoxels, labels: PreviewVoxels, shape: [number, number, number], label: number, superiorAtHighK: boolean): { ct: Int16Array; mask: Uint8Array; shape: [number, number, number] } | null {
  const [nx, ny, nz] = shape;
  let sumJ = 0, n = 0;
  for (let p = 0; p < labels.length; p++) if (labels[p] === label) { sumJ += Math.floor(p / nx) % ny; n++; }
  if (!n) return null;
  const row = Math.round(sumJ / n);
  const out = new Int16Array(nx * nz), mask = new Uint8Array(nx * nz);
  for (let k = 0; k < nz; k++) {
    const v = superiorAtHighK ? nz - 1 - k : k;
    for (let i = 0; i < nx; i++) {
      out[i + nx * v] = ct[i + nx * (row + ny * k)]!;
      for (let j = 0; j < ny && !mask[i + nx * v]; j++) if (labels[i + nx * (j + ny * k)] === label) mask[i + nx * v] = 1;
    }
  }
  return { ct: out, mask, shape: [nx, nz, 1] };
}

/** The images of one finding from the case's published image and label. */
export function findingImages(finding: AnnotationFindingView, image: string, label: string): ReviewImage[] {
  const ct = readNiftiPreview(image), lab = readNiftiPreview(label);
  const { volumes: [c, l], oriented } = toRadiologicalView(ct.shape, ct.direction, [ct.data, lab.data]);
  const note = oriented ? '' : ' (oblique axes: index order)';
  const organs = finding.organs.map((key) => REPORT_ORGANS.find((o) => o.key === key)).filter((o) => o !== undefined);
  const images: ReviewImage[] = [];
  const windowHu = finding.organs.includes('Mandible') ? BONE_WINDOW : SOFT_WINDOW;
  const none = new Uint8Array(c!.length);
  if (finding.check === 'sides' && organs.length === 2) {
    const [a, b] = organs.map((o) => maskOf(l!, o!.label));
    const ov = renderOverlay({ ct: c!, truth: a!, prediction: b!, shape: ct.shape, spacingMm: ct.spacingMm, label: 1, windowHu, marginMm: 60, sizePx: 320 });
    if (ov) images.push({ caption: `axial slice ${ov.slice}: ${organs[0]!.key} green, ${organs[1]!.key} red; the patient's right on the image's left${note}`, dataUri: png(ov.rgb, ov.width, ov.height), width: ov.width, height: ov.height });
  }
  for (const o of finding.check === 'sides' ? [] : organs) {
    const mask = maskOf(l!, o!.label);
    const ov = renderOverlay({ ct: c!, truth: mask, prediction: none, shape: ct.shape, spacingMm: ct.spacingMm, label: 1, windowHu, sizePx: 240 });
    if (ov) images.push({ caption: `${o!.key}, axial slice ${ov.slice} of its largest area${note}`, dataUri: png(ov.rgb, ov.width, ov.height), width: ov.width, height: ov.height });
    const cor = coronalProjection(c!, l!, ct.shape, o!.label, ct.direction[8]! > 0);
    const cv = cor && renderOverlay({ ct: cor.ct, truth: cor.mask, prediction: new Uint8Array(cor.mask.length), shape: cor.shape, spacingMm: [ct.spacingMm[0], ct.spacingMm[2], 1], label: 1, windowHu, marginMm: 40, sizePx: 240 });
    if (cv) images.push({ caption: `${o!.key}, coronal: all its voxels projected front to back, superior up${note}`, dataUri: png(cv.rgb, cv.width, cv.height), width: cv.width, height: cv.height });
  }
  return images;
}

/** Every finding of the dataset in `dir` (or those of `caseIds`), with its images and source. */
export function buildAnnotationReview(dir: string, manifest: ManifestView, sources: Record<string, string> = {}, caseIds?: readonly string[]): ReviewEntry[] {
  const wanted = caseIds ? new Set(caseIds) : null;
  return (manifest.annotationFindings ?? [])
    .filter((f) => !wanted || wanted.has(f.caseId))
    .map((finding) => {
      const rec = manifest.cases.find((c) => c.caseId === finding.caseId);
      const source = sources[finding.caseId];
      const base = { finding, ...(source ? { source } : {}) };
      if (!rec) return { ...base, images: [], problem: 'the case is not in the manifest' };
      try {
        return { ...base, images: findingImages(finding, join(dir, rec.image), join(dir, rec.label)) };
      } catch (e) {
        return { ...base, images: [], problem: (e as Error).message };
      }
    });
}

/** The review page. */
export function renderAnnotationReviewHtml(dir: string, manifest: ManifestView, entries: readonly ReviewEntry[]): string {
  const version = manifest.version ? `, version ${manifest.version}` : '';
  const checked = manifest.annotationFindings === undefined
    ? '<p class="note">This manifest predates the annotation checks: curate the dataset again to run them.</p>'
    : entries.length ? '' : '<p class="meta">Nothing to review: the annotation checks found nothing.</p>';
  const body = entries.map((e) => {
    const f = e.finding;
    const figures = e.images.map((im) => `<figure><img src="${im.dataUri}" width="${im.width}" height="${im.height}" alt="${esc(im.caption)}"><figcaption>${esc(im.caption)}</figcaption></figure>`).join('');
    return `<section><h3>${esc(f.caseId)} · ${esc(f.check)} · ${esc(f.organs.join(', '))}</h3><p>${esc(f.message)}</p>${e.source ? `<p class="meta">source: <code>${esc(e.source)}</code></p>` : ''}${e.problem ? `<p class="missing">No image: ${esc(e.problem)}</p>` : ''}<div class="overlays">${figures}</div></section>`;
  }).join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Annotation review: ${esc(dir)}</title><style>${PAGE_CSS}</style></head><body><main>
<h1>Annotation review</h1><p class="meta"><code>${esc(dir)}</code>: ${manifest.numCases} cases${version}; ${(manifest.annotationFindings ?? []).length} findings of the curator's annotation checks${entries.length !== (manifest.annotationFindings ?? []).length ? `, ${entries.length} shown` : ''}.</p>
<p class="meta">Each finding is for review: the curator changed nothing because of it. A names file section for the case answers it (<code>{"hn_0007": {"Parotid Lt": "Parotid_R"}}</code>, or <code>"ignore"</code>), and curating again publishes the next version. Contours in colour over the CT; axial views with anterior up.</p>
${checked}${body}
</main></body></html>
`;
}
