/**
 * ROI names as clinics write them: PDDCA and TG-263 spellings, free-text variants, any case,
 * `_`/` `/`-` separators, laterality as L/Lt/Left/l/lt/left (always after the organ word).
 */
import type { Rng } from './prng';
import type { SynthOrgan } from './tissues';

/** A case's naming habit: most ROIs of one structure set follow it. */
export type NamingStyle = 'pddca' | 'tg263' | 'clinical';

const EXACT: Record<'pddca' | 'tg263', Record<SynthOrgan, string>> = {
  pddca: {
    BrainStem: 'BrainStem',
    Chiasm: 'Chiasm',
    Mandible: 'Mandible',
    OpticNerve_L: 'OpticNerve_L',
    OpticNerve_R: 'OpticNerve_R',
    Parotid_L: 'Parotid_L',
    Parotid_R: 'Parotid_R',
    Submandibular_L: 'Submandibular_L',
    Submandibular_R: 'Submandibular_R',
  },
  tg263: {
    BrainStem: 'Brainstem',
    Chiasm: 'OpticChiasm',
    Mandible: 'Bone_Mandible',
    OpticNerve_L: 'OpticNrv_L',
    OpticNerve_R: 'OpticNrv_R',
    Parotid_L: 'Parotid_L',
    Parotid_R: 'Parotid_R',
    Submandibular_L: 'Glnd_Submand_L',
    Submandibular_R: 'Glnd_Submand_R',
  },
};

type Stem = 'BrainStem' | 'Chiasm' | 'Mandible' | 'OpticNerve' | 'Parotid' | 'Submandibular';

/** Free-text spellings of each organ word (seen in public H&N data). */
export const STEM_VARIANTS: Record<Stem, readonly string[]> = {
  BrainStem: ['Brainstem', 'Brain Stem', 'brain stem', 'BRAINSTEM', 'Brain_Stem', 'brainstem', 'BrainStem', 'Brain-Stem'],
  Chiasm: ['Chiasm', 'Optic Chiasm', 'optic_chiasm', 'CHIASM', 'OpticChiasm', 'chiasm', 'Optic-Chiasm'],
  Mandible: ['Mandible', 'MANDIBLE', 'mandible', 'Bone_Mandible', 'Bone Mandible'],
  OpticNerve: ['Optic Nerve', 'Optic_Nerve', 'Optic-Nerve', 'OpticNerve', 'optic nerve', 'OPTIC NERVE', 'OpticNrv', 'OPTIC_NERVE'],
  Parotid: ['Parotid', 'parotid', 'PAROTID', 'Parotid Gland', 'Parotid_Gland'],
  Submandibular: ['Submandibular', 'Submandibular Gland', 'submandibular', 'SUBMANDIBULAR', 'Glnd_Submand', 'Submandibular_Gland', 'Submand'],
};

const SIDE_TOKENS: Record<'L' | 'R', readonly string[]> = {
  L: ['L', 'Lt', 'Left', 'l', 'lt', 'left', 'LT', 'LEFT'],
  R: ['R', 'Rt', 'Right', 'r', 'rt', 'right', 'RT', 'RIGHT'],
};
const SEPARATORS = ['_', ' ', '-'] as const;

function stemOf(organ: SynthOrgan): { stem: Stem; side: 'L' | 'R' | null } {
  const m = /^(.*)_([LR])$/.exec(organ);
  return m ? { stem: m[1] as Stem, side: m[2] as 'L' | 'R' } : { stem: organ as Stem, side: null };
}

/** Per-case free-text habits: one spelling per organ word, one separator, one side-token family. */
export interface ClinicalHabit {
  stems: Record<Stem, string>;
  separator: string;
  sideIndex: number;
}

export function drawHabit(rng: Rng): ClinicalHabit {
  const stems = {} as Record<Stem, string>;
  for (const s of Object.keys(STEM_VARIANTS) as Stem[]) stems[s] = rng.pick(STEM_VARIANTS[s]);
  return { stems, separator: rng.pick(SEPARATORS), sideIndex: rng.int(0, SIDE_TOKENS.L.length - 1) };
}

/**
 * The name of an organ's ROI in a case of the given style. Roughly one ROI in eight departs from the
 * case's habit (another spelling, case or separator), as in real structure sets edited by several people.
 */
export function organRoiName(rng: Rng, organ: SynthOrgan, style: NamingStyle, habit: ClinicalHabit): string {
  const quirk = rng.chance(0.12);
  if (style !== 'clinical' && !quirk) return EXACT[style][organ];
  const { stem, side } = stemOf(organ);
  const word = quirk ? rng.pick(STEM_VARIANTS[stem]) : habit.stems[stem];
  if (!side) return word;
  const sep = quirk ? rng.pick(SEPARATORS) : habit.separator;
  const token = SIDE_TOKENS[side][quirk ? rng.int(0, SIDE_TOKENS[side].length - 1) : habit.sideIndex]!;
  return `${word}${sep}${token}`;
}
