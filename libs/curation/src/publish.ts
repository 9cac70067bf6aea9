/**
 * Write the published dataset folder (see manifest.ts for the layout) and the private sidecar.
 * Every file is written atomically and deterministically (sorted keys and lists, no timestamps).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@anatomynet/data';
import { annotationFindings } from './annotation-checks';
import { renderDatasheet } from './datasheet';
import type { PlannedCase, SkippedItem } from './discover';
import { combineDigests, formatSha256Sums, sha256Hex } from './hashing';
import type { IdAssignment } from './ids';
import { FILE_ENDING, MANIFEST_SCHEMA_VERSION, TOOL_NAME, TOOL_VERSION, type CaseRecord, type Manifest, type PreviousVersion } from './manifest';
import { compareStrings, namesReport, type NameOverrides } from './names';
import { nnunetLabels, ORGANS } from './organs';
import { scrub } from './scrub';
import { makeSplits, splitContinuity, type Splits } from './splits';

export interface PublishInput {
  outDir: string;
  privateDir: string;
  cases: { plan: PlannedCase; record: CaseRecord; outputs: { path: string; sha256: string }[] }[];
  allFiles: string[];
  skipped: SkippedItem[];
  failedPlans: { plan: PlannedCase; caseId: string }[];
  ids: IdAssignment;
  configDigest: string;
  overrides: NameOverrides;
  /** Cases given their own names file section. */
  caseNameOverrides?: string[];
  /** The dataset the folder holds now, which this one replaces (its manifest, bytes' digest and splits). */
  replacing?: PublishedVersion;
}

/** A version already published in the folder. */
export interface PublishedVersion {
  manifest: Manifest;
  manifestDigest: string;
  /** Undefined when its splits.json cannot be read: the splits are then placed afresh. */
  splits?: Splits;
}

export interface PublishResult {
  outDir: string;
  privateDir: string;
  manifest: Manifest;
  splits: Splits;
}

export const PUBLISHED_FILES = ['dataset.json', 'manifest.json', 'splits.json', 'names.json', 'DATASHEET.md'] as const;

function json(x: unknown): string {
  return JSON.stringify(x, null, 2) + '\n';
}

/**
 * The version fields of a dataset about to replace `replacing` in its folder: the same as before when
 * nothing published changes (tool, cases, splits: so a re-run writes the same bytes), else one more,
 * with what changed.
 */
function versionOf(content: Omit<Manifest, 'schemaVersion' | 'tool' | 'version' | 'previous'>, splits: Splits, replacing: PublishedVersion | undefined): Pick<Manifest, 'version' | 'previous'> {
  if (!replacing) return { version: 1 };
  const old = replacing.manifest;
  const { schemaVersion: _s, tool, version, previous, ...oldContent } = old;
  const same = tool?.version === TOOL_VERSION && json(oldContent) === json(content) && replacing.splits !== undefined && json(replacing.splits) === json(splits);
  if (same) return { version: version ?? 1, ...(previous ? { previous } : {}) };
  const before = new Map(old.cases.map((c) => [c.caseId, json(c)]));
  const now = new Map(content.cases.map((c) => [c.caseId, json(c)]));
  const continuity = splitContinuity(splits, replacing.splits);
  const change: PreviousVersion = {
    version: version ?? 1,
    manifestDigest: replacing.manifestDigest,
    added: [...now.keys()].filter((id) => !before.has(id)),
    removed: [...before.keys()].filter((id) => !now.has(id)).sort(compareStrings),
    changed: [...now].filter(([id, record]) => before.has(id) && before.get(id) !== record).map(([id]) => id),
    splits: continuity.kind === 'kept' ? 'kept' : 'recomputed',
    moved: continuity.moved,
  };
  return { version: (version ?? 1) + 1, previous: change };
}

