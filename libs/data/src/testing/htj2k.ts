/** Test and benchmark support: CT slices in HTJ2K, coded by an independent encoder (OpenJPH's command line). */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readDicomFile, writeDicomFile } from '../dicom';

/**
 * Rewrites the single-frame CT slice `file` as `to` in HTJ2K (transfer syntax `ts`), coded by OpenJPH's
 * ojph_compress (Debian's openjph-tools; `options` its coding options), stored unsigned with intercept -2048:
 * Debian's OpenJPH 0.9 codes negative 16-bit samples in a way no current decoder (OpenJPH, OpenJPEG) reads
 * back, so signed slices would test that bug, not ours.
 */
export function htj2kSlice(file: string, to: string, ts: string, options: string[] = ['-reversible', 'true']): string {
  const f = readDicomFile(file);
  const hu = new Int16Array(f.dataset.PixelData[0]);
  const raw = `${to}.yuv`, coded = `${to}.j2c`;
  writeFileSync(raw, Buffer.from(Uint16Array.from(hu, (v) => v + 2048).buffer));
  const r = spawnSync('ojph_compress', ['-i', raw, '-o', coded, '-dims', `{${f.dataset.Columns},${f.dataset.Rows}}`, '-num_comps', '1', '-signed', 'false', '-bit_depth', '16', '-downsamp', '{1,1}', ...options], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ojph_compress failed (${r.error?.message ?? r.status}): ${r.stderr ?? ''}`);
  const frame = readFileSync(coded);
  rmSync(raw);
  rmSync(coded);
  f.dataset.PixelData = [frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength)];
  f.dataset.PixelRepresentation = 0;
  f.dataset.RescaleIntercept = '-2048';
  writeDicomFile(to, f.dataset, ts);
  return to;
}
