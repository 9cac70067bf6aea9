/**
 * The annotation review page (`curator review`): for each finding of the annotation checks, the slices a
 * physicist needs to judge it before opening the case in a planning system: an axial slice through the
 * organ (for swapped sides, the organ named left in green and the one named right in red), and a
 * coronal view with the organ's whole extent projected onto it (stray pieces, contours moved off their
 * organ). One offline HTML file, images embedded.
 */
import { join } from 'node:path';
import { readNifti, type Volume } from '@anatomynet/data';
import { coronalProjection, pngDataUri, renderLabelSlice, renderOverlay, toRadiologicalView, type Voxels } from '@anatomynet/imaging';
import type { AnnotationFinding } from './annotation-checks';
import type { Manifest } from './manifest';
import { ORGAN_COLOURS, ORGANS } from './organs';

export interface ReviewImage {
  caption: string;
  dataUri: string;
  width: number;
  height: number;
}

export interface ReviewEntry {
  finding: AnnotationFinding;
  /** Where the case came from (the private source map), when known. */
  source?: string;
  images: ReviewImage[];
  /** Why no image could be drawn (an unreadable file...). */
  problem?: string;
}

const SOFT_WINDOW: [number, number] = [-160, 240];
const BONE_WINDOW: [number, number] = [-450, 1050];

/** 0/1 mask of the voxels holding `label`. */
const maskOf = (labels: Voxels, label: number) => Uint8Array.from(labels, (v) => (v === label ? 1 : 0));

/** The images of one finding from the case's published CT and labels (the same grid). */
export function findingImages(finding: AnnotationFinding, image: Pick<Volume, 'data' | 'shape' | 'spacing' | 'direction'>, label: Pick<Volume, 'data'>): ReviewImage[] {
  const shape = [...image.shape] as [number, number, number];
  const spacingMm = [...image.spacing] as [number, number, number];
  const { volumes: [ct, labels], oriented } = toRadiologicalView(shape, [...image.direction], [image.data as Voxels, label.data as Voxels]);
  const note = oriented ? '' : ' (oblique axes: index order)';
  const organs = ORGANS.filter((o) => finding.organs.includes(o.key));
  const windowHu = finding.organs.includes('Mandible') ? BONE_WINDOW : SOFT_WINDOW;
  const asImage = (caption: string, ov: ReturnType<typeof renderOverlay>) => (ov ? [{ caption, dataUri: pngDataUri(ov.rgb, ov.width, ov.height), width: ov.width, height: ov.height }] : []);
  if (finding.check === 'sides' && organs.length === 2) {
    const [a, b] = organs.map((o) => maskOf(labels!, o.index));
    const ov = renderOverlay({ ct: ct!, truth: a!, prediction: b!, shape, spacingMm, label: 1, windowHu, marginMm: 60, sizePx: 320 });
    return asImage(`axial slice ${ov?.slice}: ${organs[0]!.key} green, ${organs[1]!.key} red; the patient's right on the image's left${note}`, ov);
  }
  const none = new Uint8Array(ct!.length);
  return organs.flatMap((o) => {
    const axial = renderOverlay({ ct: ct!, truth: maskOf(labels!, o.index), prediction: none, shape, spacingMm, label: 1, windowHu, sizePx: 240 });
    const cor = coronalProjection(ct!, labels!, shape, o.index, image.direction[8]! > 0);
    const coronal = cor && renderOverlay({ ct: cor.ct, truth: cor.labels, prediction: new Uint8Array(cor.labels.length), shape: cor.shape, spacingMm: [spacingMm[0], spacingMm[2], 1], label: o.index, windowHu, marginMm: 40, sizePx: 240 });
    return [
      ...asImage(`${o.key}, axial slice ${axial?.slice} of its largest area${note}`, axial),
      ...asImage(`${o.key}, coronal: all its voxels projected front to back, superior up${note}`, coronal),
    ];
  });
}

