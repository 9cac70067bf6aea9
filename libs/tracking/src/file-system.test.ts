import { existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TrackingError } from './errors.js';
import { linuxFileSystemType, networkFileSystemName } from './file-system.js';
import { openSqliteStore } from './sqlite-store.js';
import { tempDbPath } from './test-helpers.js';

describe('the database folder on a network file system', () => {
  it('names NFS, SMB and CIFS by their statfs magic, and not local disks, tmpfs, FUSE or 9P', () => {
    expect(networkFileSystemName(0x6969)).toBe('NFS');
    expect(networkFileSystemName(0xff534d42)).toBe('CIFS');
    // statfs gives the 32-bit magic as a signed number on some systems
    expect(networkFileSystemName(0xfe534d42 | 0)).toBe('SMB2');
    for (const local of [0xef53 /* ext4 */, 0x58465342 /* XFS */, 0x9123683e /* Btrfs */, 0x01021994 /* tmpfs */, 0x65735546 /* FUSE */, 0x01021997 /* 9P */]) {
      expect(networkFileSystemName(local)).toBeUndefined();
    }
  });

  it('refuses to open there (typed error naming the file system and the path) and creates nothing', () => {
    const { dbPath, cleanup } = tempDbPath();
    try {
      const seen: string[] = [];
      let error: unknown;
      try {
        openSqliteStore(dbPath, { fileSystemType: (dir) => (seen.push(dir), 0x6969) });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TrackingError);
      expect(error).toMatchObject({ code: 'NETWORK_FILE_SYSTEM', dbPath });
      expect((error as Error).message).toBe(`${dbPath}: the folder is on a network file system (NFS): SQLite's locks and shared memory do not work there (the database would end up locked or corrupt); give a path on a local disk`);
      expect(seen).toEqual([dirname(dbPath)]);
      expect(existsSync(dbPath)).toBe(false);
      expect(readdirSync(dirname(dbPath))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('opens on this machine\'s temporary folder, whose file system type is read', () => {
    const { dbPath, cleanup } = tempDbPath();
    try {
      if (process.platform === 'linux') expect(linuxFileSystemType(dirname(dbPath))).toBeGreaterThan(0);
      openSqliteStore(dbPath).close();
      expect(existsSync(dbPath)).toBe(true);
    } finally {
      cleanup();
    }
  });
});
