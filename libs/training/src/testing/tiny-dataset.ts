/**
 * Test fixture: a tiny curated-dataset folder (the layout libs/curation publishes) with bright and dark
 * blobs a small network learns in a few dozen steps. Used by the trainer's tests only.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNifti, IDENTITY, type Vec3 } from '@anatomynet/data';
import { ORGANS } from '@anatomynet/curation';

export interface TinyDatasetOptions {
  cases?: number;
  shape?: Vec3;
  /** Organs (keys) left unannotated in every odd case. */
  missingInOddCases?: string[];
  /** Put NaN into this case's image (to test the non-finite-loss guard). */
  nanCase?: number;
  /** Every split is the first case: for "overfits one case" tests. */
  overfit?: boolean;
}

/** Writes the folder and returns the case ids; splits: all but two train, one validation, one test. */
export function writeTinyDataset(dir: string, o: TinyDatasetOptions = {}): string[] {
  const n = o.cases ?? 4;
  const shape = o.shape ?? ([20, 20, 12] as Vec3);
  const [nx, ny, nz] = shape;
  mkdirSync(join(dir, 'imagesTr'), { recursive: true });
  mkdirSync(join(dir, 'labelsTr'), { recursive: true });
  const ids: string[] = [];
  const cases = [];
  for (let c = 0; c < n; c++) {
    const id = `tiny_${String(c).padStart(3, '0')}`;
    ids.push(id);
    const img = new Float32Array(nx * ny * nz).fill(-1000);
    const lab = new Uint8Array(nx * ny * nz);
    // Body: a soft-tissue cylinder; organ 1 a bright ball, organ 3 a bone bar, organ 6 a dark block; shifted per case.
    const s = c % 3;
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++) {
          const p = i + nx * (j + ny * k);
          if ((i - nx / 2) ** 2 + (j - ny / 2) ** 2 < (nx / 2.2) ** 2) img[p] = 40;
          const organ =
            (i - 7 - s) ** 2 + (j - 8) ** 2 + (k - 6) ** 2 <= 9 ? 1
            : i >= 11 && i <= 15 && j >= 12 + (s % 2) && j <= 13 + (s % 2) && k >= 2 && k <= 9 ? 3
            : i >= 12 && i <= 15 && j >= 4 && j <= 7 && k >= 3 + s && k <= 6 + s ? 6
            : 0;
          if (organ) {
            lab[p] = organ;
            img[p] = { 1: 300, 3: 1200, 6: -120 }[organ]!;
          }
        }
    if (o.nanCase === c) img.fill(NaN, 0, 50);
    const geom = { shape, spacing: [1.5, 1.5, 2] as Vec3, origin: [0, 0, 0] as Vec3, direction: IDENTITY };
    writeNifti(join(dir, 'imagesTr', `${id}_0000.nii.gz`), { ...geom, data: img });
    writeNifti(join(dir, 'labelsTr', `${id}.nii.gz`), { ...geom, data: lab });
    const availability: Record<string, string> = {};
    const volumeMl: Record<string, number> = {};
    for (const org of ORGANS) {
      volumeMl[org.key] = (lab.reduce((k, l) => k + (l === org.index ? 1 : 0), 0) * geom.spacing[0] * geom.spacing[1] * geom.spacing[2]) / 1000;
      const present = [1, 3, 6].includes(org.index);
      const missing = c % 2 === 1 && (o.missingInOddCases ?? []).includes(org.key);
      availability[org.key] = missing ? 'not-annotated' : present ? 'annotated' : 'annotated-empty';
    }
    cases.push({
      caseId: id,
      patientId: `p${c}`,
      sourceKind: c % 2 ? 'dicom' : 'pddca',
      inputDigest: `digest-${c}`,
      imageDigest: `image-${c}`,
      image: `imagesTr/${id}_0000.nii.gz`,
      label: `labelsTr/${id}.nii.gz`,
      shape,
      spacing: geom.spacing,
      origin: geom.origin,
      direction: IDENTITY,
      availability,
      volumeMl,
    });
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ schemaVersion: 1, tool: { name: 'tiny', version: '0' }, cases }, null, 1));
  writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ channel_names: { 0: 'CT' }, numTraining: n, file_ending: '.nii.gz' }));
  const splits = o.overfit
    ? { method: 'hash', train: [ids[0]], validation: [ids[0]], test: [ids[0]] }
    : { method: 'hash', train: ids.slice(0, n - 2), validation: [ids[n - 2]], test: [ids[n - 1]] };
  writeFileSync(join(dir, 'splits.json'), JSON.stringify(splits));
  return ids;
}