/**
 * Every organ of a case at once, in its display colour: a coronal view with all of them projected front
 * to back (sides, pieces, heights), and the axial slice holding the most organ voxels.
 */
export function caseImages(image: Pick<Volume, 'data' | 'shape' | 'spacing' | 'direction'>, label: Pick<Volume, 'data'>): ReviewImage[] {
  const shape = [...image.shape] as [number, number, number];
  const [sx, , sz] = image.spacing;
  const { volumes: [ct, labels], oriented } = toRadiologicalView(shape, [...image.direction], [image.data as Voxels, label.data as Voxels]);
  const note = oriented ? '' : ' (oblique axes: index order)';
  const out: ReviewImage[] = [];
  const cor = coronalProjection(ct!, labels!, shape, 'all', image.direction[8]! > 0);
  const coronal = cor && renderLabelSlice({ ct: cor.ct, labels: cor.labels, colours: ORGAN_COLOURS, shape: cor.shape, spacingMm: [sx, sz, 1], slice: 0, marginMm: 30, sizePx: 260 });
  if (coronal) out.push({ caption: `coronal: every organ projected front to back, superior up${note}`, dataUri: pngDataUri(coronal.rgb, coronal.width, coronal.height), width: coronal.width, height: coronal.height });
  const plane = shape[0] * shape[1];
  let best = -1, most = 0;
  for (let k = 0; k < shape[2]; k++) {
    let n = 0;
    for (let q = k * plane; q < (k + 1) * plane; q++) if (labels![q]! > 0) n++;
    if (n > most) [best, most] = [k, n];
  }
  const axial = best >= 0 ? renderLabelSlice({ ct: ct!, labels: labels!, colours: ORGAN_COLOURS, shape, spacingMm: [...image.spacing] as [number, number, number], slice: best, marginMm: 30, sizePx: 260 }) : null;
  if (axial) out.push({ caption: `axial slice ${best}, the most organ voxels; the patient's right on the image's left${note}`, dataUri: pngDataUri(axial.rgb, axial.width, axial.height), width: axial.width, height: axial.height });
  return out;
}

/** Each case of the dataset in `dir` (or those of `caseIds`) with every organ drawn, and its source. */
export function buildCaseGallery(dir: string, manifest: Manifest, sources: Record<string, string> = {}, caseIds?: readonly string[]): { caseId: string; source?: string; images: ReviewImage[]; problem?: string }[] {
  const wanted = caseIds ? new Set(caseIds) : null;
  return manifest.cases.filter((c) => !wanted || wanted.has(c.caseId)).map((rec) => {
    const base = { caseId: rec.caseId, ...(sources[rec.caseId] ? { source: sources[rec.caseId] } : {}) };
    try {
      return { ...base, images: caseImages(readNifti(join(dir, rec.image)), readNifti(join(dir, rec.label))) };
    } catch (e) {
      return { ...base, images: [], problem: (e as Error).message };
    }
  });
}

