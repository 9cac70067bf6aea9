/** Format dispatch by file extension: .nii / .nii.gz (NIfTI-1), .nrrd / .nhdr (NRRD). */
import { VolumeIOError } from './errors';
import { readNifti, writeNifti } from './nifti';
import { readNrrd, writeNrrd } from './nrrd';
import type { Volume } from './volume';

export type VolumeFormat = 'nifti' | 'nrrd';

export function volumeFormatOf(path: string): VolumeFormat {
  const p = path.toLowerCase();
  if (p.endsWith('.nii') || p.endsWith('.nii.gz')) return 'nifti';
  if (p.endsWith('.nrrd') || p.endsWith('.nhdr')) return 'nrrd';
  throw new VolumeIOError(path, 'UNSUPPORTED_ENCODING', 'unknown volume extension (use .nii, .nii.gz, .nrrd or .nhdr)');
}

/** Reads a NIfTI or NRRD volume (NIfTI scaling applied; NRRD key/values dropped: use readNrrd for them). */
export function readVolume(path: string, opts: { maxBytes?: number } = {}): Volume {
  return volumeFormatOf(path) === 'nifti' ? readNifti(path, opts) : readNrrd(path, opts).volume;
}

/** Writes a NIfTI or NRRD volume atomically, gzip-compressed for .nii.gz / .nrrd / .nhdr (level DEFAULT_GZIP_LEVEL = 2 by default). */
export function writeVolume(path: string, volume: Volume, opts: { gzipLevel?: number } = {}): void {
  if (volumeFormatOf(path) === 'nifti') writeNifti(path, volume, opts);
  else writeNrrd(path, volume, { encoding: 'gzip', ...opts });
}
