/**
 * Curate a cohort: discover inputs -> plan cases (ids, digests) -> curate the cases that changed
 * (through `runCase`, so an app can spread them over processes) -> publish the dataset folder.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '@anatomynet/data';
import { curateCase, type CaseOutcome, type CaseTask } from './case';
import type { CropBox, CropOptions } from './crop';
import { parseCropFile } from './cropfile';
import { discoverInputs, type PlannedCase, type SkippedItem } from './discover';
import { CurationInputError, NothingToPublishError } from './errors';
import { combineDigests, sha256File, sha256Hex } from './hashing';
import { assignIds, type IdAssignment } from './ids';
import { checkManifestShape, TOOL_NAME, TOOL_VERSION, type CaseRecord, type Manifest } from './manifest';
import { caseOverrides, compareStrings, parseNamesFile, type NamesFile } from './names';
import { publishDataset, type PublishedVersion, type PublishResult } from './publish';
import type { Splits } from './splits';

export interface CurateOptions {
  inputs: string[];
  outDir: string;
  /** Private folder for the source map and per-file accounting (default `<outDir>.private`). */
  privateDir?: string;
  namesFile?: string;
  cropFile?: string;
  cropOptions?: CropOptions;
  /** Read lossy-compressed CT images (near-lossless JPEG-LS, irreversible JPEG 2000), each case saying so, instead of failing the case. */
  acceptLossy?: boolean;
  /** Cases curated at once through runCase (default 1). */
  concurrency?: number;
  /** Runs one case (default: in this process). */
  runCase?: (task: CaseTask) => Promise<CaseOutcome>;
  onProgress?: (e: CurateProgress) => void;
}

export interface CurateProgress {
  phase: 'discover' | 'hash' | 'curate' | 'publish';
  done: number;
  total: number;
  /** Case id (curate) of the item just finished. */
  item?: string;
  status?: 'curated' | 'reused' | 'failed';
}

export interface CurateResult extends PublishResult {
  curated: string[];
  reused: string[];
  /** Cases the folder's previous dataset held and this one does not (source gone, or failed now). */
  removed: string[];
  /** The version the folder held before (undefined: none), to tell a new version from an unchanged one. */
  versionBefore?: number;
  /** Cases that failed, with the source (private) and the reason. */
  failed: { caseId: string; source: string; reason: string }[];
  /** Every skipped input item, with its paths (private) and the reason. */
  skipped: SkippedItem[];
  /** Each published case's source folder (private), to find the case an annotation finding names. */
  sources: Record<string, string>;
}

interface CachedCase {
  taskDigest: string;
  record: CaseRecord;
  outputs: { path: string; sha256: string }[];
}

/** What a names or crop file may call a case besides its id: the PDDCA folder name or the CT SeriesInstanceUID. */
function caseKeyOf(plan: PlannedCase): string {
  return plan.sourceKey.replace(/^[a-z]+:/, '');
}

/** The roles of a case's image files (discover.ts): the CT series' slices, PDDCA's img.nrrd. */
const IMAGE_ROLES = new Set(['ct', 'image']);

