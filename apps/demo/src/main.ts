#!/usr/bin/env node
// `npm run demo`: the main job, end to end, by running the three CLIs a user would run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { formatDuration } from '@anatomynet/cli';
import { DEMO_REPLICATED_ROWS, demoSteps, entryOf } from './steps';

const root = resolve(import.meta.dirname, '../../..');
const args = await yargs(hideBin(process.argv))
  .scriptName('demo')
  .usage('$0 [options]\n\nSynthetic cohort -> curate -> the final AnatomyNet and the smoke grids of Figures 3 and 5 (two rows of Figure 3 with several seeds) -> report, on this machine.')
  .option('out', { type: 'string', default: 'demo-output', describe: 'output folder' })
  .option('cases', { type: 'number', default: 32, describe: 'synthetic cases (32: 23 training, 3 validation and 6 test cases)' })
  .option('seed', { type: 'string', default: '1', describe: 'cohort seed (a whole number)' })
  .option('profile', { type: 'string', choices: ['smoke', 'full'], default: 'smoke', describe: 'grid profile: smoke (CPU-sized) or full (the paper settings)' })
  .option('grids', {
    type: 'array',
    string: true,
    default: ['fig6-final:anatomynet', 'fig3-pooling', 'fig5-losses'],
    describe: 'experiments/<name>.json grids to run, in this order; <name>:ROW[,ROW...] runs only those rows (the final model first: the longest cell)',
  })
  .option('workers', { type: 'number', default: 2, describe: 'grid worker processes sharing the cells' })
  .option('replicates', {
    type: 'number',
    default: 3,
    describe: `then train ${DEMO_REPLICATED_ROWS} with this many seeds each (grid --replicates), so the report shows the spread between seeds; 1: not`,
  })
  .option('backend', { type: 'string', choices: ['tensorflow', 'webgpu', 'wasm', 'cpu'], describe: 'compute backend for training (default: best available)' })
  // mistakes found now, not after minutes of cohort and curation
  .check((a) => (Number.isInteger(a.cases) && a.cases >= 1 ? true : `--cases ${a.cases}: give a whole number of cases, 1 or more`))
  .check((a) => (Number.isInteger(a.workers) && a.workers >= 1 ? true : `--workers ${a.workers}: give a whole number of processes, 1 or more`))
  .check((a) => (/^-?\d+$/.test(a.seed) ? true : `--seed ${a.seed}: give a whole number`))
  .check((a) => (Number.isInteger(a.replicates) && a.replicates >= 1 && a.replicates <= 20 ? true : `--replicates ${a.replicates}: give a whole number from 1 to 20`))
  .check((a) => {
    const missing = a.grids.map((g) => String(g).split(':')[0]).filter((name) => !existsSync(join(root, 'experiments', `${name}.json`)));
    if (!missing.length) return true;
    const known = readdirSync(join(root, 'experiments')).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, ''));
    return `--grids: no experiments/${missing[0]}.json (grids: ${known.join(', ')})`;
  })
  .strict()
  .help()
  .parseAsync();

const out = resolve(args.out);
const steps = demoSteps({ out, cases: args.cases, seed: Number(args.seed), profile: args.profile, grids: args.grids, workers: args.workers, replicates: args.replicates, backend: args.backend });
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const start = Date.now();
for (const [i, s] of steps.entries()) {
  process.stderr.write(`\n== demo step ${i + 1}/${steps.length}: ${s.title} (${formatDuration((Date.now() - start) / 1000)} elapsed)\n`);
  if (s.skipIfExists && existsSync(s.skipIfExists)) {
    process.stderr.write(`   skipped: ${s.skipIfExists} exists (delete ${args.out} to start over)\n`);
    continue;
  }
  process.stderr.write(`   npm run ${s.app} -- ${s.args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [tsx, join(root, entryOf(s)), ...s.args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`\ndemo: step "${s.title}" failed (exit ${r.status ?? r.signal}); its output is above. Fix it and run npm run demo again: finished steps and grid cells are not repeated.\n`);
    process.exit(1);
  }
}
const report = join(out, 'report', 'index.html');
process.stderr.write(`\ndemo finished in ${formatDuration((Date.now() - start) / 1000)}.\n`);
const review = join(`${join(out, 'dataset')}.private`, 'annotation-review.html');
if (existsSync(review)) console.log(`annotation review of the dataset: ${review}`);
const segmentation = join(out, 'segmentation');
if (existsSync(join(segmentation, 'seg.dcm'))) console.log(`a new patient segmented by the final model (labels.nii.gz, rtstruct.dcm, seg.dcm; review.html draws its contours): ${segmentation}`);
if (existsSync(report)) console.log(`report: ${report}`);
