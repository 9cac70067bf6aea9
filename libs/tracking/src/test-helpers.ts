/** Temporary database files for this library's tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh folder and a database path inside it; `cleanup()` removes the folder. */
export function tempDbPath(): { dbPath: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tracking-'));
  return { dbPath: join(dir, 'tracking.sqlite'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
