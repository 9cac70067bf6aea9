/**
 * Errors of the RTSTRUCT library. A structurally broken file is reported with its path and the reason,
 * so a cohort run can log it, skip the case and go on.
 */
export class RtStructError extends Error {
  override readonly name = 'RtStructError';
  constructor(
    /** The file (or a label for an in-memory dataset) that is broken. */
    readonly path: string,
    /** What is wrong with it, in words. */
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}
