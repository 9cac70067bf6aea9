import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { TrackingError } from './errors.js';
import { SCHEMA_VERSION, migrate, schemaVersion } from './schema.js';
import { openSqliteStore } from './sqlite-store.js';
import { tempDbPath } from './test-helpers.js';

let cleanup: () => void = () => undefined;
afterEach(() => cleanup());

describe('schema migrations', () => {
  it('applies every migration once; reopening and migrating again changes nothing', async () => {
    const t = tempDbPath();
    cleanup = t.cleanup;
    const store = openSqliteStore(t.dbPath);
    await store.createRun({ experiment: 'e', name: 'r', config: { a: 1 } });
    await store.close();
    const db = new Database(t.dbPath);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(migrate(db, t.dbPath)).toEqual([]);
    expect(db.prepare('SELECT version FROM schema_version').all()).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })));
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
    expect(tables).toEqual(['artifacts', 'case_results', 'experiments', 'grid_cells', 'metrics', 'params', 'runs', 'schema_version']);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    const again = openSqliteStore(t.dbPath);
    expect(await again.listRuns()).toHaveLength(1);
    await again.close();
  });

  it('refuses a database written by newer code', () => {
    const t = tempDbPath();
    cleanup = t.cleanup;
    openSqliteStore(t.dbPath).db.close();
    const db = new Database(t.dbPath);
    db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, 0)').run(SCHEMA_VERSION + 1);
    db.close();
    let err: unknown;
    try {
      openSqliteStore(t.dbPath);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrackingError);
    expect((err as TrackingError).code).toBe('SCHEMA_TOO_NEW');
    expect((err as Error).message).toContain(t.dbPath);
  });
});