/** Every finding of the dataset in `dir` (or those of `caseIds`), with its images and source. */
export function buildAnnotationReview(dir: string, manifest: Manifest, sources: Record<string, string> = {}, caseIds?: readonly string[]): ReviewEntry[] {
  const wanted = caseIds ? new Set(caseIds) : null;
  return (manifest.annotationFindings ?? [])
    .filter((f) => !wanted || wanted.has(f.caseId))
    .map((finding) => {
      const rec = manifest.cases.find((c) => c.caseId === finding.caseId);
      const source = sources[finding.caseId];
      const base = { finding, ...(source ? { source } : {}) };
      if (!rec) return { ...base, images: [], problem: 'the case is not in the manifest' };
      try {
        return { ...base, images: findingImages(finding, readNifti(join(dir, rec.image)), readNifti(join(dir, rec.label))) };
      } catch (e) {
        return { ...base, images: [], problem: (e as Error).message };
      }
    });
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const CSS = `body{font:14px/1.45 system-ui,sans-serif;color:#1d1d1f;margin:0;background:#fafafa}main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px}h3{font-size:15px;margin:24px 0 4px}.meta{color:#555}.problem{background:#fff4e5;border:1px solid #f0b35a;padding:6px 10px}
.images{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0;background:#fff;border:1px solid #ddd;padding:6px;border-radius:4px}figcaption{font-size:12px;max-width:320px}`;

/** The review page; with `gallery`, every case's organs after the findings. */
export function renderAnnotationReviewHtml(dir: string, manifest: Manifest, entries: readonly ReviewEntry[], gallery: ReturnType<typeof buildCaseGallery> = []): string {
  const all = manifest.annotationFindings;
  const version = manifest.version ? `, version ${manifest.version}` : '';
  const status = all === undefined
    ? '<p class="problem">This manifest predates the annotation checks: curate the dataset again to run them.</p>'
    : entries.length ? '' : '<p class="meta">Nothing to review: the annotation checks found nothing.</p>';
  const body = entries.map((e) => {
    const f = e.finding;
    const figures = e.images.map((im) => `<figure><img src="${im.dataUri}" width="${im.width}" height="${im.height}" alt="${esc(im.caption)}"><figcaption>${esc(im.caption)}</figcaption></figure>`).join('');
    return `<section><h3>${esc(f.caseId)} · ${esc(f.check)} · ${esc(f.organs.join(', '))}</h3><p>${esc(f.message)}</p>${e.source ? `<p class="meta">source: <code>${esc(e.source)}</code></p>` : ''}${e.problem ? `<p class="problem">No image: ${esc(e.problem)}</p>` : ''}<div class="images">${figures}</div></section>`;
  }).join('\n');
  const shown = all && entries.length !== all.length ? `, ${entries.length} shown` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Annotation review: ${esc(dir)}</title><style>${CSS}</style></head><body><main>
<h1>Annotation review</h1><p class="meta"><code>${esc(dir)}</code>: ${manifest.numCases} cases${version}; ${(all ?? []).length} findings of the curator's annotation checks${shown}.</p>
<p class="meta">Each finding is for review: the curator changed nothing because of it. A names file section for the case answers it (<code>{"hn_0007": {"Parotid Lt": "Parotid_R"}}</code>, or <code>"ignore"</code>), and curating again publishes the next version. Contours in colour over the CT; axial views with anterior up.</p>
${status}${body}
${gallery.length ? galleryHtml(manifest, gallery) : ''}
</main></body></html>
`;
}

function galleryHtml(manifest: Manifest, gallery: ReturnType<typeof buildCaseGallery>): string {
  const legend = ORGANS.map((o) => `<span style="color:rgb(${ORGAN_COLOURS[o.index]!.join(',')})">■</span> ${o.key}`).join(' ');
  const flagged = new Map<string, number>();
  for (const f of manifest.annotationFindings ?? []) flagged.set(f.caseId, (flagged.get(f.caseId) ?? 0) + 1);
  const cases = gallery.map((g) => {
    const n = flagged.get(g.caseId);
    const head = `${esc(g.caseId)}${n ? ` · ${n} finding${n === 1 ? '' : 's'}` : ''}`;
    const figures = g.images.map((im) => `<figure><img src="${im.dataUri}" width="${im.width}" height="${im.height}" alt="${esc(`${g.caseId}: ${im.caption}`)}"><figcaption>${esc(im.caption)}</figcaption></figure>`).join('');
    return `<h3>${head}</h3>${g.source ? `<p class="meta">source: <code>${esc(g.source)}</code></p>` : ''}${g.problem ? `<p class="problem">No image: ${esc(g.problem)}</p>` : ''}<div class="images">${figures}</div>`;
  }).join('\n');
  return `<h2>Every case</h2><p class="meta">${legend}</p>\n${cases}`;
}
