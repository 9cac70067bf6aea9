/**
 * Benchmark: seconds to build the report from a database with 100 runs (the five paper grids under the
 * full profile, 23 runs, plus a 77-run sweep), 10 test cases x 9 organs and 200 epochs of curves each.
 * Prints the seeding time apart from the report time. Target: report under 10 s.
 *
 *   npx tsx apps/report/src/bench.ts [--runs 100] [--keep]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@anatomynet/tracking';
import { generateReport, readExperimentDefs } from '@anatomynet/reporting';
import { seedFakeGrid, type FakeCell } from '@anatomynet/reporting/testing';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { defaultExperimentsDir } from './main';

async function bench(): Promise<void> {
  const args = await yargs(hideBin(process.argv))
    .scriptName('bench:report')
    .usage('$0 [options]\n\nSeconds to build the report from a seeded database of many runs (target: under 10 s); prints JSON.')
    .option('runs', { type: 'number', default: 100, describe: 'runs seeded: the five paper grids (full profile), then a seed sweep' })
    .option('keep', { type: 'boolean', default: false, describe: 'keep the temp folder with the database and the report' })
    .strict()
    .help()
    .parseAsync();
  const runs = args.runs;
  const dir = mkdtempSync(join(tmpdir(), 'report-bench-'));
  const dbPath = join(dir, 'tracking.sqlite');
  const cases = Array.from({ length: 10 }, (_, i) => `case-${String(i + 1).padStart(3, '0')}`);
  const t0 = performance.now();
  const store = openSqliteStore(dbPath);
  let made = 0;
  const defs = readExperimentDefs(defaultExperimentsDir());
  const wiggle = (k: number) => (c: number, o: number) => 0.55 + 0.035 * o + 0.02 * Math.sin(c * 1.7 + o + k);
  for (const d of defs) {
    const cells: FakeCell[] = d.rows.slice(0, Math.max(0, runs - made)).map((r, k) => ({ key: r.key, run: 'FINISHED', dsc: wiggle(k) }));
    made += cells.length;
    await seedFakeGrid(store, `${d.name}@full`, cells, { cases, epochs: 200 });
  }
  const sweep: FakeCell[] = Array.from({ length: Math.max(0, runs - made) }, (_, k) => ({ key: `seed-${k}`, run: 'FINISHED', dsc: wiggle(k) }));
  if (sweep.length) await seedFakeGrid(store, 'seed-sweep@full', sweep, { cases, epochs: 200 });
  await store.close();
  const tSeed = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const res = await generateReport({ dbPath, outDir: join(dir, 'report'), experimentsDir: defaultExperimentsDir(), now: '2026-01-01T00:00:00Z' });
  const tReport = (performance.now() - t1) / 1000;
  console.log(JSON.stringify({ runs: res.model.runs.length, charts: res.charts.length, htmlMB: +(res.bytes / 1e6).toFixed(2), seedSeconds: +tSeed.toFixed(2), reportSeconds: +tReport.toFixed(2), targetSeconds: 10 }));
  console.log(`report from ${res.model.runs.length} runs: ${tReport.toFixed(2)} s (target < 10 s); database seeded in ${tSeed.toFixed(2)} s`);
  if (args.keep) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

bench().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
