import type { SkippedItem } from './discover';

/** Bad curation input (names file, crop file, a case's files): names the file and the reason. */
export class CurationInputError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'CurationInputError';
  }
}

/**
 * No case of the inputs could be curated. Nothing is published: a dataset already in the output folder
 * stays as it was (publishing would have emptied it, as re-curation removes cases no longer found).
 */
export class NothingToPublishError extends Error {
  constructor(
    readonly outDir: string,
    readonly failed: readonly { caseId: string; source: string; reason: string }[],
    readonly skipped: readonly SkippedItem[],
  ) {
    const found = failed.length ? `all ${failed.length} cases found failed` : 'no CT series with an RTSTRUCT or SEG and no PDDCA case was found';
    super(`${outDir}: nothing published, ${found} (${skipped.length} input items skipped); a dataset already there is left as it was. ` +
      'The inputs should hold DICOM CT series with their RTSTRUCT or SEG, or PDDCA case folders (img.nrrd, structures/*.nrrd).');
    this.name = 'NothingToPublishError';
  }
}
