/**
 * Curation benchmark: seconds to curate one full-size CT (512x512, ~200 slices, nine organ ROIs plus
 * distractors) and cases per minute for a cohort over worker processes. Inputs come from the synthetic
 * cohort generator. Run: `npx tsx apps/curator/src/bench.ts [--cases 4] [--workers 2] [--dir DIR]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { curateCohort, writeSynthCohort } from '@anatomynet/curation';
import { createCasePool } from './pool';

const args = await yargs(hideBin(process.argv))
  .scriptName('bench:curate')
  .usage('$0 [options]\n\nSeconds to curate one full-size synthetic CT, and cases per minute for a cohort over worker processes.')
  .option('cases', { type: 'number', default: 4, describe: 'cohort size' })
  .option('workers', { type: 'number', default: Math.max(1, Math.min(availableParallelism(), 2)), describe: 'worker processes for the cohort run' })
  .option('slice-mm', { type: 'number', default: 2, describe: 'slice spacing of the synthetic CTs (2 mm gives ~200 slices)' })
  .option('dir', { type: 'string', describe: 'work folder (default: a temp folder, removed afterwards)' })
  .strict()
  .help()
  .parseAsync();

const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'curator-bench-'));
const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
try {
  console.log(`machine: ${cpus()[0]?.model ?? 'cpu'} x${availableParallelism()}, node ${process.version}`);
  let t = process.hrtime.bigint();
  const truth = await writeSynthCohort({ outDir: join(dir, 'in'), cases: args.cases, seed: 'bench', size: 'full', sliceMm: args.sliceMm, pddcaFraction: 0, ffsFraction: 0, overwrite: true });
  console.log(`generated ${args.cases} synthetic DICOM cases in ${secs(t).toFixed(1)} s`);

  for (const out of ['one', 'one.private', 'all', 'all.private']) rmSync(join(dir, out), { recursive: true, force: true });
  const annotated = (k: number) => Object.values(truth.cases[k].organs).filter((o) => o.annotated).length;
  const one = truth.cases[[...truth.cases.keys()].sort((a, b) => annotated(b) - annotated(a))[0]];
  t = process.hrtime.bigint();
  const single = await curateCohort({ inputs: [join(dir, 'in', one.dir)], outDir: join(dir, 'one') });
  const oneS = secs(t);
  const c = single.manifest.cases[0];
  const organs = Object.values(c.availability).filter((a) => a === 'annotated').length;
  console.log(`one case: source ${c.sourceShape.join('x')} -> cropped ${c.shape.join('x')}, ${one.rois.length} ROIs (${organs} organs annotated): ${oneS.toFixed(2)} s (curated ${single.curated.length})`);

  const pool = args.workers > 1 ? createCasePool(args.workers) : null;
  t = process.hrtime.bigint();
  const all = await curateCohort({ inputs: [join(dir, 'in')], outDir: join(dir, 'all'), concurrency: args.workers, ...(pool ? { runCase: (task) => pool.run(task) } : {}) });
  const allS = secs(t);
  await pool?.close();
  console.log(`cohort: ${all.manifest.numCases} cases with ${args.workers} worker(s): ${allS.toFixed(1)} s, ${((all.manifest.numCases / allS) * 60).toFixed(2)} cases/min (curated ${all.curated.length})`);

  t = process.hrtime.bigint();
  const again = await curateCohort({ inputs: [join(dir, 'in')], outDir: join(dir, 'all') });
  console.log(`re-run, nothing changed: ${again.reused.length} cases reused in ${secs(t).toFixed(1)} s`);
} finally {
  if (!args.dir) rmSync(dir, { recursive: true, force: true });
}
