/** Why a volume file could not be read or written. Stable strings: callers switch on them. */
export type VolumeIOErrorCode =
  | 'TRUNCATED'
  | 'BAD_MAGIC'
  | 'BAD_HEADER'
  | 'SIZE_MISMATCH'
  | 'TOO_LARGE'
  | 'UNSUPPORTED_DATATYPE'
  | 'UNSUPPORTED_ENCODING'
  | 'UNSUPPORTED_TRANSFER_SYNTAX'
  | 'NOT_DICOM'
  | 'NOT_CT'
  | 'MISSING_TAG'
  | 'MISSING_SLICE'
  | 'DUPLICATE_SLICE'
  | 'MIXED_ORIENTATION'
  | 'MIXED_SIZE'
  | 'MIXED_SERIES'
  | 'BAD_GEOMETRY'
  | 'PATH_ESCAPE'
  | 'NO_FILES'
  | 'IO';

/**
 * A typed I/O failure naming the file and the reason. `code` is stable; `reason` is for people.
 * The message reads `<file>: <reason> [<code>]`.
 */
export class VolumeIOError extends Error {
  override readonly name = 'VolumeIOError';
  constructor(
    readonly file: string,
    readonly code: VolumeIOErrorCode,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${reason} [${code}]`, options);
  }
}

/** Narrowing helper: `isVolumeIOError(e, 'TRUNCATED')`. */
export function isVolumeIOError(e: unknown, code?: VolumeIOErrorCode): e is VolumeIOError {
  return e instanceof VolumeIOError && (code === undefined || e.code === code);
}
