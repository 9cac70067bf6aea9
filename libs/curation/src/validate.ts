/**
 * Check a published dataset folder: checksums, dataset.json, manifest, every case's geometry and
 * labels against the manifest (voxel counts, availability, organ measures, the annotation checks'
 * findings), splits, and that no UID leaked into the
 * published text. Problems are collected, never thrown, so one run lists them all.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readNifti, type Volume } from '@anatomynet/data';
import { countLabels } from './labels';
import { organMeasures, type OrganMeasures } from './organ-measures';
import type { BoneAlignment } from './bone-alignment';
import { annotationFindings } from './annotation-checks';
import { checkManifestShape, FILE_ENDING, type Manifest } from './manifest';
import { nnunetLabels, ORGANS } from './organs';
import { parseSha256Sums, sha256File } from './hashing';

export interface ValidationReport {
  ok: boolean;
  problems: string[];
  cases: number;
  filesChecked: number;
}

function readJson(path: string, problems: string[]): any {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    problems.push(`${path}: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * Measures recomputed from the files against the manifest's: millimetres within one rounding step,
 * since NIfTI keeps the geometry in float32 and a centre near a rounding boundary may land on either side.
 */
function sameMeasures(a: OrganMeasures | undefined, b: OrganMeasures | undefined): boolean {
  if (!a || !b) return a === b;
  const mm = (x: number, y: number) => Math.abs(x - y) <= 0.1 + 1e-9;
  // a manifest curated before the bone alignment was measured holds none to compare
  const aligned = (x: BoneAlignment, y: BoneAlignment | undefined) => !y || (x.fraction === y.fraction && x.shiftedFraction === y.shiftedFraction && x.shiftMm.every((v, i) => mm(v, y.shiftMm[i]!)));
  return a.meanHu === b.meanHu && a.pieces === b.pieces && a.strayVoxels === b.strayVoxels && mm(a.strayGapMm, b.strayGapMm) && (b.strayChainGapMm === undefined || mm(a.strayChainGapMm ?? NaN, b.strayChainGapMm)) && (b.gapSlices === undefined || a.gapSlices === b.gapSlices) && a.centroidMm.every((x, i) => mm(x, b.centroidMm[i]!)) &&
    (!a.boneAlignment || aligned(a.boneAlignment, b.boneAlignment));
}

function near(a: readonly number[], b: readonly number[], tol: number): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= tol);
}

