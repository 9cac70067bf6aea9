/**
 * The SQLite tracking store (better-sqlite3).
 *
 * Several processes (grid workers, the report) may use one database file at once: WAL journal, a busy
 * timeout (10 s by default) and every write in a `BEGIN IMMEDIATE` transaction, which takes the write
 * lock up front and so never fails with SQLITE_BUSY_SNAPSHOT half-way as a deferred transaction can.
 * Never put the file on a network file system (NFS, SMB, sshfs): WAL needs shared memory between the
 * processes and working POSIX locks, which those do not give; use a local disk, or a server database
 * behind the same {@link TrackingStore} interface.
 */
import { randomUUID } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { linuxFileSystemType, networkFileSystemName } from './file-system.js';
import { canonicalJson, sha256Hex } from './digest.js';
import { TrackingError } from './errors.js';
import { BufferedMetricWriter } from './metric-writer.js';
import { SCHEMA_VERSION, assertTrackingDatabase, migrate, schemaVersion } from './schema.js';
import * as t from './types.js';

export interface SqliteStoreOptions {
  /** How long a write waits for another process's lock before failing (default 10 000 ms). */
  busyTimeoutMs?: number;
  /**
   * Open an existing database for reading only (e.g. the report): no migration, and the schema must be
   * exactly this code's version. Writes then fail with SQLITE_READONLY.
   */
  readonly?: boolean;
  /** Reads the f_type of the database folder's file system (tests stand in a network one). */
  fileSystemType?: (dir: string) => number | undefined;
}

/**
 * Opens (creating and migrating if needed) the tracking database at `dbPath`.
 * @throws TrackingError OPEN_FAILED (missing folder, not a database, ...), NETWORK_FILE_SYSTEM (NFS, SMB, ...),
 * SCHEMA_TOO_NEW, SCHEMA_TOO_OLD (readonly).
 */
export function openSqliteStore(dbPath: string, options: SqliteStoreOptions = {}): SqliteTrackingStore {
  return new SqliteTrackingStore(dbPath, options);
}

type Row = Record<string, any>;

const num = (v: number | null | undefined): number => (v === null || v === undefined ? NaN : v);
const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

export class SqliteTrackingStore implements t.TrackingStore {
  private readonly connection: Database.Database;

  /** The open connection; a closed store says so as a typed error on reads as on writes. */
  get db(): Database.Database {
    if (!this.connection.open) throw new TrackingError('CLOSED', this.dbPath, 'store is closed');
    return this.connection;
  }

