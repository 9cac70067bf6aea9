/**
 * The annotation review page (`curator review`): for each finding of the annotation checks, the slices a
 * physicist needs to judge it before opening the case in a planning system: an axial slice through the
 * organ (for swapped sides, the organ named left in green and the one named right in red), and a
 * coronal view with the organ's whole extent projected onto it (stray pieces, contours moved off their
 * organ); for a shifted structure set, first the mandible as drawn and as the translation found would
 * seat it. One offline HTML file, images embedded.
 */
import { join } from 'node:path';
import { readNifti, type Volume } from '@anatomynet/data';
import { coronalProjection, largestAreaSlice, pngDataUri, renderLabelSlice, renderOverlay, toRadiologicalView, type Voxels } from '@anatomynet/imaging';
import type { AnnotationFinding } from './annotation-checks';
import type { CaseRecord, Manifest } from './manifest';
import { translatedLabel } from './bone-alignment';
import { compareStrings } from './names';
import { ORGAN_COLOURS, ORGANS, type Organ } from './organs';

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
const GREEN: [number, number, number] = [0, 200, 0];
const RED: [number, number, number] = [230, 0, 0];

/** A case's CT and labels turned to the radiological view, with what the captions say of it. */
interface CaseView {
  ct: Voxels;
  labels: Voxels;
  shape: [number, number, number];
  spacingMm: [number, number, number];
  /** k runs towards the head (row 0 of a coronal view is then its last slice). */
  superiorAtHighK: boolean;
  note: string;
  /** The mandible moved by its bone alignment's translation (a shift finding's case), and that translation. */
  seated?: { labels: Voxels; shiftMm: [number, number, number] };
}

function caseView(image: Pick<Volume, 'data' | 'shape' | 'spacing' | 'direction'>, label: Pick<Volume, 'data'>, rec: CaseRecord | undefined, shifted: boolean): CaseView {
  const shape = [...image.shape] as [number, number, number];
  const shiftMm = rec?.measures?.Mandible?.boneAlignment?.shiftMm;
  const mandible = ORGANS.find((o) => o.key === 'Mandible')!.index;
  const seated = shifted && shiftMm ? translatedLabel(label.data, { shape, spacing: [...image.spacing] as [number, number, number], direction: [...image.direction] }, shiftMm, mandible) : null;
  const { volumes: [ct, labels, seatedView], oriented } = toRadiologicalView(shape, [...image.direction], [image.data as Voxels, label.data as Voxels, ...(seated ? [seated] : [])]);
  return {
    ct: ct!, labels: labels!, shape, spacingMm: [...image.spacing] as [number, number, number], superiorAtHighK: image.direction[8]! > 0, note: oriented ? '' : ' (oblique axes: index order)',
    ...(seatedView && shiftMm ? { seated: { labels: seatedView, shiftMm } } : {}),
  };
}

const asImage = (caption: string, picture: { rgb: Uint8Array; width: number; height: number } | null): ReviewImage[] =>
  picture ? [{ caption, dataUri: pngDataUri(picture.rgb, picture.width, picture.height), width: picture.width, height: picture.height }] : [];

/** A coronal view of `label` (or 'all') projected front to back, in `colours`. */
function coronal(v: CaseView, label: number | 'all', colours: Record<number, [number, number, number]>, o: { windowHu?: [number, number]; marginMm: number; sizePx: number }) {
  const cor = coronalProjection(v.ct, v.labels, v.shape, label, v.superiorAtHighK);
  return cor && renderLabelSlice({ ct: cor.ct, labels: cor.labels, colours, shape: cor.shape, spacingMm: [v.spacingMm[0], v.spacingMm[2], 1], slice: 0, ...o });
}

/** The images of one finding. */
function findingImages(finding: AnnotationFinding, v: CaseView): ReviewImage[] {
  const organs = ORGANS.filter((o) => finding.organs.includes(o.key));
  const windowHu = finding.organs.includes('Mandible') ? BONE_WINDOW : SOFT_WINDOW;
  const axial = (colours: Record<number, [number, number, number]>, slice: number, o: { marginMm?: number; sizePx: number }) =>
    renderLabelSlice({ ct: v.ct, labels: v.labels, colours, shape: v.shape, spacingMm: v.spacingMm, slice, windowHu, ...o });
  if (finding.check === 'sides' && organs.length === 2) {
    const [left, right] = organs as [Organ, Organ];
    const slice = largestAreaSlice(v.labels, v.shape, left.index);
    return asImage(`axial slice ${slice}: ${left.key} green, ${right.key} red; the patient's right on the image's left${v.note}`, axial({ [left.index]: GREEN, [right.index]: RED }, slice, { marginMm: 60, sizePx: 320 }));
  }
  const seated = finding.check === 'shift' && v.seated ? seatedImage(v, v.seated, organs[0]!) : [];
  return [...seated, ...organs.flatMap((o) => {
    const slice = largestAreaSlice(v.labels, v.shape, o.index);
    return [
      ...asImage(`${o.key}, axial slice ${slice} of its largest area${v.note}`, axial({ [o.index]: GREEN }, slice, { sizePx: 240 })),
      ...asImage(`${o.key}, coronal: all its voxels projected front to back, superior up${v.note}`, coronal(v, o.index, { [o.index]: GREEN }, { windowHu, marginMm: 40, sizePx: 240 })),
    ];
  })];
}

