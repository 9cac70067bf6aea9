/**
 * The nine organs at risk of AnatomyNet, in label order (REFERENCE.md): label index, the PDDCA structure
 * file name (also our key and the dataset.json label name) and the TG-263 name.
 */
export interface Organ {
  /** Label value in labelsTr volumes, 1..9. */
  index: number;
  /** PDDCA structure name, used as the key everywhere in this project. */
  key: OrganKey;
  tg263: string;
  /** Whether the organ is paired, i.e. its name needs a side. */
  sided: boolean;
  /**
   * SNOMED CT body structure (DICOM CID 7151 / 9514, as pydicom's code dictionary lists them), for a
   * DICOM SEG's SegmentedPropertyTypeCodeSequence; a paired organ's side is `laterality`.
   */
  snomed: { value: string; meaning: string };
  laterality?: 'Left' | 'Right';
}

/** SNOMED CT laterality qualifiers (DICOM CID 244). */
export const SNOMED_LATERALITY = Object.freeze({ Left: '7771000', Right: '24028007' });

/** A coded concept as DICOM writes it (CodeValue, CodingSchemeDesignator, CodeMeaning). */
export interface OrganCode {
  value: string;
  scheme: string;
  meaning: string;
}

/** An organ's codes as a DICOM SEG segment carries them: its SNOMED CT type and, when paired, its side. */
export function organSegmentCodes(o: Organ): { type: OrganCode; typeModifier?: OrganCode } {
  const type = { value: o.snomed.value, scheme: 'SCT', meaning: o.snomed.meaning };
  return o.laterality ? { type, typeModifier: { value: SNOMED_LATERALITY[o.laterality], scheme: 'SCT', meaning: o.laterality } } : { type };
}

export type OrganKey =
  | 'BrainStem'
  | 'Chiasm'
  | 'Mandible'
  | 'OpticNerve_L'
  | 'OpticNerve_R'
  | 'Parotid_L'
  | 'Parotid_R'
  | 'Submandibular_L'
  | 'Submandibular_R';

export const ORGANS: readonly Organ[] = Object.freeze([
  { index: 1, key: 'BrainStem', tg263: 'Brainstem', sided: false, snomed: { value: '119238007', meaning: 'Brain stem' } },
  { index: 2, key: 'Chiasm', tg263: 'OpticChiasm', sided: false, snomed: { value: '244453006', meaning: 'Optic chiasm' } },
  { index: 3, key: 'Mandible', tg263: 'Bone_Mandible', sided: false, snomed: { value: '91609006', meaning: 'Mandible' } },
  { index: 4, key: 'OpticNerve_L', tg263: 'OpticNrv_L', sided: true, snomed: { value: '18234004', meaning: 'Optic nerve' }, laterality: 'Left' },
  { index: 5, key: 'OpticNerve_R', tg263: 'OpticNrv_R', sided: true, snomed: { value: '18234004', meaning: 'Optic nerve' }, laterality: 'Right' },
  { index: 6, key: 'Parotid_L', tg263: 'Parotid_L', sided: true, snomed: { value: '45289007', meaning: 'Parotid gland' }, laterality: 'Left' },
  { index: 7, key: 'Parotid_R', tg263: 'Parotid_R', sided: true, snomed: { value: '45289007', meaning: 'Parotid gland' }, laterality: 'Right' },
  { index: 8, key: 'Submandibular_L', tg263: 'Glnd_Submand_L', sided: true, snomed: { value: '54019009', meaning: 'Submandibular gland' }, laterality: 'Left' },
  { index: 9, key: 'Submandibular_R', tg263: 'Glnd_Submand_R', sided: true, snomed: { value: '54019009', meaning: 'Submandibular gland' }, laterality: 'Right' },
] as Organ[]);

export const ORGAN_KEYS: readonly OrganKey[] = ORGANS.map((o) => o.key);

/** Display colours per organ label (RGB), chosen to be told apart on a CT: RTSTRUCT output, review pictures. */
export const ORGAN_COLOURS: Readonly<Record<number, [number, number, number]>> = Object.freeze({
  1: [0, 151, 206],
  2: [255, 0, 255],
  3: [230, 230, 80],
  4: [255, 127, 0],
  5: [255, 180, 90],
  6: [0, 200, 0],
  7: [120, 230, 120],
  8: [200, 0, 0],
  9: [240, 110, 110],
});

/** nnU-Net v2 `labels` object: background 0 and the nine organs 1..9, in label order. */
export function nnunetLabels(): Record<string, number> {
  const labels: Record<string, number> = { background: 0 };
  for (const o of ORGANS) labels[o.key] = o.index;
  return labels;
}

/** Organ by key, PDDCA name, TG-263 name (case-insensitive) or label index; undefined if none. */
export function findOrgan(ref: string | number): Organ | undefined {
  if (typeof ref === 'number') return ORGANS.find((o) => o.index === ref);
  const r = ref.trim().toLowerCase();
  return ORGANS.find((o) => o.key.toLowerCase() === r || o.tg263.toLowerCase() === r || String(o.index) === r);
}