export async function validateDataset(dir: string, onProgress?: (done: number, total: number) => void): Promise<ValidationReport> {
  const problems: string[] = [];
  if (!existsSync(dir)) return { ok: false, problems: [`no such folder ${dir}`], cases: 0, filesChecked: 0 };
  for (const f of ['dataset.json', 'manifest.json', 'splits.json', 'SHA256SUMS']) {
    if (!existsSync(join(dir, f))) problems.push(`${f} is missing`);
  }
  if (problems.length) return { ok: false, problems, cases: 0, filesChecked: 0 };

  // Checksums: every listed file matches, and nothing unlisted sits in the folder.
  let sums = new Map<string, string>();
  try {
    sums = parseSha256Sums(readFileSync(join(dir, 'SHA256SUMS'), 'utf8'));
  } catch (e) {
    problems.push((e as Error).message);
  }
  const present: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel))) {
      const r = rel ? `${rel}/${e}` : e;
      if (statSync(join(dir, r)).isDirectory()) walk(r);
      else if (r !== 'SHA256SUMS') present.push(r);
    }
  };
  walk('');
  for (const r of present) if (!sums.has(r)) problems.push(`${r} is not listed in SHA256SUMS`);
  for (const [r, hex] of sums) {
    if (!existsSync(join(dir, r))) problems.push(`${r} is listed in SHA256SUMS but missing`);
    else if ((await sha256File(join(dir, r))) !== hex) problems.push(`${r}: checksum mismatch`);
  }

  const dataset = readJson(join(dir, 'dataset.json'), problems);
  const manifest = readJson(join(dir, 'manifest.json'), problems) as Manifest | undefined;
  const splits = readJson(join(dir, 'splits.json'), problems);
  if (!dataset || !manifest || !splits) return { ok: false, problems, cases: 0, filesChecked: sums.size };
  if (JSON.stringify(dataset.channel_names) !== JSON.stringify({ '0': 'CT' })) problems.push('dataset.json: channel_names is not {"0": "CT"}');
  if (JSON.stringify(dataset.labels) !== JSON.stringify(nnunetLabels())) problems.push('dataset.json: labels differ from background 0 and the nine organs 1-9');
  if (dataset.file_ending !== FILE_ENDING) problems.push(`dataset.json: file_ending is not ${FILE_ENDING}`);
  const shapeProblems = checkManifestShape(manifest);
  problems.push(...shapeProblems.map((p) => `manifest.json: ${p}`));
  if (shapeProblems.length) return { ok: false, problems, cases: 0, filesChecked: sums.size };
  if (dataset.numTraining !== manifest.cases.length) problems.push(`dataset.json: numTraining ${dataset.numTraining} but ${manifest.cases.length} cases in the manifest`);
  const images = existsSync(join(dir, 'imagesTr')) ? readdirSync(join(dir, 'imagesTr')).length : 0;
  if (images !== manifest.cases.length) problems.push(`imagesTr holds ${images} files for ${manifest.cases.length} cases`);

  // Each case: files, geometry, labels against availability and counts.
  for (const [n, c] of manifest.cases.entries()) {
    const tag = `case ${c.caseId}`;
    let img: Volume | undefined, lab: Volume | undefined;
    try { img = readNifti(join(dir, c.image)); } catch (e) { problems.push(`${tag}: image unreadable: ${(e as Error).message}`); }
    try { lab = readNifti(join(dir, c.label)); } catch (e) { problems.push(`${tag}: label unreadable: ${(e as Error).message}`); }
    if (img && lab) {
      if (!(img.data instanceof Int16Array)) problems.push(`${tag}: image is not int16`);
      if (!(lab.data instanceof Uint8Array)) problems.push(`${tag}: label is not uint8`);
      for (const [what, v] of [['image', img], ['label', lab]] as const) {
        if (!near(v.shape, c.shape, 0)) problems.push(`${tag}: ${what} shape ${v.shape.join('x')} differs from the manifest's ${c.shape.join('x')}`);
        if (!near(v.spacing, c.spacing, 1e-4)) problems.push(`${tag}: ${what} spacing differs from the manifest`);
        if (!near(v.origin, c.origin, 1e-2)) problems.push(`${tag}: ${what} origin differs from the manifest`);
        if (!near(v.direction, c.direction, 1e-4)) problems.push(`${tag}: ${what} direction differs from the manifest`);
      }
      let bad = 0;
      for (let p = 0; p < lab.data.length; p++) if (lab.data[p] > ORGANS.length) bad++;
      if (bad) problems.push(`${tag}: ${bad} label voxels outside 0..${ORGANS.length}`);
      const counts = countLabels(lab.data);
      for (const o of ORGANS) {
        const a = c.availability[o.key];
        if (counts[o.key] !== c.voxels[o.key]) problems.push(`${tag}: ${o.key} has ${counts[o.key]} voxels, the manifest says ${c.voxels[o.key]}`);
        if (a !== 'annotated' && counts[o.key] > 0) problems.push(`${tag}: ${o.key} is ${a} but has ${counts[o.key]} voxels`);
        if (a === 'annotated' && counts[o.key] === 0) problems.push(`${tag}: ${o.key} is annotated but has no voxels`);
      }
      if (c.measures && lab.data instanceof Uint8Array) {
        const now = organMeasures({ ...lab, data: lab.data }, img);
        const differ = ORGANS.filter((o) => !sameMeasures(now[o.key], c.measures![o.key])).map((o) => o.key);
        if (differ.length) problems.push(`${tag}: the label's ${differ.join(', ')} lie elsewhere, in other pieces or on other CT numbers than the manifest's measures say`);
      }
    }
    onProgress?.(n + 1, manifest.cases.length);
  }

  if (manifest.annotationFindings && JSON.stringify(annotationFindings(manifest.cases)) !== JSON.stringify(manifest.annotationFindings)) {
    problems.push('manifest.json: annotationFindings differ from what the annotation checks find in its cases');
  }

  // Splits: every case in exactly one set, patients never across sets.
  const ids = new Set(manifest.cases.map((c) => c.caseId));
  const where = new Map<string, string>();
  for (const set of ['train', 'validation', 'test']) {
    if (!Array.isArray(splits[set])) { problems.push(`splits.json: ${set} is not a list`); continue; }
    for (const id of splits[set] as string[]) {
      if (!ids.has(id)) problems.push(`splits.json: ${set} names unknown case ${id}`);
      if (where.has(id)) problems.push(`splits.json: ${id} is in ${where.get(id)} and ${set}`);
      where.set(id, set);
    }
  }
  for (const id of ids) if (!where.has(id)) problems.push(`splits.json: case ${id} is in no set`);
  const patientSet = new Map<string, string>();
  for (const c of manifest.cases) {
    const s = where.get(c.caseId);
    if (!s) continue;
    const prev = patientSet.get(c.patientId);
    if (prev && prev !== s) problems.push(`splits.json: patient ${c.patientId} is in both ${prev} and ${s}`);
    patientSet.set(c.patientId, s);
  }

  // De-identification: no DICOM UID in any published text file.
  for (const r of present.filter((p) => /\.(json|md|txt)$/i.test(p))) {
    const m = /\b[0-2](?:\.\d+){4,}\b/.exec(readFileSync(join(dir, r), 'utf8'));
    if (m) problems.push(`${r}: contains what looks like a DICOM UID (${m[0].slice(0, 12)}...)`);
  }
  return { ok: problems.length === 0, problems, cases: manifest.cases.length, filesChecked: sums.size };
}