/** A shift finding's organ as drawn (green) and moved by the translation the check found (red; both: yellow), on bone's window. */
function seatedImage(v: CaseView, seated: NonNullable<CaseView['seated']>, organ: Organ): ReviewImage[] {
  const picture = renderOverlay({ ct: v.ct, truth: v.labels, prediction: seated.labels, shape: v.shape, spacingMm: v.spacingMm, label: organ.index, windowHu: BONE_WINDOW, marginMm: 30, sizePx: 320 });
  const moved = `${Math.hypot(...seated.shiftMm).toFixed(1)} mm (LPS ${seated.shiftMm.map((x) => x.toFixed(1)).join(', ')})`;
  return asImage(`${organ.key}, axial slice ${picture?.slice ?? '-'}: as drawn green, moved ${moved} as the check found red, both yellow; the patient's right on the image's left${v.note}`, picture);
}

/**
 * Every organ of a case at once, in its display colour: a coronal view with all of them projected front
 * to back (sides, pieces, heights), and the axial slice holding the most organ voxels.
 */
function caseImages(v: CaseView): ReviewImage[] {
  const plane = v.shape[0] * v.shape[1];
  let best = -1, most = 0;
  for (let k = 0; k < v.shape[2]; k++) {
    let n = 0;
    for (let q = k * plane; q < (k + 1) * plane; q++) if (v.labels[q]! > 0) n++;
    if (n > most) [best, most] = [k, n];
  }
  return [
    ...asImage(`coronal: every organ projected front to back, superior up${v.note}`, coronal(v, 'all', ORGAN_COLOURS, { marginMm: 30, sizePx: 260 })),
    ...(best >= 0 ? asImage(`axial slice ${best}, the most organ voxels; the patient's right on the image's left${v.note}`, renderLabelSlice({ ct: v.ct, labels: v.labels, colours: ORGAN_COLOURS, shape: v.shape, spacingMm: v.spacingMm, slice: best, marginMm: 30, sizePx: 260 })) : []),
  ];
}

export interface CaseGalleryEntry {
  caseId: string;
  source?: string;
  images: ReviewImage[];
  problem?: string;
}

/**
 * The review of the dataset in `dir`: every finding (of `caseIds`, when given) with its images, and with
 * `all` every such case drawn whole; each case's files are read once.
 */
export function buildAnnotationReview(
  dir: string,
  manifest: Manifest,
  o: { sources?: Record<string, string>; caseIds?: readonly string[]; all?: boolean } = {},
): { findings: ReviewEntry[]; gallery: CaseGalleryEntry[] } {
  const wanted = o.caseIds ? new Set(o.caseIds) : null;
  const findings = (manifest.annotationFindings ?? []).filter((f) => !wanted || wanted.has(f.caseId));
  const drawn = new Set([...findings.map((f) => f.caseId), ...(o.all ? manifest.cases.map((c) => c.caseId).filter((id) => !wanted || wanted.has(id)) : [])]);
  const out = { findings: [] as ReviewEntry[], gallery: [] as CaseGalleryEntry[] };
  for (const caseId of [...drawn].sort(compareStrings)) {
    const source = o.sources?.[caseId];
    const base = source ? { source } : {};
    const rec = manifest.cases.find((c) => c.caseId === caseId);
    let view: CaseView | undefined, problem: string | undefined;
    try {
      if (!rec) throw new Error('the case is not in the manifest');
      view = caseView(readNifti(join(dir, rec.image)), readNifti(join(dir, rec.label)), rec, findings.some((f) => f.caseId === caseId && f.check === 'shift'));
    } catch (e) {
      problem = (e as Error).message;
    }
    for (const finding of findings.filter((f) => f.caseId === caseId)) out.findings.push({ finding, ...base, images: view ? findingImages(finding, view) : [], ...(problem ? { problem } : {}) });
    if (o.all && rec) out.gallery.push({ caseId, ...base, images: view ? caseImages(view) : [], ...(problem ? { problem } : {}) });
  }
  return out;
}

/**
 * The review of one segmented scan (`trainer segment --review`): each finding of the checks on the model's
 * contours with the same images as the curator's review draws for an annotation, then every organ drawn.
 * @param labels organ index 0..9 per voxel on `image`'s grid; `image` holds HU.
 */
