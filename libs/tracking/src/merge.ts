/**
 * Merging one tracking database into another: how grids spread over several machines come together.
 * SQLite cannot be shared between machines (no network file systems), so each machine runs its rows into
 * its own database and `mergeTrackingDatabase` copies its runs (with their params, metrics, case results
 * and artifacts) and grid cells into one, in a single transaction: the target has all of a source or none
 * of it, and merging the same source again changes nothing.
 */
import { basename, join, resolve, sep } from 'node:path';
import { TrackingError } from './errors.js';
import { openSqliteStore, type SqliteTrackingStore } from './sqlite-store.js';

export interface MergeOptions {
  /**
   * Where the source's run folders are on this machine (copied from the other one): each run folder
   * becomes `<runsDir>/<its name>`, and its artifacts' paths follow. Left out: paths stay as recorded.
   */
  runsDir?: string;
  /** Work out the report, then roll the transaction back: nothing changes in the target. */
  dryRun?: boolean;
}

export interface MergeReport {
  source: string;
  /** Runs new to the target. */
  copied: string[];
  /** Runs KILLED in the target that ended since in the source: replaced by the source's. */
  replaced: string[];
  /** Runs already in the target as they are in the source. */
  unchanged: number;
  /** Runs already in the target whose folder `runsDir` moved. */
  moved: string[];
  /** Runs not copied, with why (still RUNNING in the source, or running in the target). */
  skipped: { runId: string; reason: string }[];
  /** Grid cells added or updated in the target. */
  cells: number;
  /** Source cells that did not change the target's, with why. */
  cellsKept: { grid: string; key: string; reason: string }[];
}

type Row = Record<string, any>;

/** Columns copied as they are (besides the run id) for each child table of a run. */
const CHILD_COLUMNS = {
  params: ['key', 'value'],
  metrics: ['key', 'step', 'value', 'time'],
  case_results: ['split', 'case_id', 'organ', 'dsc', 'hd95_mm', 'surface_dice', 'msd_mm', 'tp', 'fp', 'fn', 'extra_json'],
} as const;

const RUN_COLUMNS = ['name', 'status', 'start_time', 'end_time', 'heartbeat_time', 'git_commit', 'config_json', 'config_digest', 'dataset_digest', 'backend', 'adapter', 'run_dir', 'error_text', 'failed_step'] as const;

/** `path` moved from under `from` to under `to` (unchanged when it is not under `from`). */
function relocate(path: string, from: string, to: string): string {
  if (path === from) return to;
  return path.startsWith(from + sep) ? to + path.slice(from.length) : path;
}

/**
 * Copies `sourcePath`'s runs and grid cells into `target`. A run RUNNING in the source is left out (merge
 * again once it ends); a run the target has is left as it is, unless it is KILLED there and ended in the
 * source. A source cell fills a target cell that is missing, PENDING or FAILED; a target cell that is
 * DONE, CLAIMED, or recorded with another config is kept, and listed.
 * @throws TrackingError OPEN_FAILED, SCHEMA_TOO_NEW / SCHEMA_TOO_OLD for the source; BAD_INPUT when both are one file.
 */
