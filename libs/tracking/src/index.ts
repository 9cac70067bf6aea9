export type * from './types.js';
export { RUN_STATUSES, CELL_STATUSES } from './types.js';
export { TrackingError, type TrackingErrorCode } from './errors.js';
export { canonicalJson, configDigest, sha256Hex } from './digest.js';
export { MIGRATIONS, SCHEMA_VERSION, migrate, schemaVersion } from './schema.js';
export { BufferedMetricWriter } from './metric-writer.js';
export { type SqliteStoreOptions, SqliteTrackingStore, openSqliteStore } from './sqlite-store.js';
export { mergeTrackingDatabase, type MergeOptions, type MergeReport } from './merge.js';
export { cellsByRow, parseReplicateKey, replicateKey } from './cell-keys.js';
