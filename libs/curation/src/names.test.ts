import { describe, expect, it } from 'vitest';
import { caseOverrides, mapName, namesReport, parseNamesFile } from './names';
import { CurationInputError } from './errors';

describe('mapName: the built-in table', () => {
  it.each([
    ['BrainStem', 'BrainStem'], ['Brainstem', 'BrainStem'], ['brain stem', 'BrainStem'], ['BRAIN_STEM', 'BrainStem'],
    ['Chiasm', 'Chiasm'], ['OpticChiasm', 'Chiasm'], ['optic chiasm', 'Chiasm'],
    ['Mandible', 'Mandible'], ['Bone_Mandible', 'Mandible'], ['mandible', 'Mandible'],
    ['OpticNerve_L', 'OpticNerve_L'], ['OpticNrv_L', 'OpticNerve_L'], ['Optic-Nerve-Lt', 'OpticNerve_L'], ['Optic_Nerve_Lt', 'OpticNerve_L'],
    ['optic nerve left', 'OpticNerve_L'], ['Left Optic Nerve', 'OpticNerve_L'], ['OpticNerve_R', 'OpticNerve_R'], ['OpticNrv_R', 'OpticNerve_R'],
    ['Optic_Nerve_Rt', 'OpticNerve_R'], ['optic nerve r', 'OpticNerve_R'],
    ['Parotid_L', 'Parotid_L'], ['Parotid-Lt', 'Parotid_L'], ['Parotid Lt', 'Parotid_L'], ['parotid_l', 'Parotid_L'], ['PAROTID LEFT', 'Parotid_L'],
    ['Lt_Parotid', 'Parotid_L'], ['ParotidL', 'Parotid_L'], ['Parotid Gland L', 'Parotid_L'], ['Parotid_R', 'Parotid_R'], ['Parotid Rt', 'Parotid_R'], ['RIGHT_PAROTID', 'Parotid_R'],
    ['Submandibular_L', 'Submandibular_L'], ['Submandibular-Lt', 'Submandibular_L'], ['Glnd_Submand_L', 'Submandibular_L'], ['SubmandibularGland_L', 'Submandibular_L'],
    ['Submandibular_R', 'Submandibular_R'], ['Glnd_Submand_R', 'Submandibular_R'], ['submandibular right', 'Submandibular_R'],
  ])('%s -> %s', (raw, organ) => {
    const m = mapName(raw);
    expect(m.organ).toBe(organ);
    expect(m.status).toBe('mapped');
  });

  it.each([
    'BrainStem_PRV', 'PRV_Brainstem', 'Brainstem+3mm', 'Brainstem_3mm', 'Parotid_L_avoid', 'z_Mandible', 'PTV70', 'PTV_High', 'CTV_60',
    'GTVp', 'Parotid_L_PRV05', 'Ring_PTV', 'OpticNerve_L_opt', 'xx_Chiasm', 'BrainStem PRV 5', 'Mandible-PTV',
  ])('planning structure %s never maps', (raw) => {
    const m = mapName(raw);
    expect(m.organ).toBeNull();
    expect(m.status).toBe('planning');
  });

  it.each(['Parotid', 'OpticNerve', 'Optic Nerve', 'Submandibular', 'Glnd_Submand', 'Parotid L R', 'Mandible_L'])('%s is ambiguous', (raw) => {
    const m = mapName(raw);
    expect(m.organ).toBeNull();
    expect(m.status).toBe('ambiguous');
  });

  it.each(['Body', 'External', 'SpinalCord', 'Parotids', 'Eye_L', 'Lens_R', 'Larynx', 'Cochlea_L', ''])('%s is not one of the nine', (raw) => {
    expect(mapName(raw)).toMatchObject({ organ: null, status: 'unknown' });
  });
});