  constructor(
    readonly dbPath: string,
    options: SqliteStoreOptions = {},
  ) {
    const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
    const network = networkFileSystemName((options.fileSystemType ?? linuxFileSystemType)(dirname(resolve(dbPath))) ?? 0);
    if (network) {
      throw new TrackingError(
        'NETWORK_FILE_SYSTEM',
        dbPath,
        `the folder is on a network file system (${network}): SQLite's locks and shared memory do not work there (the database would end up locked or corrupt); give a path on a local disk`,
      );
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(dbPath, { timeout: busyTimeoutMs, readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
      if (options.readonly) {
        assertTrackingDatabase(db, dbPath, { refuseEmpty: true });
        const version = schemaVersion(db);
        if (version > SCHEMA_VERSION) throw new TrackingError('SCHEMA_TOO_NEW', dbPath, `schema version ${version} is newer than this code's ${SCHEMA_VERSION}; update the code`);
        if (version < SCHEMA_VERSION) throw new TrackingError('SCHEMA_TOO_OLD', dbPath, `schema version ${version} is older than this code's ${SCHEMA_VERSION}; open it once for writing to migrate`);
      } else {
        // before WAL, which would change another program's file for good
        assertTrackingDatabase(db, dbPath, { refuseEmpty: false });
        // Switching to WAL needs an exclusive lock and may answer SQLITE_BUSY at once when several
        // processes create the file together; retry within the busy timeout.
        const d = db;
        retryBusy(() => d.pragma('journal_mode = WAL'), busyTimeoutMs);
        db.pragma('synchronous = NORMAL');
        db.pragma('foreign_keys = ON');
        migrate(db, dbPath);
      }
    } catch (err) {
      db?.close();
      if (err instanceof TrackingError) throw err;
      throw new TrackingError('OPEN_FAILED', dbPath, `cannot open the tracking database: ${(err as Error).message}`, { cause: err });
    }
    this.connection = db;
  }

  private write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  private runRow(runId: string): Row {
    const r = this.db.prepare('SELECT status FROM runs WHERE id = ?').get(runId) as Row | undefined;
    if (!r) throw new TrackingError('NOT_FOUND', this.dbPath, `no run ${runId}`);
    return r;
  }

  async ensureExperiment(name: string): Promise<t.Experiment> {
    return this.write(() => this.ensureExperimentSync(name));
  }

  private ensureExperimentSync(name: string, now = Date.now()): t.Experiment {
    if (!name) throw new TrackingError('BAD_INPUT', this.dbPath, 'experiment name is empty');
    this.db.prepare('INSERT OR IGNORE INTO experiments (name, created_at) VALUES (?, ?)').run(name, now);
    const r = this.db.prepare('SELECT id, name, created_at FROM experiments WHERE name = ?').get(name) as Row;
    return { id: r.id, name: r.name, createdAt: r.created_at };
  }

  async listExperiments(): Promise<t.Experiment[]> {
    const rows = this.db.prepare('SELECT id, name, created_at FROM experiments ORDER BY name').all() as Row[];
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at }));
  }

  async createRun(run: t.NewRun): Promise<t.Run> {
    const id = run.id ?? randomUUID();
    const configJson = canonicalJson(run.config);
    const start = run.startTime ?? Date.now();
    this.write(() => {
      const exp = this.ensureExperimentSync(run.experiment, start);
      if (this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(id)) throw new TrackingError('BAD_INPUT', this.dbPath, `run ${id} exists already`);
      this.db
        .prepare(
          `INSERT INTO runs (id, experiment_id, name, status, start_time, heartbeat_time, git_commit, config_json, config_digest,
             dataset_digest, backend, adapter, run_dir) VALUES (?, ?, ?, 'RUNNING', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, exp.id, run.name, start, start, orNull(run.gitCommit), configJson, sha256Hex(configJson), orNull(run.datasetDigest),
          orNull(run.backend), orNull(run.adapter), orNull(run.runDir));
      if (run.params) this.insertParams(id, run.params);
    });
    return (await this.getRun(id))!;
  }

  async getRun(runId: string): Promise<t.Run | undefined> {
    const r = this.db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(runId) as Row | undefined;
    return r && toRun(r);
  }

  async listRuns(filter: t.RunFilter = {}): Promise<t.Run[]> {
    const where: string[] = [], args: unknown[] = [];
    if (filter.experiment !== undefined) {
      where.push('e.name = ?');
      args.push(filter.experiment);
    }
    if (filter.status !== undefined) {
      const statuses = typeof filter.status === 'string' ? [filter.status] : [...filter.status];
      where.push(`r.status IN (${statuses.map(() => '?').join(', ')})`);
      args.push(...statuses);
    }
    if (filter.grid !== undefined) {
      where.push('r.id IN (SELECT run_id FROM grid_cells WHERE grid = ? AND run_id IS NOT NULL)');
      args.push(filter.grid);
    }
    for (const [column, value] of [['config_digest', filter.configDigest], ['dataset_digest', filter.datasetDigest]] as const) {
      if (value === undefined) continue;
      where.push(`r.${column} = ?`);
      args.push(value);
    }
    const sql = `${RUN_SELECT}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY r.start_time, r.id`;
    return (this.db.prepare(sql).all(...args) as Row[]).map(toRun);
  }

  async heartbeat(runId: string, now = Date.now()): Promise<boolean> {
    return this.write(() => {
      this.runRow(runId);
      return this.db.prepare(`UPDATE runs SET heartbeat_time = ? WHERE id = ? AND status = 'RUNNING'`).run(now, runId).changes === 1;
    });
  }

  async endRun(runId: string, status: Exclude<t.RunStatus, 'RUNNING'>, end: t.RunEnd = {}): Promise<t.Run> {
    if (!['FINISHED', 'FAILED', 'KILLED'].includes(status)) throw new TrackingError('BAD_INPUT', this.dbPath, `run ${runId}: cannot end with status ${status}`);
    this.write(() => {
      const r = this.runRow(runId);
      if (r.status !== 'RUNNING') throw new TrackingError('BAD_TRANSITION', this.dbPath, `run ${runId} is ${r.status}; only a RUNNING run can become ${status}`);
      const endTime = end.endTime ?? Date.now();
      this.db
        .prepare('UPDATE runs SET status = ?, end_time = ?, heartbeat_time = MAX(heartbeat_time, ?), error_text = ?, failed_step = ? WHERE id = ?')
        .run(status, endTime, endTime, orNull(end.error), orNull(end.failedStep), runId);
    });
    return (await this.getRun(runId))!;
  }

  async resumeRun(runId: string, now = Date.now()): Promise<t.Run> {
    this.write(() => {
      const r = this.runRow(runId);
      if (r.status !== 'KILLED') throw new TrackingError('BAD_TRANSITION', this.dbPath, `run ${runId} is ${r.status}; only a KILLED run can be resumed`);
      this.db.prepare(`UPDATE runs SET status = 'RUNNING', end_time = NULL, error_text = NULL, failed_step = NULL, heartbeat_time = ? WHERE id = ?`).run(now, runId);
    });
    return (await this.getRun(runId))!;
  }

  async markStaleRunsKilled(maxAgeMs: number, now = Date.now()): Promise<t.StaleSweep> {
    if (!(maxAgeMs >= 0)) throw new TrackingError('BAD_INPUT', this.dbPath, `maxAgeMs ${maxAgeMs} must be >= 0`);
    const cutoff = now - maxAgeMs;
    return this.write(() => {
      const killed = this.db
        .prepare(
          `UPDATE runs SET status = 'KILLED', end_time = ?, error_text = 'no heartbeat since ' || strftime('%Y-%m-%dT%H:%M:%fZ', heartbeat_time / 1000.0, 'unixepoch')
           WHERE status = 'RUNNING' AND heartbeat_time < ? RETURNING id`,
        )
        .all(now, cutoff) as Row[];
      const cells = this.db
        .prepare(
          `UPDATE grid_cells SET status = 'FAILED', updated_at = ?,
             error = CASE WHEN run_id IS NULL THEN 'claimed by ' || COALESCE(claimed_by, '?') || ' but no run started' ELSE 'run ' || run_id || ' ended without finishing the cell' END
           WHERE status = 'CLAIMED' AND (
             (run_id IS NULL AND claimed_at < ?) OR
             run_id IN (SELECT id FROM runs WHERE status IN ('KILLED', 'FAILED')))
           RETURNING grid, cell_key`,
        )
        .all(now, cutoff) as Row[];
      return {
        killedRunIds: killed.map((r) => r.id as string).sort(),
        failedCells: cells.map((c) => ({ grid: c.grid as string, key: c.cell_key as string })).sort((a, b) => (a.grid + a.key < b.grid + b.key ? -1 : 1)),
      };
    });
  }

  async logParams(runId: string, params: Record<string, string | number | boolean>): Promise<void> {
    this.write(() => {
      this.runRow(runId);
      this.insertParams(runId, params);
    });
  }

  private insertParams(runId: string, params: Record<string, string | number | boolean>): void {
    const stmt = this.db.prepare('INSERT OR REPLACE INTO params (run_id, key, value) VALUES (?, ?, ?)');
    for (const k of Object.keys(params).sort()) stmt.run(runId, k, String(params[k]));
  }

  async getParams(runId: string): Promise<Record<string, string>> {
    const rows = this.db.prepare('SELECT key, value FROM params WHERE run_id = ? ORDER BY key').all(runId) as Row[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  async logMetrics(points: readonly t.MetricPoint[]): Promise<void> {
    if (points.length === 0) return;
    for (const p of points) {
      if (!p.key || !Number.isInteger(p.step)) throw new TrackingError('BAD_INPUT', this.dbPath, `metric ${JSON.stringify(p.key)} of run ${p.runId}: step ${p.step} is not an integer or key is empty`);
    }
    const now = Date.now();
    this.write(() => {
      const stmt = this.db.prepare('INSERT INTO metrics (run_id, key, step, value, time) VALUES (?, ?, ?, ?, ?)');
      for (const p of points) stmt.run(p.runId, p.key, p.step, Number.isNaN(p.value) ? null : p.value, p.time ?? now);
    });
  }

  metricWriter(runId: string, options?: t.MetricWriterOptions): t.MetricWriter {
    return new BufferedMetricWriter(runId, (points) => this.logMetrics(points), options);
  }

  async metricSeries(runId: string, key: string): Promise<t.MetricValue[]> {
    const rows = this.db.prepare('SELECT step, value, time FROM metrics WHERE run_id = ? AND key = ? ORDER BY step, time, rowid').all(runId, key) as Row[];
    return rows.map((r) => ({ step: r.step, value: num(r.value), time: r.time }));
  }

  async metricKeys(runId: string): Promise<string[]> {
    return (this.db.prepare('SELECT DISTINCT key FROM metrics WHERE run_id = ? ORDER BY key').all(runId) as Row[]).map((r) => r.key);
  }

  async deleteMetrics(runId: string, key: string, fromStep: number): Promise<number> {
    return this.write(() => this.db.prepare('DELETE FROM metrics WHERE run_id = ? AND key = ? AND step >= ?').run(runId, key, fromStep).changes);
  }

  async recordCaseResults(rows: readonly t.CaseResult[]): Promise<void> {
    const nn = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? null : v);
    this.write(() => {
      const stmt = this.db.prepare(
        `INSERT OR REPLACE INTO case_results (run_id, split, case_id, organ, dsc, hd95_mm, surface_dice, msd_mm, tp, fp, fn, extra_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const r of rows) {
        stmt.run(r.runId, r.split, r.caseId, r.organ, nn(r.dsc), nn(r.hd95Mm), nn(r.surfaceDice), nn(r.meanSurfaceDistanceMm),
          nn(r.tp), nn(r.fp), nn(r.fn), r.extra === undefined ? null : canonicalJson(r.extra));
      }
    });
  }

  async caseResults(runId: string, split?: string): Promise<t.CaseResult[]> {
    const rows = (
      split === undefined
        ? this.db.prepare('SELECT * FROM case_results WHERE run_id = ? ORDER BY split, case_id, organ').all(runId)
        : this.db.prepare('SELECT * FROM case_results WHERE run_id = ? AND split = ? ORDER BY case_id, organ').all(runId, split)
    ) as Row[];
    return rows.map((r) => {
      const out: t.CaseResult = {
        runId: r.run_id, split: r.split, caseId: r.case_id, organ: r.organ,
        dsc: num(r.dsc), hd95Mm: num(r.hd95_mm), surfaceDice: num(r.surface_dice), meanSurfaceDistanceMm: num(r.msd_mm),
      };
      if (r.tp !== null) out.tp = r.tp;
      if (r.fp !== null) out.fp = r.fp;
      if (r.fn !== null) out.fn = r.fn;
      if (r.extra_json !== null) out.extra = JSON.parse(r.extra_json);
      return out;
    });
  }

  async recordArtifact(a: t.NewArtifact): Promise<t.Artifact> {
    const now = Date.now();
    const id = this.write(() => {
      this.runRow(a.runId);
      return this.db
        .prepare('INSERT INTO artifacts (run_id, kind, path, sha256, step, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(a.runId, a.kind, a.path, a.sha256, orNull(a.step), orNull(a.bytes), now).lastInsertRowid;
    });
    return toArtifact(this.db.prepare('SELECT * FROM artifacts WHERE id = ?').get(id) as Row);
  }

  async artifacts(runId: string, kind?: string): Promise<t.Artifact[]> {
    const rows = (
      kind === undefined
        ? this.db.prepare('SELECT * FROM artifacts WHERE run_id = ? ORDER BY id').all(runId)
        : this.db.prepare('SELECT * FROM artifacts WHERE run_id = ? AND kind = ? ORDER BY id').all(runId, kind)
    ) as Row[];
    return rows.map(toArtifact);
  }

  async latestArtifact(runId: string, kind = 'checkpoint'): Promise<t.Artifact | undefined> {
    const r = this.db
      .prepare('SELECT * FROM artifacts WHERE run_id = ? AND kind = ? ORDER BY (step IS NULL), step DESC, created_at DESC, id DESC LIMIT 1')
      .get(runId, kind) as Row | undefined;
    return r && toArtifact(r);
  }

  async removeArtifacts(runId: string, paths: readonly string[]): Promise<number> {
    return this.write(() => {
      const remove = this.db.prepare('DELETE FROM artifacts WHERE run_id = ? AND path = ?');
      return paths.reduce((n, path) => n + remove.run(runId, path).changes, 0);
    });
  }

  async registerCells(grid: string, cells: readonly t.GridCellInput[]): Promise<void> {
    const now = Date.now();
    this.write(() => {
      const stmt = this.db.prepare(`INSERT OR IGNORE INTO grid_cells (grid, cell_key, cell_digest, status, updated_at) VALUES (?, ?, ?, 'PENDING', ?)`);
      for (const c of cells) stmt.run(grid, c.key, orNull(c.digest), now);
    });
  }

  async claimCell(grid: string, cellKey: string, worker: string, options: t.ClaimOptions = {}): Promise<boolean> {
    const now = Date.now();
    return this.write(() => {
      const existing = this.db.prepare('SELECT cell_digest FROM grid_cells WHERE grid = ? AND cell_key = ?').get(grid, cellKey) as Row | undefined;
      if (existing && options.digest !== undefined && existing.cell_digest !== null && existing.cell_digest !== options.digest) {
        throw new TrackingError('BAD_INPUT', this.dbPath, `grid ${grid} cell ${cellKey}: config digest ${options.digest} differs from the recorded ${existing.cell_digest} (the grid changed under this key)`);
      }
      // One statement decides: it inserts a new cell, or takes over a PENDING (or, on retry, FAILED) one, or a
      // FAILED one whose run was KILLED (interrupted, or swept as stale): that run is kept, to be resumed. The
      // claim makes the cell CLAIMED, so a second worker cannot take it too.
      const killedRun = `(grid_cells.status = 'FAILED' AND EXISTS (SELECT 1 FROM runs r WHERE r.id = grid_cells.run_id AND r.status = 'KILLED'))`;
      const info = this.db
        .prepare(
          `INSERT INTO grid_cells (grid, cell_key, cell_digest, status, claimed_by, claimed_at, updated_at) VALUES (?, ?, ?, 'CLAIMED', ?, ?, ?)
           ON CONFLICT (grid, cell_key) DO UPDATE SET status = 'CLAIMED', claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at,
             updated_at = excluded.updated_at, run_id = CASE WHEN ${killedRun} THEN grid_cells.run_id ELSE NULL END, error = NULL,
             cell_digest = COALESCE(grid_cells.cell_digest, excluded.cell_digest)
           WHERE grid_cells.status = 'PENDING' OR (? = 1 AND grid_cells.status = 'FAILED') OR ${killedRun}`,
        )
        .run(grid, cellKey, orNull(options.digest), worker, now, now, options.retryFailed ? 1 : 0);
      return info.changes === 1;
    });
  }

  async updateCell(grid: string, cellKey: string, update: t.CellUpdate): Promise<void> {
    if (update.status !== undefined && !t.CELL_STATUSES.includes(update.status)) throw new TrackingError('BAD_INPUT', this.dbPath, `cell status ${update.status}`);
    this.write(() => {
      const info = this.db
        .prepare(
          `UPDATE grid_cells SET status = COALESCE(?, status), run_id = COALESCE(?, run_id), error = CASE WHEN ? THEN ? ELSE error END, updated_at = ?
           WHERE grid = ? AND cell_key = ?`,
        )
        .run(orNull(update.status), orNull(update.runId), update.error !== undefined ? 1 : 0, orNull(update.error), Date.now(), grid, cellKey);
      if (info.changes === 0) throw new TrackingError('NOT_FOUND', this.dbPath, `no cell ${cellKey} in grid ${grid}`);
    });
  }

  async gridCells(grid: string): Promise<t.GridCell[]> {
    const rows = this.db
      .prepare('SELECT c.*, r.status AS run_status FROM grid_cells c LEFT JOIN runs r ON r.id = c.run_id WHERE c.grid = ? ORDER BY c.cell_key')
      .all(grid) as Row[];
    return rows.map((r) => ({
      grid: r.grid, key: r.cell_key, digest: r.cell_digest, status: r.status, runId: r.run_id, claimedBy: r.claimed_by,
      claimedAt: r.claimed_at, updatedAt: r.updated_at, error: r.error, runStatus: r.run_status,
    }));
  }

  async listGrids(): Promise<string[]> {
    return (this.db.prepare('SELECT DISTINCT grid FROM grid_cells ORDER BY grid').all() as Row[]).map((r) => r.grid);
  }

  async close(): Promise<void> {
    if (this.connection.open) this.connection.close();
  }
}

const RUN_SELECT = 'SELECT r.*, e.name AS experiment FROM runs r JOIN experiments e ON e.id = r.experiment_id';

function toRun(r: Row): t.Run {
  return {
    id: r.id, experiment: r.experiment, name: r.name, status: r.status, startTime: r.start_time, endTime: r.end_time,
    heartbeatTime: r.heartbeat_time, gitCommit: r.git_commit, configJson: r.config_json, configDigest: r.config_digest,
    datasetDigest: r.dataset_digest, backend: r.backend, adapter: r.adapter, runDir: r.run_dir, errorText: r.error_text,
    failedStep: r.failed_step,
  };
}

function toArtifact(r: Row): t.Artifact {
  return { id: r.id, runId: r.run_id, kind: r.kind, path: r.path, sha256: r.sha256, step: r.step, bytes: r.bytes, createdAt: r.created_at };
}

/** Runs `fn`, retrying while SQLite answers SQLITE_BUSY, for up to `timeoutMs`. */
function retryBusy<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      return fn();
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, 20 + Math.random() * 30);
    }
  }
}