export function buildContourReview(
  image: Pick<Volume, 'data' | 'shape' | 'spacing' | 'direction'>, labels: Uint8Array, findings: readonly Omit<AnnotationFinding, 'caseId'>[], name: string,
): { findings: ReviewEntry[]; images: ReviewImage[] } {
  const view = caseView(image, { data: labels }, undefined, false);
  return {
    findings: findings.map((f) => ({ finding: { caseId: name, ...f }, images: findingImages({ caseId: name, ...f }, view) })),
    images: caseImages(view),
  };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const figuresHtml = (images: readonly ReviewImage[], alt = (im: ReviewImage) => im.caption) =>
  images.map((im) => `<figure><img src="${im.dataUri}" width="${im.width}" height="${im.height}" alt="${esc(alt(im))}"><figcaption>${esc(im.caption)}</figcaption></figure>`).join('');

const CSS = `body{font:14px/1.45 system-ui,sans-serif;color:#1d1d1f;margin:0;background:#fafafa}main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px}h3{font-size:15px;margin:24px 0 4px}.meta{color:#555}.problem{background:#fff4e5;border:1px solid #f0b35a;padding:6px 10px}
.images{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0;background:#fff;border:1px solid #ddd;padding:6px;border-radius:4px}figcaption{font-size:12px;max-width:320px}`;

/** The review page; with `gallery`, every case's organs after the findings. */
export function renderAnnotationReviewHtml(dir: string, manifest: Manifest, entries: readonly ReviewEntry[], gallery: readonly CaseGalleryEntry[] = []): string {
  const all = manifest.annotationFindings;
  const version = manifest.version ? `, version ${manifest.version}` : '';
  const status = all === undefined
    ? '<p class="problem">This manifest predates the annotation checks: curate the dataset again to run them.</p>'
    : entries.length ? '' : '<p class="meta">Nothing to review: the annotation checks found nothing.</p>';
  const body = entries.map((e) => {
    const f = e.finding;
    const figures = figuresHtml(e.images);
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

function galleryHtml(manifest: Manifest, gallery: readonly CaseGalleryEntry[]): string {
  const legend = ORGANS.map((o) => `<span style="color:rgb(${ORGAN_COLOURS[o.index]!.join(',')})">■</span> ${o.key}`).join(' ');
  const flagged = new Map<string, number>();
  for (const f of manifest.annotationFindings ?? []) flagged.set(f.caseId, (flagged.get(f.caseId) ?? 0) + 1);
  const cases = gallery.map((g) => {
    const n = flagged.get(g.caseId);
    const head = `${esc(g.caseId)}${n ? ` · ${n} finding${n === 1 ? '' : 's'}` : ''}`;
    const figures = figuresHtml(g.images, (im) => `${g.caseId}: ${im.caption}`);
    return `<h3>${head}</h3>${g.source ? `<p class="meta">source: <code>${esc(g.source)}</code></p>` : ''}${g.problem ? `<p class="problem">No image: ${esc(g.problem)}</p>` : ''}<div class="images">${figures}</div>`;
  }).join('\n');
  return `<h2>Every case</h2><p class="meta">${legend}</p>\n${cases}`;
}

/**
 * The page of {@link buildContourReview}: what was segmented with which model, the findings, every organ.
 * With several cases' findings (`trainer evaluate --review`), each is headed by its case, and `images`
 * may be empty (no organ gallery).
 */
export function renderContourReviewHtml(o: { input: string; models: readonly string[]; cases?: number }, review: { findings: readonly ReviewEntry[]; images: readonly ReviewImage[] }): string {
  const legend = ORGANS.map((g) => `<span style="color:rgb(${ORGAN_COLOURS[g.index]!.join(',')})">■</span> ${g.key}`).join(' ');
  const body = review.findings.map((e) => {
    const f = e.finding;
    return `<section><h3>${o.cases ? `${esc(f.caseId)} · ` : ''}${esc(f.check)} · ${esc(f.organs.join(', '))}</h3><p>${esc(f.message)}</p><div class="images">${figuresHtml(e.images)}</div></section>`;
  }).join('\n');
  const n = review.findings.length;
  const scope = o.cases ? ` in ${o.cases} case${o.cases === 1 ? '' : 's'}` : '';
  const gallery = review.images.length ? `<h2>Every organ</h2><p class="meta">${legend}</p><div class="images">${figuresHtml(review.images)}</div>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Contour review: ${esc(o.input)}</title><style>${CSS}</style></head><body><main>
<h1>Contour review</h1><p class="meta"><code>${esc(o.input)}</code> segmented by ${o.models.map((m) => `<code>${esc(m)}</code>`).join(', ')}.</p>
<p class="meta">The curator's annotation checks, run on the model's contours${scope}: ${n ? `${n} finding${n === 1 ? '' : 's'} to look at first` : 'nothing found'}. They change no output; a finding is a reason to look, not a verdict. Contours in colour over the CT; axial views with anterior up.</p>
${body}
${gallery}
</main></body></html>
`;
}
