/**
 * Numbers published in the AnatomyNet paper (Zhu et al., Med. Phys. 2019), DSC in %, on the MICCAI 2015
 * offsite test set (10 CTs) unless stated. Source: ../shared/paper (the paper's text and REFERENCE.md).
 * The report always shows these marked as published, never mixed with this project's measurements.
 */
export const ORGANS = [
  'Brainstem',
  'OpticChiasm',
  'Bone_Mandible',
  'OpticNrv_L',
  'OpticNrv_R',
  'Parotid_L',
  'Parotid_R',
  'Glnd_Submand_L',
  'Glnd_Submand_R',
] as const;
export type OrganName = (typeof ORGANS)[number];

/** A published series: DSC per organ (absent organs were not reported), and the mean the paper states. */
export interface PublishedSeries {
  label: string;
  source: string;
  dsc: Partial<Record<OrganName, number>>;
  mean?: number;
}

const nine = (v: number[]): Record<OrganName, number> =>
  Object.fromEntries(ORGANS.map((o, i) => [o, v[i]])) as Record<OrganName, number>;

/** Fig. 6 and the paper's Table of the final comparison. */
export const FIG6_PUBLISHED: PublishedSeries[] = [
  { label: 'MICCAI 2015 best', source: 'Raudaschl et al. 2017, as cited in the paper (Fig. 6)', dsc: nine([88, 55, 93, 62, 62, 84, 84, 78, 78]), mean: 76 },
  { label: 'AnatomyNet (paper)', source: 'Zhu et al., Fig. 6', dsc: nine([86.65, 53.22, 92.51, 72.1, 70.64, 88.07, 87.35, 81.37, 81.3]), mean: 79.25 },
  { label: '3D SE-Res U-Net, Dice only (paper)', source: 'Zhu et al., Fig. 6', dsc: nine([86.37, 53.22, 92.33, 72.02, 69.12, 87.79, 86.82, 81.05, 80.8]), mean: 78.84 },
  { label: 'Atlas + ConvNet (Fritscher)', source: 'as cited in Zhu et al., Fig. 6', dsc: { OpticChiasm: 49, Parotid_L: 81, Parotid_R: 81, Glnd_Submand_L: 65, Glnd_Submand_R: 65 } },
  { label: 'Interleaved CNN (Ren)', source: 'as cited in Zhu et al., Fig. 6', dsc: { OpticChiasm: 58, OpticNrv_L: 72, OpticNrv_R: 70 } },
  { label: 'Hierarchical vertex regression (Wang)', source: 'as cited in Zhu et al., Fig. 6', dsc: { Brainstem: 90, Bone_Mandible: 94, Parotid_L: 83, Parotid_R: 83 } },
];

/** Means the paper reports for its ablations (per-organ values are only drawn as bars in its figures). */
export const FIG3_PUBLISHED_MEANS: Record<string, number> = { pool1: 76.8, pool2: 75.9, pool3: 75.6, pool4: 75.5 };
export const FIG5_PUBLISHED_MEANS: Record<string, number> = { dice: 76.8, explog: 76.0, 'dice+focal(0.5)': 77.7, 'dice+ce(0.1)': 77.0 };

/** Table I: trained on the MICCAI 2015 training set (DATASET 1) vs all 261 collected CTs (DATASET 1,2,3). */
export const TABLE1_PUBLISHED: PublishedSeries[] = [
  { label: 'PDDCA only (DATASET 1)', source: 'Zhu et al., Table I', dsc: nine([58.6, 39.93, 94.16, 74.62, 73.77, 88.83, 87.24, 78.56, 81.83]), mean: 75.28 },
  { label: 'All 261 CTs (DATASET 1,2,3)', source: 'Zhu et al., Table I', dsc: nine([85.91, 53.26, 90.59, 69.8, 67.5, 87.84, 86.15, 79.91, 80.24]), mean: 77.91 },
];

/** Speed the paper states: seconds per 178x302x225 volume on a Tesla P40. */
export const PUBLISHED_SECONDS_PER_VOLUME = { seconds: 0.12, gpu: 'Tesla P40', shape: [178, 302, 225] };