export function publishDataset(p: PublishInput): PublishResult {
  const cases = [...p.cases].sort((a, b) => compareStrings(a.record.caseId, b.record.caseId));
  const records = cases.map((c) => c.record);

  // Remove outputs of cases no longer in the cohort (and any stray files) from the case folders.
  const keep = new Set(cases.flatMap((c) => c.outputs.map((o) => o.path)));
  for (const sub of ['imagesTr', 'labelsTr']) {
    const dir = join(p.outDir, sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (!keep.has(`${sub}/${f}`)) rmSync(join(dir, f), { recursive: true, force: true });
  }

  // Account for every input file.
  const status = new Map<string, { status: 'used' | 'skipped'; caseId?: string; ref?: string; reason?: string }>();
  for (const c of cases) for (const f of c.plan.files) status.set(f.path, { status: 'used', caseId: c.record.caseId });
  const skipped = [...p.skipped].sort((a, b) => compareStrings(a.paths[0] ?? '', b.paths[0] ?? '') || compareStrings(a.reason, b.reason));
  const inSkipped = new Set(skipped.flatMap((s) => s.paths));
  for (const f of p.allFiles) {
    if (!status.has(f) && !inSkipped.has(f)) skipped.push({ kind: 'file', paths: [f], reason: 'not used by any case' });
  }
  const refs = skipped.map((s, i) => ({ ...s, ref: `skipped-${String(i + 1).padStart(4, '0')}` }));
  for (const s of refs) for (const f of s.paths) if (!status.has(f)) status.set(f, { status: 'skipped', ref: s.ref, reason: s.reason });
  const files = [...new Set([...p.allFiles, ...status.keys()])].sort(compareStrings);
  const used = files.filter((f) => status.get(f)?.status === 'used').length;

  const inputsDigest = sha256Hex(combineDigests(records.map((r) => [r.caseId, r.inputDigest])) + p.configDigest);
  const content: Omit<Manifest, 'schemaVersion' | 'tool' | 'version' | 'previous'> = {
    inputsDigest,
    configDigest: p.configDigest,
    labels: nnunetLabels(),
    organs: ORGANS.map((o) => ({ index: o.index, key: o.key, tg263: o.tg263 })),
    numCases: records.length,
    inputs: { files: files.length, used, skipped: files.length - used },
    cases: records,
    skipped: refs.map((s) => ({ ref: s.ref, kind: s.kind, reason: scrub(s.reason) })),
    identityNotRemoved: records.filter((r) => r.sourceKind === 'dicom' && r.identityRemoved !== true).map((r) => r.caseId),
    annotationFindings: annotationFindings(records),
    ...(p.caseNameOverrides?.length ? { caseNameOverrides: [...p.caseNameOverrides].sort(compareStrings) } : {}),
  };
  const splits = makeSplits(
    cases.map((c) => ({ caseId: c.record.caseId, patientId: c.record.patientId, ...(c.plan.pddcaId ? { pddcaId: c.plan.pddcaId } : {}) })),
    { previous: p.replacing?.splits },
  );
  const manifest: Manifest = { schemaVersion: MANIFEST_SCHEMA_VERSION, tool: { name: TOOL_NAME, version: TOOL_VERSION }, ...versionOf(content, splits, p.replacing), ...content };
  const dataset = {
    channel_names: { '0': 'CT' },
    labels: nnunetLabels(),
    numTraining: records.length,
    file_ending: FILE_ENDING,
    name: 'AnatomyNet head-and-neck OARs',
    description: 'CT (HU, int16) cropped to the head and neck; nine organs at risk; see manifest.json for availability',
  };
  const names = namesReport(
    [...cases.map((c) => c.plan.structureNames), ...p.failedPlans.map((f) => f.plan.structureNames)].map((ns) => ns.map((n) => ({ name: scrub(n.name), ...(n.codedName !== undefined ? { codedName: scrub(n.codedName) } : {}) }))),
    p.overrides,
  );
  const texts: Record<(typeof PUBLISHED_FILES)[number], string> = {
    'dataset.json': json(dataset),
    'manifest.json': json(manifest),
    'splits.json': json({ schemaVersion: 1, ...splits }),
    'names.json': json(names),
    'DATASHEET.md': renderDatasheet(manifest, splits),
  };
  const sums: [string, string][] = cases.flatMap((c) => c.outputs.map((o) => [o.path, o.sha256] as [string, string]));
  for (const [name, text] of Object.entries(texts)) {
    writeFileAtomic(join(p.outDir, name), text);
    sums.push([name, sha256Hex(text)]);
  }
  writeFileAtomic(join(p.outDir, 'SHA256SUMS'), formatSha256Sums(sums));

  // Private sidecar: where every case and file came from. Never publish this folder.
  const caseSources = Object.fromEntries(
    [...cases.map((c) => [c.record.caseId, c.plan] as const), ...p.failedPlans.map((f) => [f.caseId, f.plan] as const)]
      .sort((a, b) => compareStrings(a[0], b[0]))
      .map(([id, plan]) => [id, { sourceKind: plan.sourceKind, sourceKey: plan.sourceKey, patientKey: plan.patientKey, location: plan.label, published: cases.some((c) => c.record.caseId === id) }]),
  );
  writeFileAtomic(join(p.privateDir, 'source-map.json'), json({ ids: p.ids, cases: caseSources }));
  writeFileAtomic(join(p.privateDir, 'inputs.json'), json({
    files: files.map((f) => ({ path: f, ...status.get(f)! })),
    skipped: refs.map((s) => ({ ref: s.ref, kind: s.kind, reason: s.reason, paths: s.paths })),
  }));
  return { outDir: p.outDir, privateDir: p.privateDir, manifest, splits };
}
