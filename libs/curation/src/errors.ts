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