export function mergeTrackingDatabase(target: SqliteTrackingStore, sourcePath: string, options: MergeOptions = {}): MergeReport {
  if (resolve(sourcePath) === resolve(target.dbPath)) throw new TrackingError('BAD_INPUT', sourcePath, 'is the target database itself');
  const source = openSqliteStore(sourcePath, { readonly: true });
  const report: MergeReport = { source: sourcePath, copied: [], replaced: [], unchanged: 0, moved: [], skipped: [], cells: 0, cellsKept: [] };
  try {
    const src = source.db;
    const dst = target.db;
    const experimentId = (name: string, createdAt: number): number => {
      dst.prepare('INSERT OR IGNORE INTO experiments (name, created_at) VALUES (?, ?)').run(name, createdAt);
      return (dst.prepare('SELECT id FROM experiments WHERE name = ?').get(name) as Row).id;
    };
    const copyRun = (r: Row, replace: boolean) => {
      const runDir: string | null = r.run_dir;
      const newDir = runDir && options.runsDir ? join(resolve(options.runsDir), basename(runDir)) : runDir;
      const values = RUN_COLUMNS.map((c) => (c === 'run_dir' ? newDir : r[c]));
      const expId = experimentId(r.experiment_name, r.experiment_created_at);
      if (replace) {
        dst.prepare(`UPDATE runs SET experiment_id = ?, ${RUN_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(expId, ...values, r.id);
        for (const table of [...Object.keys(CHILD_COLUMNS), 'artifacts']) dst.prepare(`DELETE FROM ${table} WHERE run_id = ?`).run(r.id);
      } else {
        dst.prepare(`INSERT INTO runs (id, experiment_id, ${RUN_COLUMNS.join(', ')}) VALUES (?, ?, ${RUN_COLUMNS.map(() => '?').join(', ')})`).run(r.id, expId, ...values);
      }
      for (const [table, columns] of Object.entries(CHILD_COLUMNS)) {
        const insert = dst.prepare(`INSERT INTO ${table} (run_id, ${columns.join(', ')}) VALUES (?, ${columns.map(() => '?').join(', ')})`);
        for (const row of src.prepare(`SELECT ${columns.join(', ')} FROM ${table} WHERE run_id = ?`).iterate(r.id) as Iterable<Row>) {
          insert.run(r.id, ...columns.map((c) => row[c]));
        }
      }
      const insertArtifact = dst.prepare('INSERT INTO artifacts (run_id, kind, path, sha256, step, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
      for (const a of src.prepare('SELECT * FROM artifacts WHERE run_id = ? ORDER BY id').iterate(r.id) as Iterable<Row>) {
        const path = runDir && newDir ? relocate(a.path, runDir, newDir) : a.path;
        insertArtifact.run(r.id, a.kind, path, a.sha256, a.step, a.bytes, a.created_at);
      }
    };

    // A second merge with runsDir moves the folders of runs merged before.
    const moveRunDir = (runId: string, from: string, to: string) => {
      if (from === to) return;
      dst.prepare('UPDATE runs SET run_dir = ? WHERE id = ?').run(to, runId);
      const update = dst.prepare('UPDATE artifacts SET path = ? WHERE id = ?');
      for (const a of dst.prepare('SELECT id, path FROM artifacts WHERE run_id = ?').all(runId) as Row[]) update.run(relocate(a.path, from, to), a.id);
      report.moved.push(runId);
    };

    const rollBack = new Error('dry run');
    const merge = dst.transaction(() => {
      const runs = src
        .prepare('SELECT r.*, e.name AS experiment_name, e.created_at AS experiment_created_at FROM runs r JOIN experiments e ON e.id = r.experiment_id ORDER BY r.start_time, r.id')
        .all() as Row[];
      for (const r of runs) {
        const here = dst.prepare('SELECT status, end_time, run_dir FROM runs WHERE id = ?').get(r.id) as Row | undefined;
        if (r.status === 'RUNNING') {
          if (!here) report.skipped.push({ runId: r.id, reason: 'still RUNNING in the source: merge again once it has ended' });
          else report.unchanged++;
        } else if (!here) {
          copyRun(r, false);
          report.copied.push(r.id);
        } else if (here.status === 'KILLED' && (r.status !== 'KILLED' || r.end_time !== here.end_time)) {
          copyRun(r, true);
          report.replaced.push(r.id);
        } else if (here.status === 'RUNNING' && r.status !== 'RUNNING') {
          report.skipped.push({ runId: r.id, reason: `RUNNING in the target (${r.status} in the source): left as it is` });
        } else {
          report.unchanged++;
          if (options.runsDir && here.run_dir && r.run_dir) moveRunDir(r.id, here.run_dir, join(resolve(options.runsDir), basename(r.run_dir)));
        }
      }

      const runHere = dst.prepare('SELECT 1 FROM runs WHERE id = ?');
      for (const c of src.prepare('SELECT * FROM grid_cells ORDER BY grid, cell_key').all() as Row[]) {
        const kept = (reason: string) => report.cellsKept.push({ grid: c.grid, key: c.cell_key, reason });
        const here = dst.prepare('SELECT * FROM grid_cells WHERE grid = ? AND cell_key = ?').get(c.grid, c.cell_key) as Row | undefined;
        if (c.status === 'CLAIMED') {
          if (here?.status !== 'DONE') kept('CLAIMED in the source (a run in progress there)');
          continue;
        }
        if (c.run_id && !runHere.get(c.run_id)) {
          kept(`its run ${c.run_id} was not copied`);
          continue;
        }
        const fields = [c.cell_digest, c.status, c.run_id, c.claimed_by, c.claimed_at, c.updated_at, c.error];
        if (!here) {
          dst.prepare('INSERT INTO grid_cells (grid, cell_key, cell_digest, status, run_id, claimed_by, claimed_at, updated_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(c.grid, c.cell_key, ...fields);
          report.cells++;
          continue;
        }
        if (here.cell_digest && c.cell_digest && here.cell_digest !== c.cell_digest) {
          kept('recorded with another config in the target (the grid file differs between the machines)');
        } else if (here.status === 'DONE') {
          if (c.status === 'DONE' && c.run_id !== here.run_id) kept(`DONE in both: the target's run ${here.run_id} is kept, the source's ${c.run_id} is copied but not attached`);
        } else if (here.status === 'CLAIMED') {
          if (c.status !== 'PENDING') kept('CLAIMED in the target (a run in progress here)');
        } else if (c.status === 'DONE' || (c.status === 'FAILED' && here.status === 'PENDING')) {
          dst.prepare('UPDATE grid_cells SET cell_digest = ?, status = ?, run_id = ?, claimed_by = ?, claimed_at = ?, updated_at = ?, error = ? WHERE grid = ? AND cell_key = ?').run(...fields, c.grid, c.cell_key);
          report.cells++;
        }
      }
      if (options.dryRun) throw rollBack;
    });
    try {
      merge.immediate();
    } catch (e) {
      if (e !== rollBack) throw e;
    }
  } finally {
    source.db.close();
  }
  return report;
}
