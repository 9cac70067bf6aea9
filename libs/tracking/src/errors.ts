/** Typed errors of the tracking store; each names the database file. */

/**
 * NOT_FOUND: no such run or cell; BAD_TRANSITION: a status change the state machine forbids; BAD_INPUT:
 * a value the store cannot take; SCHEMA_TOO_NEW / SCHEMA_TOO_OLD: file and code disagree on the schema;
 * OPEN_FAILED: the file could not be opened as a database; NETWORK_FILE_SYSTEM: its folder is on NFS, SMB and the like;
 * CLOSED: the store was closed; NOT_TRACKING_DATABASE: an SQLite file without this project's schema (another
 * program's, or empty when opened to read).
 */
export type TrackingErrorCode = 'NOT_FOUND' | 'BAD_TRANSITION' | 'BAD_INPUT' | 'SCHEMA_TOO_NEW' | 'SCHEMA_TOO_OLD' | 'OPEN_FAILED' | 'NETWORK_FILE_SYSTEM' | 'CLOSED' | 'NOT_TRACKING_DATABASE';

export class TrackingError extends Error {
  constructor(
    readonly code: TrackingErrorCode,
    readonly dbPath: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${dbPath}: ${message}`, options);
    this.name = 'TrackingError';
  }
}
