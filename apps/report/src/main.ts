#!/usr/bin/env node
/**
 * report: builds the self-contained HTML report from the tracking database (and the dataset folder).
 * Thin yargs CLI over @anatomynet/reporting's generateReport.
 *
 *   npm run report -- --db runs/tracking.sqlite --dataset DATASET --out report
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { createProgressBar, type ProgressBar } from '@anatomynet/cli';
import { generateReport } from '@anatomynet/reporting';

/** The repository's experiments/ folder (next to apps/), else ./experiments. */
export function defaultExperimentsDir(): string {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../../experiments');
  return existsSync(repo) ? repo : resolve('experiments');
}

export async function main(argv: string[], opts: { output?: (text: string) => void; quiet?: boolean } = {}): Promise<void> {
  const cli = yargs(argv)
    .scriptName('report')
    .usage('$0 --db FILE --out DIR [--dataset DIR]\n\nWrites DIR/index.html: Figures 3-6 and Table I of the AnatomyNet paper from the tracking database, the published numbers beside them, training curves, per-case results, Fig. 7 style overlays and the dataset section. Self-contained: no network.')
    .option('db', { type: 'string', demandOption: true, describe: 'tracking database (SQLite), opened read-only' })
    .option('out', { type: 'string', demandOption: true, describe: 'output folder (index.html is written there)' })
    .option('dataset', { type: 'string', describe: 'curated dataset folder (manifest.json, imagesTr, labelsTr): dataset section and overlays' })
    .option('experiments', { type: 'string', describe: 'folder of grid definitions (<grid>.json)', default: defaultExperimentsDir(), defaultDescription: 'the repository experiments/' })
    .option('overlay-run', { type: 'string', array: true, describe: 'run id(s) to draw overlays for (default: the fig6 runs, else the first finished run)' })
    .option('overlay-cases', { type: 'number', default: 2, describe: 'test cases drawn per overlay run' })
    .option('now', { type: 'string', describe: 'time written in the footer (ISO; default now), for reproducible output' })
    .check((a) => (Number.isInteger(a['overlay-cases']) && a['overlay-cases'] >= 0 ? true : `--overlay-cases ${a['overlay-cases']}: give a whole number of cases, 0 or more`))
    .check((a) => (a.now === undefined || Number.isFinite(Date.parse(a.now)) ? true : `--now ${a.now}: give an ISO time, e.g. 2026-01-01T00:00:00Z`))
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .exitProcess(!opts.output);
  // with `output`, yargs does not exit on a usage mistake: it is thrown here instead of running on
  let mistake: Error | undefined;
  const args = opts.output ? await cli.parseAsync(argv, {}, (e, _a, text) => { if (text) opts.output!(text); mistake = e ?? undefined; }) : await cli.parseAsync();
  if (mistake) throw mistake;
  if ((args as { help?: boolean }).help || !args.db || !args.out) return;
  const log = (s: string) => { if (!opts.quiet) process.stderr.write(s); };
  const t0 = Date.now();
  const bars = new Map<string, ProgressBar>();
  const res = await generateReport({
    dbPath: args.db,
    outDir: args.out,
    experimentsDir: args.experiments,
    datasetDir: args.dataset,
    overlayRuns: args['overlay-run'],
    overlayCases: args['overlay-cases'],
    now: args.now,
    onStage: (s) => log(`report: ${s}\n`),
    onProgress: (stage, d, t) => {
      if (opts.quiet) return;
      const bar = bars.get(stage) ?? bars.set(stage, createProgressBar(`report ${stage}`)).get(stage)!;
      bar.update(d, t);
      if (d >= t) { bar.finish(); bars.delete(stage); }
    },
  });
  const missing = res.model.figures.reduce((s, f) => s + f.missing.length, 0);
  log(`report: wrote ${res.htmlPath} (${(res.bytes / 1e6).toFixed(2)} MB, ${res.charts.length} charts, ${res.model.runs.length} runs, ${missing} missing cells), results.csv and paired.csv in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(hideBin(process.argv)).catch((e: unknown) => {
    process.stderr.write(`report: ${(e as Error).message ?? String(e)}\n`);
    process.exitCode = 2;
  });
}

