import type { OrganName } from './published';

/**
 * The nine organs as the report shows them: the PDDCA key used in results and manifests (libs/curation),
 * the TG-263 name used by published.ts, the label value in label maps, and a short axis label.
 */
export interface ReportOrgan {
  key: string;
  tg263: OrganName;
  label: number;
  short: string;
}

export const REPORT_ORGANS: readonly ReportOrgan[] = Object.freeze([
  { key: 'BrainStem', tg263: 'Brainstem', label: 1, short: 'Brain stem' },
  { key: 'Chiasm', tg263: 'OpticChiasm', label: 2, short: 'Chiasm' },
  { key: 'Mandible', tg263: 'Bone_Mandible', label: 3, short: 'Mandible' },
  { key: 'OpticNerve_L', tg263: 'OpticNrv_L', label: 4, short: 'Optic nerve L' },
  { key: 'OpticNerve_R', tg263: 'OpticNrv_R', label: 5, short: 'Optic nerve R' },
  { key: 'Parotid_L', tg263: 'Parotid_L', label: 6, short: 'Parotid L' },
  { key: 'Parotid_R', tg263: 'Parotid_R', label: 7, short: 'Parotid R' },
  { key: 'Submandibular_L', tg263: 'Glnd_Submand_L', label: 8, short: 'Submand. L' },
  { key: 'Submandibular_R', tg263: 'Glnd_Submand_R', label: 9, short: 'Submand. R' },
] as ReportOrgan[]);

export const ORGAN_KEYS_PDDCA: readonly string[] = REPORT_ORGANS.map((o) => o.key);

/** Organ by PDDCA key or TG-263 name (exact); undefined when neither. */
export function reportOrgan(name: string): ReportOrgan | undefined {
  return REPORT_ORGANS.find((o) => o.key === name || o.tg263 === name);
}