describe('names file overrides', () => {
  const ov = parseNamesFile(JSON.stringify({ 'Parotid': 'Parotid_L', 'Lt Pg': 'Parotid_L', 'Stem': 'Brainstem', 'SMG R': 9, 'Mandible': 'ignore', 'BS_PRV': null }), 'names.json').all;
  it('maps, extends and ignores by raw name (case-insensitive)', () => {
    expect(mapName('lt pg', ov)).toMatchObject({ organ: 'Parotid_L', status: 'override' });
    expect(mapName('Stem', ov)).toMatchObject({ organ: 'BrainStem', status: 'override' });
    expect(mapName('SMG R', ov)).toMatchObject({ organ: 'Submandibular_R', status: 'override' });
    expect(mapName('Parotid', ov).organ).toBe('Parotid_L');
    expect(mapName('Mandible', ov)).toMatchObject({ organ: null, status: 'ignored' });
    expect(mapName('Bone_Mandible', ov).organ).toBe('Mandible'); // only the exact name is overridden
  });
  it('rejects bad files with the file name and the entry', () => {
    expect(() => parseNamesFile('{"a": "Liver"}', 'n.json')).toThrow(/n\.json: entry "a"/);
    expect(() => parseNamesFile('[1]', 'n.json')).toThrow(CurationInputError);
    expect(() => parseNamesFile('{oops', 'n.json')).toThrow(/not valid JSON/);
    expect(() => parseNamesFile('{"hn_0001": {"x": "Liver"}}', 'n.json')).toThrow(/n\.json: case "hn_0001": entry "x"/);
  });
  it('takes a case\'s own section over the others, however its names are spelt', () => {
    const file = parseNamesFile(JSON.stringify({ 'parotid lt': 'Parotid_L', 'Stem': 'BrainStem', hn_0007: { 'Parotid Lt': 'Parotid_R', 'Parotid Rt': 'Parotid_L' }, '0522c0003': { Mandible: 'ignore' } }), 'names.json');
    expect([...file.all]).toEqual([['parotid lt', 'Parotid_L'], ['Stem', 'BrainStem']]);
    expect([...file.byCase.keys()]).toEqual(['hn_0007', '0522c0003']);
    const swapped = caseOverrides(file.all, file.byCase.get('hn_0007'));
    expect(mapName('PAROTID LT', swapped).organ).toBe('Parotid_R');
    expect(mapName('Parotid Rt', swapped).organ).toBe('Parotid_L');
    expect(mapName('Stem', swapped).organ).toBe('BrainStem');
    expect(mapName('PAROTID LT', caseOverrides(file.all, undefined)).organ).toBe('Parotid_L');
    expect(mapName('Mandible', caseOverrides(file.all, file.byCase.get('0522c0003')))).toMatchObject({ organ: null, status: 'ignored' });
  });
});

describe('namesReport', () => {
  it('counts cases per raw name once and says what each mapped to', () => {
    const rows = namesReport([['Parotid_L', 'PTV70', 'Parotid_L'], ['Parotid_L', 'Parotid'], ['Brainstem']]);
    expect(rows.map((r) => [r.name, r.cases, r.organ, r.status])).toEqual([
      ['Brainstem', 1, 'BrainStem', 'mapped'],
      ['PTV70', 1, null, 'planning'],
      ['Parotid', 1, null, 'ambiguous'],
      ['Parotid_L', 2, 'Parotid_L', 'mapped'],
    ]);
  });

  it('maps a SEG segment by its codes where its label names no organ, one row per label and codes', () => {
    const rows = namesReport([
      [{ name: 'Segment_1', codedName: 'Parotid gland, Left' }, { name: 'Segment_2', codedName: 'Mandible' }, { name: 'PTV70', codedName: 'Mandible' }],
      [{ name: 'Segment_1', codedName: 'Mandible' }, 'Segment_1', { name: 'Segment_1', codedName: 'Parotid gland, Left' }, { name: 'Mandible', codedName: 'Mandible' }],
      ['Mandible'],
    ]);
    expect(rows.map((r) => [r.name, r.codedName, r.cases, r.organ, r.status, r.reason])).toEqual([
      ['Mandible', undefined, 2, 'Mandible', 'mapped', ''],
      ['PTV70', undefined, 1, null, 'planning', expect.any(String)],
      ['Segment_1', undefined, 1, null, 'unknown', expect.any(String)],
      ['Segment_1', 'Mandible', 1, 'Mandible', 'mapped', 'by its SNOMED CT codes: Mandible'],
      ['Segment_1', 'Parotid gland, Left', 2, 'Parotid_L', 'mapped', 'by its SNOMED CT codes: Parotid gland, Left'],
      ['Segment_2', 'Mandible', 1, 'Mandible', 'mapped', 'by its SNOMED CT codes: Mandible'],
    ]);
    expect(Object.keys(rows[0]!)).not.toContain('codedName');
  });
});

describe('mapName against the synthetic cohort spellings (written independently, libs/curation/src/synth)', async () => {
  const { STEM_VARIANTS } = await import('./synth');
  const sides = { L: ['L', 'Lt', 'Left', 'l', 'lt', 'left', 'LT', 'LEFT'], R: ['R', 'Rt', 'Right', 'r', 'rt', 'right', 'RT', 'RIGHT'] };
  it('maps every stem variant with every separator and side token', () => {
    let n = 0;
    for (const [stem, words] of Object.entries(STEM_VARIANTS)) {
      for (const w of words) {
        if (stem === 'BrainStem' || stem === 'Chiasm' || stem === 'Mandible') {
          expect(mapName(w).organ, w).toBe(stem);
          n++;
          continue;
        }
        expect(mapName(w).status, w).toBe('ambiguous');
        for (const sep of ['_', ' ', '-']) for (const side of ['L', 'R'] as const) for (const t of sides[side]) {
          expect(mapName(`${w}${sep}${t}`).organ, `${w}${sep}${t}`).toBe(`${stem}_${side}`);
          n++;
        }
      }
    }
    expect(n).toBeGreaterThan(900);
  });
});