export async function curateCohort(opts: CurateOptions): Promise<CurateResult> {
  const outDir = resolve(opts.outDir);
  const privateDir = resolve(opts.privateDir ?? `${outDir}.private`);
  if (privateDir === outDir || privateDir.startsWith(outDir + '/')) {
    throw new CurationInputError(privateDir, 'the private folder must lie outside the published folder');
  }
  for (const input of opts.inputs.map((p) => resolve(p))) {
    const nested = (a: string, b: string) => a === b || a.startsWith(b + '/');
    if (nested(outDir, input) || nested(input, outDir) || nested(privateDir, input) || nested(input, privateDir)) {
      throw new CurationInputError(outDir, `the output folders and the input ${input} must not contain one another`);
    }
  }
  const { caseIds: publishedBefore, replacing } = claimOutputFolder(outDir, privateDir);
  const progress = opts.onProgress ?? ((): void => undefined);
  const names: NamesFile = opts.namesFile ? parseNamesFile(readText(opts.namesFile), opts.namesFile) : { all: new Map(), byCase: new Map() };
  const overrides = names.all;
  const crops = opts.cropFile ? parseCropFile(readText(opts.cropFile), opts.cropFile) : new Map<string, CropBox>();
  const cropOptions = opts.cropOptions ?? {};

  progress({ phase: 'discover', done: 0, total: 1 });
  const found = discoverInputs(opts.inputs, overrides);
  progress({ phase: 'discover', done: 1, total: 1 });
  if (found.cases.length === 0) throw new NothingToPublishError(outDir, [], found.skipped);

  const sourceMapPath = join(privateDir, 'source-map.json');
  // Without the source map a published version's ids would be numbered afresh and could name other
  // cases than before (and its kept splits other patients): refused rather than renamed silently.
  if (replacing && !existsSync(sourceMapPath)) {
    throw new CurationInputError(
      privateDir,
      `no source-map.json, which keeps the case ids of the dataset published in ${outDir} (version ${replacing.manifest.version ?? 1}): restore the private folder (or give it with --private), or curate into a new folder`,
    );
  }
  const previous = existsSync(sourceMapPath) ? (JSON.parse(readFileSync(sourceMapPath, 'utf8')).ids as IdAssignment) : undefined;
  const ids = assignIds(found.cases.map((c) => c.sourceKey), found.cases.map((c) => c.patientKey), previous);
  // A case key that names no case is a typo whose fix would silently not apply.
  const caseKeys = new Set(found.cases.flatMap((c) => [ids.cases[c.sourceKey], caseKeyOf(c)]));
  const ownNames = (caseId: string, plan: PlannedCase) => names.byCase.get(caseId) ?? names.byCase.get(caseKeyOf(plan));
  for (const [file, keys] of [[opts.namesFile, names.byCase.keys()], [opts.cropFile, crops.keys()]] as const) {
    const unknown = [...keys].filter((k) => !caseKeys.has(k));
    if (unknown.length) throw new CurationInputError(file!, `${unknown.map((k) => `"${k}"`).join(', ')} name${unknown.length === 1 ? 's' : ''} no case of the inputs: give a case id (hn_0001), a PDDCA folder name or a CT SeriesInstanceUID`);
  }

  const configDigest = sha256Hex(JSON.stringify({
    names: [...overrides].sort((a, b) => compareStrings(a[0], b[0])),
    ...(names.byCase.size ? { caseNames: [...names.byCase].map(([k, v]) => [k, [...v]]).sort((a, b) => compareStrings(String(a[0]), String(b[0]))) } : {}),
    crops: [...crops].sort((a, b) => compareStrings(a[0], b[0])),
    cropOptions: Object.entries(cropOptions).sort((a, b) => compareStrings(a[0], b[0])),
    ...(opts.acceptLossy ? { acceptLossy: true } : {}),
  }));

  // Input digests: file contents with their roles (not their paths, so a moved tree is the same input).
  const tasks: { plan: PlannedCase; task: CaseTask }[] = [];
  const staging = join(privateDir, 'staging');
  for (const [n, plan] of found.cases.entries()) {
    const entries: [string, string][] = [];
    for (const f of plan.files) entries.push([f.role, await sha256File(f.path)]);
    const inputDigest = combineDigests(entries);
    const imageDigest = combineDigests(entries.filter(([role]) => IMAGE_ROLES.has(role)));
    const caseId = ids.cases[plan.sourceKey];
    const manualCrop = crops.get(caseId) ?? crops.get(caseKeyOf(plan));
    const base = {
      caseId,
      patientId: ids.patients[plan.patientKey],
      sourceKind: plan.sourceKind,
      synthetic: plan.synthetic,
      inputDigest,
      imageDigest,
      ...(plan.pddca ? { pddca: plan.pddca } : {}),
      ...(plan.dicom ? { dicom: plan.dicom } : {}),
      ...(manualCrop ? { manualCrop } : {}),
      nameOverrides: [...caseOverrides(overrides, ownNames(caseId, plan))].sort((a, b) => compareStrings(a[0], b[0])),
      cropOptions,
      ...(opts.acceptLossy ? { acceptLossy: true } : {}),
      outDir,
      stagingDir: staging,
    };
    const taskDigest = sha256Hex(JSON.stringify({ tool: TOOL_VERSION, inputDigest, imageDigest, synthetic: plan.synthetic, caseId, patientId: base.patientId, manualCrop, nameOverrides: base.nameOverrides, cropOptions, pairing: plan.dicom?.pairing, pairingWarnings: plan.dicom?.pairingWarnings, ...(opts.acceptLossy ? { acceptLossy: true } : {}) }));
    tasks.push({ plan, task: { ...base, taskDigest } });
    progress({ phase: 'hash', done: n + 1, total: found.cases.length });
  }

  // Curate what changed; reuse cases whose digest and output files still match.
  mkdirSync(join(privateDir, 'cases'), { recursive: true });
  const outcomes = new Map<string, CaseOutcome>();
  const curated: string[] = [], reused: string[] = [];
  const todo: CaseTask[] = [];
  let done = 0;
  for (const { task } of tasks) {
    const cached = await reusable(privateDir, outDir, task);
    if (cached) {
      outcomes.set(task.caseId, { ok: true, caseId: task.caseId, record: cached.record, outputs: cached.outputs });
      reused.push(task.caseId);
      progress({ phase: 'curate', done: ++done, total: tasks.length, item: task.caseId, status: 'reused' });
    } else {
      todo.push(task);
    }
  }
  const run = opts.runCase ?? (async (t: CaseTask) => curateCase(t));
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 1, todo.length)) }, async () => {
    while (next < todo.length) {
      const task = todo[next++];
      let outcome: CaseOutcome;
      try {
        outcome = await run(task);
      } catch (e) {
        outcome = { ok: false, caseId: task.caseId, reason: (e as Error).message ?? String(e) };
      }
      outcomes.set(task.caseId, outcome);
      if (outcome.ok) {
        curated.push(task.caseId);
        const cache: CachedCase = { taskDigest: task.taskDigest, record: outcome.record, outputs: outcome.outputs };
        writeFileAtomic(join(privateDir, 'cases', `${task.caseId}.json`), JSON.stringify(cache) + '\n');
      }
      progress({ phase: 'curate', done: ++done, total: tasks.length, item: task.caseId, status: outcome.ok ? 'curated' : 'failed' });
    }
  });
  await Promise.all(workers);
  rmSync(staging, { recursive: true, force: true });

  const failed: CurateResult['failed'] = [];
  const skipped = [...found.skipped];
  for (const { plan, task } of tasks) {
    const o = outcomes.get(task.caseId)!;
    if (!o.ok) {
      failed.push({ caseId: task.caseId, source: plan.label, reason: o.reason });
      skipped.push({ kind: plan.sourceKind === 'pddca' ? 'pddca-case' : 'ct-series', paths: plan.files.map((f) => f.path), reason: `case failed: ${o.reason}` });
    }
  }
  const ok = tasks.filter(({ task }) => outcomes.get(task.caseId)!.ok);
  if (ok.length === 0) throw new NothingToPublishError(outDir, failed, skipped);
  progress({ phase: 'publish', done: 0, total: 1 });
  const published = publishDataset({
    outDir,
    privateDir,
    cases: ok.map(({ plan, task }) => {
      const o = outcomes.get(task.caseId) as Extract<CaseOutcome, { ok: true }>;
      return { plan, record: o.record, outputs: o.outputs };
    }),
    allFiles: found.files,
    skipped,
    failedPlans: tasks.filter(({ task }) => !outcomes.get(task.caseId)!.ok).map(({ plan, task }) => ({ plan, caseId: task.caseId })),
    ids,
    configDigest,
    overrides,
    caseNameOverrides: ok.filter(({ plan, task }) => ownNames(task.caseId, plan)).map(({ task }) => task.caseId),
    replacing,
  });
  progress({ phase: 'publish', done: 1, total: 1 });
  curated.sort(compareStrings);
  reused.sort(compareStrings);
  const now = new Set(published.manifest.cases.map((c) => c.caseId));
  const removed = publishedBefore.filter((id) => !now.has(id)).sort(compareStrings);
  const sources = Object.fromEntries(ok.map(({ plan, task }) => [task.caseId, plan.label]));
  return { ...published, curated, reused, removed, failed, skipped, sources, ...(replacing ? { versionBefore: replacing.manifest.version ?? 1 } : {}) };
}

