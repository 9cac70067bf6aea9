/** DATASHEET.md of a published dataset: sources and licences, counts per organ, availability, known issues. */
import { BONE_MIN_HU, MIDLINE_TOLERANCE_MM, SHIFT_MIN_GAIN, SHIFT_MIN_MM, SOFT_TISSUE_HU, STRAY_GAP_MM, VOLUME_MIN_CASES, VOLUME_MODIFIED_Z, VOLUME_RATIO } from './annotation-checks';
import { ALIGNMENT_SEARCH_MM, BONE_VOXEL_HU } from './bone-alignment';
import type { Manifest } from './manifest';
import { ORGANS } from './organs';
import type { Splits } from './splits';

const LICENCES: Record<string, string> = {
  pddca:
    'PDDCA (Raudaschl et al., Med. Phys. 2017; MICCAI 2015 head-and-neck challenge, built from the RTOG 0522 / TCIA ' +
    'Head-Neck Cetuximab collection). Use it under the terms stated by its distributor, and cite the paper.',
  synthetic:
    'Synthetic head-and-neck phantoms written by `curator synth` (anatomynet-ts, Apache-2.0): no patient data. ' +
    'Results on them say nothing about clinical accuracy.',
  dicom: 'DICOM-RT exports: licence and consent as agreed with the data owner (not recorded by the curator).',
};

export function renderDatasheet(m: Manifest, splits: Splits): string {
  const kindOf = (c: Manifest['cases'][number]) => (c.synthetic ? 'synthetic' : c.sourceKind);
  const kinds = [...new Set(m.cases.map(kindOf))].sort();
  const lines: string[] = [];
  lines.push('# Datasheet', '');
  lines.push(`Curated by ${m.tool.name} ${m.tool.version}. Inputs digest \`${m.inputsDigest}\`.`, '');
  lines.push(...versionLines(m), '');
  lines.push('## Sources', '');
  if (kinds.length === 0) lines.push('- none');
  for (const k of kinds) lines.push(`- ${k}: ${m.cases.filter((c) => kindOf(c) === k).length} cases. ${LICENCES[k] ?? ''}`);
  lines.push('');
  lines.push('## Composition', '');
  const patients = new Set(m.cases.map((c) => c.patientId)).size;
  lines.push(`${m.numCases} CT scans of ${patients} patients; split by patient (${splits.method}): ` +
    `${splits.train.length} train, ${splits.validation.length} validation, ${splits.test.length} test.`);
  lines.push(`Input files: ${m.inputs.files} (${m.inputs.used} used, ${m.inputs.skipped} skipped; reasons in manifest.json).`, '');
  lines.push('Images are CT in HU stored unchanged as int16, cropped to the head and neck (chest removed); labels are uint8 on the image grid.', '');
  lines.push('## Organs', '');
  lines.push('| label | organ | TG-263 | annotated | annotated but empty | not annotated | mean mL |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const o of ORGANS) {
    const a = m.cases.filter((c) => c.availability[o.key] === 'annotated');
    const e = m.cases.filter((c) => c.availability[o.key] === 'annotated-empty').length;
    const n = m.cases.filter((c) => c.availability[o.key] === 'not-annotated').length;
    const mean = a.length ? (a.reduce((s, c) => s + c.volumeMl[o.key], 0) / a.length).toFixed(2) : '-';
    lines.push(`| ${o.index} | ${o.key} | ${o.tg263} | ${a.length} | ${e} | ${n} | ${mean} |`);
  }
  lines.push('', '## Availability per case', '');
  lines.push('`A` annotated, `E` annotated but empty, `-` not annotated.', '');
  lines.push(`| case | ${ORGANS.map((o) => o.key).join(' | ')} |`);
  lines.push(`|---|${ORGANS.map(() => '---').join('|')}|`);
  const sym = { annotated: 'A', 'annotated-empty': 'E', 'not-annotated': '-' } as const;
  for (const c of m.cases) lines.push(`| ${c.caseId} | ${ORGANS.map((o) => sym[c.availability[o.key]]).join(' | ')} |`);
  lines.push('', '## Known issues', '');
  const issues: string[] = [];
  const warned = m.cases.filter((c) => c.warnings.length > 0);
  if (warned.length) issues.push(`${warned.length} cases carry warnings (manifest.json, cases[].warnings).`);
  const lossy = m.cases.filter((c) => c.warnings.some((w) => / compressed lossy/.test(w))).length;
  if (lossy) issues.push(`${lossy} cases' CT images were compressed lossy: their CT numbers differ from the scan's (cases[].warnings).`);
  const resampled = m.cases.filter((c) => c.warnings.some((w) => w.startsWith('slice steps vary'))).length;
  if (resampled) issues.push(`${resampled} cases' CT slice steps varied: CT and labels were resampled onto a uniform grid at the smallest step.`);
  const widened = m.cases.filter((c) => c.warnings.some((w) => w.startsWith('crop widened'))).length;
  if (widened) issues.push(`${widened} cases needed the crop widened to keep an organ.`);
  const overlaps = m.cases.filter((c) => c.overlaps.length > 0).length;
  if (overlaps) issues.push(`${overlaps} cases have overlapping organ contours; the smaller organ was given the voxels.`);
  const fallback = m.cases.filter((c) => c.pairing === 'frame-of-reference').length;
  if (fallback) issues.push(`${fallback} cases were paired by frame of reference and geometry (referenced images absent).`);
  if (m.identityNotRemoved.length) issues.push(`${m.identityNotRemoved.length} DICOM sources do not state PatientIdentityRemoved=YES: ${m.identityNotRemoved.join(', ')}.`);
  if (m.skipped.length) issues.push(`${m.skipped.length} input items were skipped (manifest.json, skipped).`);
  const handNamed = m.caseNameOverrides ?? [];
  if (handNamed.length) issues.push(`${handNamed.length} cases had their structure names mapped by a names file section of their own (hand corrections: ${handNamed.join(', ')}); manifest.json's structures show each mapping.`);
  const findings = m.annotationFindings ?? [];
  if (findings.length) issues.push(`${findings.length} annotation findings in ${new Set(findings.map((f) => f.caseId)).size} cases (Annotation checks, below).`);
  issues.push('Partial annotation is the norm: train with a loss masked by availability (manifest.json, cases[].availability).');
  for (const i of issues) lines.push(`- ${i}`);
  lines.push('', ...checkLines(m), '');
  return lines.join('\n');
}

