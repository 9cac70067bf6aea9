/**
 * The dataset section: availability matrix, organ volumes, spacing, skipped inputs and what the
 * annotation checks found, from the
 * curator's manifest (DATASET/manifest.json; schema in libs/curation/src/manifest.ts, read here through
 * the few fields the report uses, since the report may not import the curation lib).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReportInputError } from './experiments';
import { REPORT_ORGANS } from './organs';
import { summarize, type Summary } from './stats';

export type Availability = 'annotated' | 'not-annotated' | 'annotated-empty';

/** The manifest fields the report reads. */
export interface ManifestView {
  schemaVersion: number;
  /** The folder's dataset version and the one it replaced (absent in manifests written before versions). */
  version?: number;
  previous?: { version: number; manifestDigest: string };
  numCases: number;
  inputs?: { files: number; used: number; skipped: number };
  cases: {
    caseId: string;
    sourceKind: string;
    image: string;
    label: string;
    shape: number[];
    spacing: number[];
    availability: Record<string, Availability>;
    volumeMl: Record<string, number>;
    skipped?: { item: string; reason: string }[];
  }[];
  skipped: { ref: string; kind: string; reason: string }[];
  /** The curator's annotation checks (absent in manifests written before them). */
  annotationFindings?: AnnotationFindingView[];
}

export interface AnnotationFindingView {
  caseId: string;
  check: string;
  organs: string[];
  message: string;
}

export interface DatasetModel {
  /** sha256 of manifest.json's bytes. */
  digest: string;
  version?: number;
  previous?: { version: number; manifestDigest: string };
  numCases: number;
  inputs?: { files: number; used: number; skipped: number };
  availability: { caseId: string; sourceKind: string; cells: Availability[] }[];
  /** Per organ (REPORT_ORGANS order): counts by availability. */
  counts: Record<Availability, number>[];
  /** Per organ: volumes in mL of annotated cases, and their summary. */
  volumesMl: { values: number[]; summary: Summary }[];
  spacing: { inPlane: Summary; slice: Summary; groups: { spacing: string; cases: number }[]; points: { caseId: string; inPlaneMm: number; sliceMm: number }[] };
  skipped: { where: string; item: string; reason: string }[];
  /** Undefined when the manifest predates the annotation checks. */
  annotationFindings?: AnnotationFindingView[];
}

export interface LoadedManifest {
  manifest: ManifestView;
  digest: string;
}

export function readManifest(datasetDir: string): LoadedManifest {
  const file = join(datasetDir, 'manifest.json');
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new ReportInputError(file, `cannot read the dataset manifest (${(e as Error).message})`);
  }
  let m: ManifestView;
  try {
    m = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ReportInputError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (!m || typeof m !== 'object' || !Array.isArray(m.cases)) throw new ReportInputError(file, 'no "cases" array: not a curator manifest');
  if (m.schemaVersion !== 1) throw new ReportInputError(file, `manifest schemaVersion ${String(m.schemaVersion)}; this report reads version 1`);
  return { manifest: m, digest: createHash('sha256').update(bytes).digest('hex') };
}

const fmt = (v: number) => (Math.round(v * 100) / 100).toString();

export function datasetModel({ manifest: m, digest }: LoadedManifest): DatasetModel {
  const cases = [...m.cases].sort((a, b) => a.caseId.localeCompare(b.caseId));
  const availability = cases.map((c) => ({
    caseId: c.caseId,
    sourceKind: c.sourceKind,
    cells: REPORT_ORGANS.map((o) => c.availability?.[o.key] ?? 'not-annotated'),
  }));
  const counts = REPORT_ORGANS.map((_, i) => {
    const r: Record<Availability, number> = { annotated: 0, 'not-annotated': 0, 'annotated-empty': 0 };
    for (const a of availability) r[a.cells[i]]++;
    return r;
  });
  const volumesMl = REPORT_ORGANS.map((o) => {
    const values = cases.filter((c) => c.availability?.[o.key] === 'annotated' && Number.isFinite(c.volumeMl?.[o.key])).map((c) => c.volumeMl[o.key]);
    return { values, summary: summarize(values) };
  });
  const points = cases.map((c) => ({ caseId: c.caseId, inPlaneMm: Math.sqrt(c.spacing[0] * c.spacing[1]), sliceMm: c.spacing[2] }));
  const groupMap = new Map<string, number>();
  for (const c of cases) {
    const k = `${fmt(c.spacing[0])} x ${fmt(c.spacing[1])} x ${fmt(c.spacing[2])}`;
    groupMap.set(k, (groupMap.get(k) ?? 0) + 1);
  }
  const groups = [...groupMap].map(([spacing, n]) => ({ spacing, cases: n })).sort((a, b) => b.cases - a.cases || a.spacing.localeCompare(b.spacing));
  const skipped = [
    ...(m.skipped ?? []).map((s) => ({ where: `input ${s.ref} (${s.kind})`, item: s.ref, reason: s.reason })),
    ...cases.flatMap((c) => (c.skipped ?? []).map((s) => ({ where: `case ${c.caseId}`, item: s.item, reason: s.reason }))),
  ];
  return {
    digest,
    ...(m.version ? { version: m.version } : {}),
    ...(m.previous ? { previous: { version: m.previous.version, manifestDigest: m.previous.manifestDigest } } : {}),
    numCases: cases.length,
    inputs: m.inputs,
    availability,
    counts,
    volumesMl,
    spacing: { inPlane: summarize(points.map((p) => p.inPlaneMm)), slice: summarize(points.map((p) => p.sliceMm)), groups, points },
    skipped,
    ...(m.annotationFindings ? { annotationFindings: m.annotationFindings } : {}),
  };
}
