import { writeFileSync } from 'node:fs';
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

  it('opens read-only for the report, and names the file it cannot open', async () => {
    const t = tempDbPath();
    cleanup = t.cleanup;
    const writer = openSqliteStore(t.dbPath);
    await writer.createRun({ experiment: 'e', name: 'r', config: {} });
    const reader = openSqliteStore(t.dbPath, { readonly: true });
    expect((await reader.listRuns()).map((r) => r.name)).toEqual(['r']);
    await expect(reader.createRun({ experiment: 'e', name: 'r2', config: {} })).rejects.toThrow(/readonly/i);
    await reader.close();
    await writer.close();
    const codeOfOpen = (path: string, readonly: boolean) => {
      try {
        openSqliteStore(path, { readonly });
      } catch (e) {
        expect((e as Error).message).toContain(path);
        return (e as TrackingError).code;
      }
      return undefined;
    };
    expect(codeOfOpen(t.dbPath + '.missing', true)).toBe('OPEN_FAILED');
    expect(codeOfOpen('/nonexistent-folder/tracking.sqlite', false)).toBe('OPEN_FAILED');
    writeFileSync(t.dbPath + '.txt', 'this is not a database, just some text long enough to have a header '.repeat(20));
    expect(codeOfOpen(t.dbPath + '.txt', false)).toBe('OPEN_FAILED');
    new Database(t.dbPath + '.empty').close(); // an empty SQLite file: nothing to read, a new database to write
    expect(codeOfOpen(t.dbPath + '.empty', true)).toBe('NOT_TRACKING_DATABASE');
    expect(codeOfOpen(t.dbPath + '.empty', false)).toBe(undefined);
    const old = new Database(t.dbPath + '.old');
    old.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    old.close();
    expect(codeOfOpen(t.dbPath + '.old', true)).toBe('SCHEMA_TOO_OLD');
  });

  it("refuses another program's SQLite file, read or written, and leaves it as it was", () => {
    const t = tempDbPath();
    cleanup = t.cleanup;
    const foreign = new Database(t.dbPath);
    foreign.exec('CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT); INSERT INTO moz_places (url) VALUES (\'x\')');
    foreign.close();
    for (const readonly of [true, false]) {
      expect(() => openSqliteStore(t.dbPath, { readonly })).toThrow(
        expect.objectContaining({ code: 'NOT_TRACKING_DATABASE', message: expect.stringContaining(`${t.dbPath}: not a tracking database: an SQLite file of another program (tables moz_places)`) }),
      );
    }
    const after = new Database(t.dbPath, { readonly: true });
    expect((after.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name)).toEqual(['moz_places']);
    expect(after.pragma('journal_mode', { simple: true })).toBe('delete');
    after.close();
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