/** The annotation checks' findings (annotation-checks.ts), or that there were none. */
function checkLines(m: Manifest): string[] {
  const lines = [
    '## Annotation checks',
    '',
    `Sides: a left organ's centre must lie to the patient's left of its right partner's, and neither more than ${MIDLINE_TOLERANCE_MM} mm ` +
      `across the midline organs' centres. Stray pieces: no piece of an organ more than ${STRAY_GAP_MM} mm from its largest. ` +
      `CT numbers: the mandible's mean at least ${BONE_MIN_HU} HU (bone), the others' between ${SOFT_TISSUE_HU[0]} and ${SOFT_TISSUE_HU[1]} (soft tissue). ` +
      `Shift: no translation of ${SHIFT_MIN_MM} mm or more (up to ${ALIGNMENT_SEARCH_MM}) may put ${SHIFT_MIN_GAIN} more of the mandible's contour on bone (above ${BONE_VOXEL_HU} HU) and half of it in all (the structure set off its scan). ` +
      `Volume (organs annotated in ${VOLUME_MIN_CASES} cases or more): not ${VOLUME_RATIO} times the cohort's median or more, nor 1/${VOLUME_RATIO} or less, where its modified z-score of log volume is beyond ${VOLUME_MODIFIED_Z}. ` +
      'Findings are for review: nothing was changed or left out because of them (a names file section for the case answers one: the other side\'s names, or "ignore").',
    '',
  ];
  const findings = m.annotationFindings ?? [];
  if (!findings.length) return [...lines, 'None found.'];
  lines.push('| case | check | organs | finding |', '|---|---|---|---|');
  for (const f of findings) lines.push(`| ${f.caseId} | ${f.check} | ${f.organs.join(', ')} | ${f.message} |`);
  return lines;
}

/** The version paragraph: which version this is, and what changed from the one it replaced in the folder. */
function versionLines(m: Manifest): string[] {
  const v = m.version ?? 1;
  const p = m.previous;
  if (!p) return [`Version ${v}: the first published in this folder.`];
  const few = (ids: string[]) => (ids.length <= 12 ? ids.join(', ') : `${ids.slice(0, 12).join(', ')} and ${ids.length - 12} more`);
  const what = [
    p.added.length ? `${p.added.length} cases added (${few(p.added)})` : '',
    p.removed.length ? `${p.removed.length} removed (${few(p.removed)})` : '',
    p.changed.length ? `${p.changed.length} changed (${few(p.changed)})` : '',
  ].filter(Boolean);
  const splits =
    p.splits === 'kept'
      ? 'Every case of both versions kept its split (a case tested on is never trained on later); new patients were placed to keep the fractions.'
      : `The splits were placed afresh (the split method changed): ${p.moved.length} cases of both versions changed split${p.moved.length ? ` (${few(p.moved.map((x) => `${x.caseId} ${x.from} -> ${x.to}`))})` : ''}; results of the two versions are not comparable.`;
  return [
    `Version ${v}, replacing version ${p.version} (manifest sha256 \`${p.manifestDigest}\`, the digest runs trained on it record): ${what.length ? what.join(', ') : 'the same cases, published anew'}.`,
    splits,
  ];
}
