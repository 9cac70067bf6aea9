import { existsSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { mergeTrackingDatabase, type MergeReport } from '@anatomynet/tracking';
import { openStore } from '../common';

interface MergeArgs {
  sources: string[];
  db: string;
  runs?: string;
  dryRun: boolean;
}

export const mergeCommand: CommandModule<object, MergeArgs> = {
  command: 'merge <sources..>',
  describe: "Copy other tracking databases' runs and grid cells into --db: grids run on several machines, each into its own database, come together",
  builder: (y) =>
    y
      .positional('sources', { type: 'string', array: true, demandOption: true, describe: 'tracking databases to copy from (each into --db in one transaction; read only)' })
      .option('db', { type: 'string', demandOption: true, describe: 'tracking database to merge into (created if missing; on a local disk)' })
      .option('runs', { type: 'string', describe: "where the sources' run folders are now (copied from the other machines): each run's folder becomes <runs>/<its name>; default: paths as recorded" })
      .option('dry-run', { type: 'boolean', default: false, describe: 'say what would be copied and kept, and change nothing' })
      .example('$0 merge gpu2.db gpu3.db --db runs.db --runs runs', 'after copying gpu2 and gpu3 run folders into runs/') as any,
  handler: async (a) => {
    for (const s of a.sources) if (!existsSync(s)) throw new Error(`${s}: no such database`);
    // a dry run makes no database either
    const store = openStore(a.db, { create: !a.dryRun });
    const reports: MergeReport[] = [];
    try {
      for (const source of a.sources) {
        const r = mergeTrackingDatabase(store, source, { runsDir: a.runs, dryRun: a.dryRun });
        reports.push(r);
        console.error(`${a.dryRun ? '(dry run, nothing changed) ' : ''}${source}: ${r.copied.length} run(s) copied, ${r.replaced.length} replaced (killed here, ended there), ${r.unchanged} already here${r.moved.length ? ` (${r.moved.length} now in --runs)` : ''}; ${r.cells} grid cell(s) filled`);
        for (const s of r.skipped) console.error(`  run ${s.runId} not copied: ${s.reason}`);
        for (const c of r.cellsKept) console.error(`  cell ${c.grid} ${c.key} kept as it is: ${c.reason}`);
      }
      // Segmenting with a run, its overlays and resuming it need its folder on this machine.
      const copied = new Set(reports.flatMap((r) => [...r.copied, ...r.replaced]));
      const away = (await store.listRuns()).filter((r) => copied.has(r.id) && r.runDir && !existsSync(r.runDir));
      if (away.length) {
        console.error(`${away.length} merged run folder(s) are not on this machine (first: ${away[0].runDir}): copy them here and merge again with --runs FOLDER to point at them, for segment --run, the report's overlays and resuming`);
      }
    } finally {
      await store.close();
    }
    console.log(JSON.stringify(reports));
  },
};