/**
 * The output folder must be new, empty, or one this curator writes: publishing replaces its dataset
 * files and removes from imagesTr and labelsTr whatever the dataset does not hold. Ours: a manifest of
 * this tool, or (a first run stopped before publishing) the private folder's case cache. Returns the
 * cases the folder's dataset holds now, and that dataset as the version the new one replaces.
 */
function claimOutputFolder(outDir: string, privateDir: string): { caseIds: string[]; replacing?: PublishedVersion } {
  if (!existsSync(outDir)) return { caseIds: [] };
  if (!statSync(outDir).isDirectory()) throw new CurationInputError(outDir, 'the output is a file, not a folder');
  if (readdirSync(outDir).length === 0) return { caseIds: [] };
  let manifest: { tool?: { name?: unknown }; cases?: { caseId?: unknown }[] } | undefined;
  let bytes: Buffer | undefined;
  try {
    bytes = readFileSync(join(outDir, 'manifest.json'));
    manifest = JSON.parse(bytes.toString('utf8'));
  } catch {
    manifest = undefined;
  }
  const tool = manifest?.tool?.name;
  if (tool === TOOL_NAME) {
    const caseIds = Array.isArray(manifest?.cases) ? manifest.cases.map((c) => String(c?.caseId)) : [];
    // a manifest that does not read as one (edited by hand) is no version to continue from
    if (checkManifestShape(manifest).length) return { caseIds };
    return { caseIds, replacing: { manifest: manifest as Manifest, manifestDigest: sha256Hex(bytes!), splits: readPublishedSplits(outDir) } };
  }
  if (existsSync(join(privateDir, 'cases'))) return { caseIds: [] };
  throw new CurationInputError(outDir, `the output folder holds files and no dataset of ${TOOL_NAME} (manifest.json${tool ? ` is ${String(tool)}'s` : ' missing or unreadable'}); ` +
    'publishing would replace and remove files there: give a new or empty folder');
}

