/**
 * A small fake curated dataset (manifest.json, CT and label NIfTI files) and trainer-style predictions,
 * for the report's tests. The NIfTI writer here is a minimal test fixture (identity direction, sform);
 * the preview reader it feeds is cross-checked against libs/data and nibabel in nifti-preview.test.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPORT_ORGANS } from '../organs';

export const FAKE_SHAPE: [number, number, number] = [48, 40, 12];
export const FAKE_SPACING: [number, number, number] = [1, 1.25, 2.5];

/** NIfTI-1 .nii.gz bytes: uint8 or int16, LPS identity direction, origin 0. */
export function encodeTestNifti(data: Uint8Array | Int16Array, shape: [number, number, number], spacing: [number, number, number]): Buffer {
  const out = Buffer.alloc(352 + data.byteLength);
  out.writeInt32LE(348, 0);
  [3, shape[0], shape[1], shape[2], 1, 1, 1, 1].forEach((v, i) => out.writeInt16LE(v, 40 + 2 * i));
  out.writeInt16LE(data instanceof Uint8Array ? 2 : 4, 70);
  out.writeInt16LE(data instanceof Uint8Array ? 8 : 16, 72);
  [1, spacing[0], spacing[1], spacing[2], 1, 1, 1, 1].forEach((v, i) => out.writeFloatLE(v, 76 + 4 * i));
  out.writeFloatLE(352, 108);
  out.writeFloatLE(1, 112);
  out.writeInt16LE(1, 254);
  // RAS affine of an LPS-identity volume: x and y negated.
  [[-spacing[0], 0, 0, 0], [0, -spacing[1], 0, 0], [0, 0, spacing[2], 0]].forEach((row, r) => row.forEach((v, c) => out.writeFloatLE(v, 280 + 16 * r + 4 * c)));
  out.write('n+1\0', 344, 'latin1');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 352);
  return gzipSync(out, { level: 1 });
}

/** Organ centres (voxel indices) of the fake anatomy, label order 1..9; radii in voxels. LPS identity: i grows to the patient's left, so left organs sit at high i. */
const CENTRES: [number, number, number, number][] = [
  [24, 26, 6, 4], [24, 14, 8, 2], [24, 8, 3, 5], [29, 12, 9, 2], [19, 12, 9, 2], [36, 24, 5, 4], [12, 24, 5, 4], [32, 14, 3, 3], [16, 14, 3, 3],
];

/** Label map with ellipsoids for the given labels, shifted by `dx` voxels along i. */
export function fakeLabels(labels: readonly number[], dx = 0): Uint8Array {
  const [nx, ny, nz] = FAKE_SHAPE;
  const out = new Uint8Array(nx * ny * nz);
  for (const l of labels) {
    const [cx, cy, cz, r] = CENTRES[l - 1];
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++) {
          const d = ((i - cx - dx) / r) ** 2 + ((j - cy) / r) ** 2 + ((k - cz) / Math.max(1, r / 2)) ** 2;
          if (d <= 1) out[i + nx * (j + ny * k)] = l;
        }
  }
  return out;
}

function fakeCt(): Int16Array {
  const [nx, ny, nz] = FAKE_SHAPE;
  const ct = new Int16Array(nx * ny * nz);
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const r = Math.hypot((i - 24) / 22, (j - 20) / 18);
        ct[i + nx * (j + ny * k)] = r > 1 ? -1000 : r > 0.9 ? 900 : 40 + ((i * 7 + j * 3) % 20);
      }
  return ct;
}

export interface FakeDatasetCase {
  caseId: string;
  /** Labels annotated in this case (1..9). */
  labels: number[];
}

/** Writes DATASET/{manifest.json, imagesTr, labelsTr}; returns the dataset folder. */
export function writeFakeDataset(dir: string, cases: FakeDatasetCase[]): string {
  mkdirSync(join(dir, 'imagesTr'), { recursive: true });
  mkdirSync(join(dir, 'labelsTr'), { recursive: true });
  const ct = encodeTestNifti(fakeCt(), FAKE_SHAPE, FAKE_SPACING);
  const voxMl = (FAKE_SPACING[0] * FAKE_SPACING[1] * FAKE_SPACING[2]) / 1000;
  const records = cases.map((c, ci) => {
    const labels = fakeLabels(c.labels);
    writeFileSync(join(dir, 'imagesTr', `${c.caseId}_0000.nii.gz`), ct);
    writeFileSync(join(dir, 'labelsTr', `${c.caseId}.nii.gz`), encodeTestNifti(labels, FAKE_SHAPE, FAKE_SPACING));
    const voxels = Object.fromEntries(REPORT_ORGANS.map((o) => [o.key, labels.reduce((s, v) => s + (v === o.label ? 1 : 0), 0)]));
    return {
      caseId: c.caseId, patientId: `p${ci}`, sourceKind: ci % 2 ? 'dicom' : 'pddca', inputDigest: 'x',
      image: `imagesTr/${c.caseId}_0000.nii.gz`, label: `labelsTr/${c.caseId}.nii.gz`,
      shape: FAKE_SHAPE, spacing: ci % 2 ? [0.9, 0.9, 3] : FAKE_SPACING, origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
      availability: Object.fromEntries(REPORT_ORGANS.map((o) => [o.key, c.labels.includes(o.label) ? 'annotated' : 'not-annotated'])),
      voxels, volumeMl: Object.fromEntries(Object.entries(voxels).map(([k, v]) => [k, v * voxMl])),
      overlaps: [], structures: [], warnings: [],
      skipped: ci === 0 ? [{ item: 'ROI "Lens_L"', reason: 'not one of the nine organs' }] : [],
    };
  });
  const manifest = {
    schemaVersion: 1, tool: { name: '@anatomynet/curator', version: '0.1.0' }, inputsDigest: 'i', configDigest: 'c',
    labels: {}, organs: [], numCases: records.length, inputs: { files: 10, used: 9, skipped: 1 },
    cases: records, skipped: [{ ref: 'input-7', kind: 'file', reason: 'not DICOM' }], identityNotRemoved: [],
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  return dir;
}

/** Writes `<runDir>/predictions/<caseId>.nii.gz`: the case's organs shifted by `dx` voxels (the trainer's layout). */
export function writeFakePredictions(runDir: string, cases: FakeDatasetCase[], dx = 2): void {
  for (const c of cases) {
    const file = join(runDir, 'predictions', `${c.caseId}.nii.gz`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, encodeTestNifti(fakeLabels(c.labels, dx), FAKE_SHAPE, FAKE_SPACING));
  }
}
