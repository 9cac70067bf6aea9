import { describe, expect, it } from 'vitest';
import { ORGANS, type CaseRecord } from '@anatomynet/curation';
import { annotatedOrgans } from './dataset';

describe('annotatedOrgans', () => {
  it('only annotated structures count; an empty structure is a missing annotation, not "no organ here"', () => {
    const availability = Object.fromEntries(ORGANS.map((o) => [o.key, 'annotated']));
    availability.Parotid_L = 'annotated-empty';
    availability.Chiasm = 'not-annotated';
    const flags = annotatedOrgans({ availability } as unknown as CaseRecord);
    expect(flags).toHaveLength(ORGANS.length);
    ORGANS.forEach((o, i) => expect(flags[i]).toBe(o.key !== 'Parotid_L' && o.key !== 'Chiasm'));
  });
});
