/**
 * Tissue classes of the phantom and their CT numbers (HU). Each case draws its own values around
 * these means, so organs differ from their surroundings by a few HU, as in real CT.
 */
import type { Rng } from './prng';

/** The nine organs at risk, PDDCA spelling (also the NRRD structure file names). */
export const SYNTH_ORGANS = [
  'BrainStem',
  'Chiasm',
  'Mandible',
  'OpticNerve_L',
  'OpticNerve_R',
  'Parotid_L',
  'Parotid_R',
  'Submandibular_L',
  'Submandibular_R',
] as const;
export type SynthOrgan = (typeof SYNTH_ORGANS)[number];

/** Tissue name -> [mean HU, half-range of the per-case draw]. Order = label id (0 is air). */
const TISSUE_TABLE = {
  air: [-1000, 0],
  lung: [-840, 30],
  mastoidAir: [-450, 80],
  fat: [-100, 10],
  soft: [40, 5],
  muscle: [52, 4],
  greyMatter: [34, 2],
  whiteMatter: [26, 2],
  csf: [8, 3],
  vitreous: [12, 4],
  lens: [95, 10],
  orbitalFat: [-90, 8],
  blood: [45, 5],
  thyroid: [95, 15],
  cartilage: [160, 30],
  tumour: [62, 6],
  cortical: [1350, 150],
  diploe: [700, 100],
  cancellous: [320, 60],
  denseBone: [1600, 120],
  teeth: [2300, 200],
  // organs at risk
  parotid: [-5, 15],
  submandibular: [52, 6],
  brainStem: [37, 3],
  chiasm: [42, 4],
  opticNerve: [36, 4],
  mandibleCortex: [1350, 150],
  mandibleMarrow: [480, 120],
} as const satisfies Record<string, readonly [number, number]>;

export type Tissue = keyof typeof TISSUE_TABLE;
export const TISSUES = Object.keys(TISSUE_TABLE) as Tissue[];
export const TISSUE_ID: Record<Tissue, number> = Object.fromEntries(TISSUES.map((t, i) => [t, i])) as Record<Tissue, number>;

/** Extra voxel-to-voxel spread (HU SD, before the blur) of heterogeneous tissues: their texture. */
const TEXTURE_SD: Partial<Record<Tissue, number>> = {
  lung: 40,
  mastoidAir: 120,
  diploe: 90,
  cancellous: 70,
  mandibleMarrow: 90,
  parotid: 25,
  submandibular: 12,
  tumour: 20,
  thyroid: 15,
  teeth: 150,
};

/** Texture SD per tissue id (index = TISSUE_ID). */
export function tissueTextureSd(): Float32Array {
  return Float32Array.from(TISSUES, (t) => TEXTURE_SD[t] ?? 0);
}

/** Nominal mean HU of each tissue (before the per-case draw). */
export function nominalHu(t: Tissue): number {
  return TISSUE_TABLE[t][0];
}

/** One case's HU per tissue id (index = TISSUE_ID). */
export function drawTissueHu(rng: Rng): Float32Array {
  const hu = new Float32Array(TISSUES.length);
  TISSUES.forEach((t, i) => {
    const [mean, half] = TISSUE_TABLE[t];
    hu[i] = mean + rng.uniform(-half, half);
  });
  // Keep the contrasts the task relies on, whatever the draw: brainstem brighter than white matter,
  // submandibular glands brighter than soft tissue, parotids darker than soft tissue.
  const id = TISSUE_ID;
  hu[id.brainStem] = Math.max(hu[id.brainStem]!, hu[id.whiteMatter]! + 6);
  hu[id.submandibular] = Math.max(hu[id.submandibular]!, hu[id.soft]! + 6);
  hu[id.parotid] = Math.min(hu[id.parotid]!, hu[id.soft]! - 25);
  return hu;
}
