/**
 * Pseudonymous ids. Cases are numbered hn_0001, hn_0002... and patients patient_0001... in the order
 * of their (private) source keys; a previous assignment (the private source map) is kept, with the ids
 * of sources no longer found, and new sources get the next free numbers, so ids stay put as a cohort
 * grows or shrinks.
 */
import { compareStrings } from './names';

export interface IdAssignment {
  cases: Record<string, string>;
  patients: Record<string, string>;
}

// Sources absent from this run keep their ids in the assignment, so that an id once published never
// names another case or patient in a later version of the dataset.
function nextIds(keys: readonly string[], previous: Record<string, string>, prefix: string): Record<string, string> {
  const used = new Set(Object.values(previous));
  let n = 0;
  const fresh = () => { let id: string; do { id = `${prefix}_${String(++n).padStart(4, '0')}`; } while (used.has(id)); used.add(id); return id; };
  const out: Record<string, string> = { ...previous };
  for (const k of [...new Set(keys)].sort(compareStrings)) out[k] ??= fresh();
  return Object.fromEntries(Object.entries(out).sort((a, b) => compareStrings(a[0], b[0])));
}

export function assignIds(caseKeys: readonly string[], patientKeys: readonly string[], previous?: IdAssignment): IdAssignment {
  return {
    cases: nextIds(caseKeys, previous?.cases ?? {}, 'hn'),
    patients: nextIds(patientKeys, previous?.patients ?? {}, 'patient'),
  };
}
