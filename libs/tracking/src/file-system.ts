/**
 * Which file system holds the database folder: SQLite's WAL needs shared memory between the processes and
 * POSIX locks that network file systems do not give, and a database there ends up locked or corrupt.
 */
import { statfsSync } from 'node:fs';

/**
 * Linux `statfs` f_type magic numbers of network file systems. FUSE (sshfs, but also local
 * fuse-overlayfs container roots) and 9P (WSL drives, gVisor sandboxes) cannot be told apart from local
 * disks by their type, so they are not listed.
 */
const NETWORK_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x6969, 'NFS'],
  [0x517b, 'SMB'],
  [0xff534d42, 'CIFS'],
  [0xfe534d42, 'SMB2'],
  [0x5346414f, 'AFS'],
  [0x73757245, 'Coda'],
  [0x00c36400, 'Ceph'],
  [0x0bd00bd0, 'Lustre'],
]);

/** The network file system a Linux f_type magic number names, or undefined. */
export function networkFileSystemName(type: number): string | undefined {
  return NETWORK_FILE_SYSTEMS.get(type >>> 0);
}

/** The f_type of the file system holding `dir`; undefined off Linux (other systems number them otherwise) or when unreadable. */
export function linuxFileSystemType(dir: string): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return statfsSync(dir).type;
  } catch {
    return undefined;
  }
}
