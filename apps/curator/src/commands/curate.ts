/** `curator curate`: raw DICOM-RT / PDDCA folders -> published dataset folder. */
import type { Argv, CommandModule } from 'yargs';
import { curateCohort, NothingToPublishError, type CurateResult } from '@anatomynet/curation';
import { availableParallelism } from 'node:os';
import { createCasePool } from '../pool';
import { createProgressBar } from '@anatomynet/cli';

export interface CurateArgs {
  input: string[];
  out: string;
  private?: string;
  names?: string;
  crop?: string;
  workers: number;
  caseTimeout: number;
  acceptLossy: boolean;
  quiet: boolean;
}

export const curateCommand: CommandModule<object, CurateArgs> = {
  command: 'curate',
  describe: 'Curate DICOM-RT (CT with RTSTRUCT or SEG) and PDDCA folders into an nnU-Net v2 style dataset (dataset.json, imagesTr, labelsTr, manifest, splits, datasheet, checksums)',
  builder: (y: Argv) =>
    y
      .option('input', { alias: 'i', type: 'string', array: true, demandOption: true, describe: 'input folder (any nesting; repeat for several)' })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'published dataset folder' })
      .option('private', { type: 'string', describe: 'private folder for the source map and file accounting (default <out>.private; never publish it)' })
      .option('names', { type: 'string', describe: 'JSON names file: {"raw name": "Parotid_L" | "ignore"} overriding/extending the built-in table; {"<case>": {"raw name": ...}} for one case (a case id, PDDCA folder name or CT SeriesInstanceUID), e.g. to answer an annotation check' })
      .option('crop', { type: 'string', describe: 'JSON crop file: {"<case>": {"start": [i,j,k], "end": [i,j,k]}} overriding the automatic crop' })
      .option('case-timeout', { type: 'number', default: 900, describe: 'seconds a case may take before it is stopped and reported as failed (a reader stuck on a damaged file); cases then run in worker processes, 0: no limit' })
      .option('accept-lossy', { type: 'boolean', default: false, describe: 'read lossy-compressed CT images (near-lossless JPEG-LS, irreversible or truncated JPEG 2000 and HTJ2K) instead of failing their case; each case and DATASHEET.md say so, as their CT numbers are not the scan\'s' })
      .option('workers', { alias: 'j', type: 'number', default: Math.max(1, Math.min(availableParallelism(), 2)), describe: 'cases curated in parallel (child processes)' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress bar' })
      .example('$0 curate --input ~/PDDCA --input ~/hn-dicom --out data/hn', 'curate two sources into data/hn')
      .example('$0 curate -i ~/hn-dicom -o data/hn --names fixes.json', 'fixes.json: {"hn_0007": {"Parotid Lt": "Parotid_R", "Parotid Rt": "Parotid_L"}, "0522c0013": {"Mandible": "ignore"}}')
      .check((a) => (Number.isInteger(a.workers) && a.workers >= 1 ? true : `--workers ${a.workers}: give a whole number of processes, 1 or more`))
      .check((raw) => {
        const t = (raw as unknown as CurateArgs).caseTimeout;
        return Number.isFinite(t) && t >= 0 ? true : `--case-timeout ${t}: give seconds, 0 or more`;
      })
      .strict() as unknown as Argv<CurateArgs>,
  handler: async (args) => {
    await runCurate(args);
  },
};

export async function runCurate(args: CurateArgs): Promise<CurateResult> {
  const bar = args.quiet ? null : createProgressBar('curate');
  // a time limit needs cases in worker processes, which can be stopped
  const pool = args.workers > 1 || args.caseTimeout > 0 ? createCasePool(args.workers, args.caseTimeout) : null;
  const say = (s: string) => process.stderr.write(s + '\n');
  try {
    const result = await curateCohort({
      inputs: args.input,
      outDir: args.out,
      ...(args.private ? { privateDir: args.private } : {}),
      ...(args.names ? { namesFile: args.names } : {}),
      ...(args.crop ? { cropFile: args.crop } : {}),
      ...(args.acceptLossy ? { acceptLossy: true } : {}),
      concurrency: Math.max(1, args.workers),
      ...(pool ? { runCase: (t) => pool.run(t) } : {}),
      onProgress: (e) => {
        if (!bar) return;
        if (e.phase === 'hash') bar.update(0, e.total, `hashing inputs ${e.done}/${e.total}`);
        if (e.phase === 'curate') bar.update(e.done, e.total, `${e.item} ${e.status}`);
        if (e.phase === 'curate' && e.status === 'failed') bar.log(`case ${e.item} failed (see the summary)`);
      },
    });
    bar?.finish('done');
    say(`curated ${result.curated.length}, unchanged ${result.reused.length}, failed ${result.failed.length}; ${result.manifest.numCases} cases published in ${result.outDir}`);
    reportItems(say, result);
    say(versionLine(result));
    reportFindings(say, result);
    const handNamed = result.manifest.caseNameOverrides ?? [];
    if (handNamed.length) say(`names file sections of their own mapped the structures of ${handNamed.length} case${handNamed.length === 1 ? '' : 's'}: ${handNamed.join(', ')} (DATASHEET.md says so)`);
    if (result.removed.length) say(`removed ${result.removed.length} cases of the previous dataset, their source no longer found or failing now: ${result.removed.join(', ')}`);
    if (result.manifest.identityNotRemoved.length) say(`warning: PatientIdentityRemoved is not YES for ${result.manifest.identityNotRemoved.join(', ')}`);
    say(`source map and file accounting (keep private): ${result.privateDir}`);
    return result;
  } catch (e) {
    bar?.finish('stopped');
    // what was found, so that the error's "nothing published" can be acted on
    if (e instanceof NothingToPublishError) reportItems(say, e);
    throw e;
  } finally {
    await pool?.close();
  }
}

/** Which version was published, and what changed from the folder's previous one. */
function versionLine({ manifest: m, versionBefore }: CurateResult): string {
  const p = m.previous;
  if (versionBefore === m.version) return `dataset version ${m.version}, unchanged`;
  if (!p) return `dataset version ${m.version ?? 1}`;
  const moved = p.splits === 'kept' ? 'splits kept' : `splits placed afresh (the method changed), ${p.moved.length} cases moved`;
  return `dataset version ${m.version} (was ${p.version}): ${p.added.length} added, ${p.removed.length} removed, ${p.changed.length} changed; ${moved}`;
}

/** The annotation checks' findings with the source to open (the first 20; all are in DATASHEET.md and manifest.json, without sources). */
function reportFindings(say: (s: string) => void, { manifest, outDir, sources }: CurateResult): void {
  const findings = manifest.annotationFindings ?? [];
  if (!findings.length) return say('annotation checks (sides, stray pieces, slices left out, CT numbers, shifts, volumes): nothing found');
  say(`annotation checks: ${findings.length} finding${findings.length === 1 ? '' : 's'} to review (${outDir}/DATASHEET.md, Annotation checks):`);
  for (const f of findings.slice(0, 20)) say(`  ${f.caseId} ${f.check}: ${f.message}\n    source: ${sources[f.caseId] ?? 'unknown'}`);
  if (findings.length > 20) say(`  and ${findings.length - 20} more`);
  say(`  the slices behind each: npm run curator -- review ${outDir}`);
}

function reportItems(say: (s: string) => void, r: Pick<NothingToPublishError, 'failed' | 'skipped'>): void {
  for (const f of r.failed) say(`  failed ${f.caseId} (${f.source}): ${f.reason}`);
  if (r.skipped.length) say(`skipped ${r.skipped.length} input items:`);
  for (const s of r.skipped) say(`  ${s.kind} ${s.paths[0] ?? ''}${s.paths.length > 1 ? ` (+${s.paths.length - 1} files)` : ''}: ${s.reason}`);
}