/** The folder's splits.json as a {@link Splits}, or undefined when it does not read as one. */
function readPublishedSplits(outDir: string): Splits | undefined {
  try {
    const { method, train, validation, test } = JSON.parse(readFileSync(join(outDir, 'splits.json'), 'utf8')) as Splits;
    const ids = (x: unknown) => Array.isArray(x) && x.every((id) => typeof id === 'string');
    return (method === 'hash' || method === 'miccai2015-offsite') && ids(train) && ids(validation) && ids(test) ? { method, train, validation, test } : undefined;
  } catch {
    return undefined;
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new CurationInputError(path, `cannot read: ${(e as Error).message}`);
  }
}

async function reusable(privateDir: string, outDir: string, task: CaseTask): Promise<CachedCase | null> {
  const p = join(privateDir, 'cases', `${task.caseId}.json`);
  if (!existsSync(p)) return null;
  let cached: CachedCase;
  try {
    cached = JSON.parse(readFileSync(p, 'utf8')) as CachedCase;
  } catch {
    return null;
  }
  if (cached.taskDigest !== task.taskDigest) return null;
  for (const o of cached.outputs) {
    const f = join(outDir, o.path);
    if (!existsSync(f) || (await sha256File(f)) !== o.sha256) return null;
  }
  return cached;
}
