/**
 * The tracking database schema, as numbered migrations applied by one migrator inside a
 * `BEGIN IMMEDIATE` transaction: concurrent openers queue on the write lock, the first applies what is
 * missing, the others then find nothing to do. The report reads these tables; change them only by
 * appending a migration.
 */
import type { Database } from 'better-sqlite3';
import { TrackingError } from './errors.js';

/** `MIGRATIONS[i]` takes the schema from version i to version i + 1. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
  );
  CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    experiment_id   INTEGER NOT NULL REFERENCES experiments(id),
    name            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
    start_time      INTEGER NOT NULL,
    end_time        INTEGER,
    heartbeat_time  INTEGER NOT NULL,
    git_commit      TEXT,
    config_json     TEXT NOT NULL,
    config_digest   TEXT NOT NULL,
    dataset_digest  TEXT,
    backend         TEXT,
    adapter         TEXT,
    run_dir         TEXT,
    error_text      TEXT,
    failed_step     INTEGER
  );
  CREATE INDEX runs_by_experiment ON runs (experiment_id, status);
  CREATE INDEX runs_by_status_heartbeat ON runs (status, heartbeat_time);
  CREATE TABLE params (
    run_id  TEXT NOT NULL REFERENCES runs(id),
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
  ) WITHOUT ROWID;
  CREATE TABLE metrics (
    run_id  TEXT NOT NULL REFERENCES runs(id),
    key     TEXT NOT NULL,
    step    INTEGER NOT NULL,
    value   REAL,
    time    INTEGER NOT NULL
  );
  CREATE INDEX metrics_by_run_key_step ON metrics (run_id, key, step);
  CREATE TABLE case_results (
    run_id        TEXT NOT NULL REFERENCES runs(id),
    split         TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    organ         TEXT NOT NULL,
    dsc           REAL,
    hd95_mm       REAL,
    surface_dice  REAL,
    msd_mm        REAL,
    tp            INTEGER,
    fp            INTEGER,
    fn            INTEGER,
    extra_json    TEXT,
    PRIMARY KEY (run_id, split, case_id, organ)
  ) WITHOUT ROWID;
  CREATE TABLE artifacts (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    kind        TEXT NOT NULL,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    step        INTEGER,
    bytes       INTEGER,
    created_at  INTEGER NOT NULL
  );
  CREATE INDEX artifacts_by_run_kind ON artifacts (run_id, kind, step);
  CREATE TABLE grid_cells (
    grid        TEXT NOT NULL,
    cell_key    TEXT NOT NULL,
    cell_digest TEXT,
    status      TEXT NOT NULL CHECK (status IN ('PENDING', 'CLAIMED', 'DONE', 'FAILED')),
    run_id      TEXT REFERENCES runs(id),
    claimed_by  TEXT,
    claimed_at  INTEGER,
    updated_at  INTEGER NOT NULL,
    error       TEXT,
    PRIMARY KEY (grid, cell_key)
  ) WITHOUT ROWID;
  CREATE INDEX grid_cells_by_run ON grid_cells (run_id);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Current schema version of an open database (0 for a fresh file). */
export function schemaVersion(db: Database): number {
  const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).get();
  if (!exists) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Refuses an SQLite file that is not a tracking database: without `schema_version` but with tables of
 * its own (another program's; migrating would add ours beside them), or, when `empty` is refused (opened
 * to read), with no tables at all.
 * @throws TrackingError NOT_TRACKING_DATABASE naming a few of its tables.
 */
export function assertTrackingDatabase(db: Database, dbPath: string, o: { refuseEmpty: boolean }): void {
  if (db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).get()) return;
  const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map((t) => t.name);
  if (tables.length) {
    const named = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ` and ${tables.length - 5} more` : '');
    throw new TrackingError('NOT_TRACKING_DATABASE', dbPath, `not a tracking database: an SQLite file of another program (tables ${named}); give the --db of \`trainer train\` or \`trainer grid\`, or a new path`);
  }
  if (o.refuseEmpty) throw new TrackingError('NOT_TRACKING_DATABASE', dbPath, 'an empty SQLite file, no runs recorded: give the --db that `trainer train` or `trainer grid` wrote');
}

/**
 * Brings the database to {@link SCHEMA_VERSION} in one IMMEDIATE transaction; a no-op when current.
 * @returns the versions applied now (empty when none).
 * @throws TrackingError SCHEMA_TOO_NEW when the file was written by newer code.
 */
export function migrate(db: Database, dbPath: string, now = Date.now()): number[] {
  const applied: number[] = [];
  const run = db.transaction(() => {
    assertTrackingDatabase(db, dbPath, { refuseEmpty: false });
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const current = schemaVersion(db);
    if (current > SCHEMA_VERSION) {
      throw new TrackingError('SCHEMA_TOO_NEW', dbPath, `schema version ${current} is newer than this code's ${SCHEMA_VERSION}; update the code`);
    }
    const record = db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)');
    for (let v = current; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v]!);
      record.run(v + 1, now);
      applied.push(v + 1);
    }
  });
  run.immediate();
  return applied;
}
