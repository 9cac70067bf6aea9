/** Typed errors of the tracking store; each names the database file. */

export type TrackingErrorCode = 'NOT_FOUND' | 'BAD_TRANSITION' | 'BAD_INPUT' | 'SCHEMA_TOO_NEW' | 'CLOSED';

export class TrackingError extends Error {
  constructor(
    readonly code: TrackingErrorCode,
    readonly dbPath: string,
    message: string,
  ) {
    super(`${dbPath}: ${message}`);
    this.name = 'TrackingError';
  }
}
