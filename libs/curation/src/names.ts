/**
 * Structure-name unification: raw names from PDDCA, TG-263 and clinical planning systems -> one of the
 * nine organs, or a reason why not. Planning structures (PRVs, margins, avoidance and helper structures)
 * never map, and a paired organ named without a side is ambiguous, so it never maps either.
 */
import { findOrgan, type Organ, type OrganKey, ORGANS } from './organs';
import { CurationInputError } from './errors';

export type NameStatus = 'mapped' | 'override' | 'ignored' | 'planning' | 'ambiguous' | 'unknown';

export interface NameMapping {
  organ: OrganKey | null;
  status: NameStatus;
  /** Why a name did not map (empty when it did). */
  reason: string;
}

/** User overrides: raw name -> organ (key, TG-263 name or label index) or `null` / "ignore". */
export type NameOverrides = ReadonlyMap<string, OrganKey | null>;

/** Organ base words (separators and side removed, lower case) -> organ family. */
const BASES: Record<string, 'BrainStem' | 'Chiasm' | 'Mandible' | 'OpticNerve' | 'Parotid' | 'Submandibular'> = {
  brainstem: 'BrainStem',
  chiasm: 'Chiasm',
  chiasma: 'Chiasm',
  opticchiasm: 'Chiasm',
  opticchiasma: 'Chiasm',
  chiasmoptic: 'Chiasm',
  mandible: 'Mandible',
  bonemandible: 'Mandible',
  mandibula: 'Mandible',
  opticnerve: 'OpticNerve',
  opticnrv: 'OpticNerve',
  nerveoptic: 'OpticNerve',
  opticn: 'OpticNerve',
  parotid: 'Parotid',
  parotidgland: 'Parotid',
  glndparotid: 'Parotid',
  glandparotid: 'Parotid',
  submandibular: 'Submandibular',
  submandibulargland: 'Submandibular',
  glndsubmand: 'Submandibular',
  glandsubmandibular: 'Submandibular',
  glndsubmandibular: 'Submandibular',
  submand: 'Submandibular',
  submandgland: 'Submandibular',
};

const LEFT = new Set(['l', 'lt', 'left', 'lft', 'sin']);
const RIGHT = new Set(['r', 'rt', 'right', 'rgt', 'dx']);

/** Tokens that mark a planning or helper structure, never an organ outline. */
const PLANNING_TOKENS = new Set([
  'prv', 'ptv', 'ctv', 'gtv', 'itv', 'avoid', 'avd', 'opt', 'ring', 'exp', 'expand', 'expanded', 'margin',
  'dose', 'planning', 'plan', 'block', 'hot', 'cold', 'minus', 'plus', 'crop', 'cropped', 'help', 'helper',
  'temp', 'tmp', 'dummy', 'z', 'zz', 'x', 'xx', 'do', 'not', 'use', 'old', 'nos', 'ev', 'eval', 'wire',
]);

/** Split a raw name into lower-case tokens: camelCase, separators, and digit/letter boundaries split. */
export function nameTokens(raw: string): string[] {
  const spaced = raw
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .replace(/([A-Za-z])(\d)/g, '$1 $2')
    .replace(/(\d)([A-Za-z])/g, '$1 $2');
  return spaced.toLowerCase().split(/[^a-z0-9]+/).filter((t) => t.length > 0);
}

/** Whether a name is a planning/helper structure (PRV, PTV, margin, avoidance, z_ prefix...). */
export function isPlanningStructure(raw: string): boolean {
  const s = raw.trim();
  if (/[+]/.test(s)) return true; // Brainstem+3mm, Parotid+5
  if (/^[zx_]/i.test(s) && /^([zx]{1,2}[_\s-]|_)/i.test(s)) return true; // z_Mandible, _Parotid, xx Cord
  if (/\d\s*mm\b/i.test(s) || /\d+\s*cm\b/i.test(s)) return true; // Brainstem_3mm
  const toks = nameTokens(s);
  if (toks.some((t) => PLANNING_TOKENS.has(t))) return true;
  const words = s.toLowerCase().split(/[^a-z0-9]+/);
  if ([...toks, ...words].some((t) => /^(prv|ptv|ctv|gtv|itv)[a-z0-9]*$/.test(t))) return true;
  return false;
}

/**
 * Map one raw structure name with the built-in table.
 * @example mapName('Parotid-Lt') -> {organ: 'Parotid_L', status: 'mapped'}
 * @example mapName('PRV_Brainstem') -> {organ: null, status: 'planning'}
 * @example mapName('Parotid') -> {organ: null, status: 'ambiguous'}
 */
export function mapName(raw: string, overrides?: NameOverrides): NameMapping {
  if (overrides) {
    const o = lookupOverride(raw, overrides);
    if (o !== undefined) {
      return o === null
        ? { organ: null, status: 'ignored', reason: 'ignored by the names file' }
        : { organ: o, status: 'override', reason: '' };
    }
  }
  if (isPlanningStructure(raw)) return { organ: null, status: 'planning', reason: 'planning or helper structure' };
  const toks = nameTokens(raw);
  let side: 'L' | 'R' | null = null;
  const rest: string[] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    if (LEFT.has(t) || RIGHT.has(t)) {
      const s = LEFT.has(t) ? 'L' : 'R';
      if (side !== null && side !== s) return { organ: null, status: 'ambiguous', reason: 'both sides named' };
      side = s;
    } else {
      rest.push(t);
    }
  }
  const family = BASES[rest.join('')];
  if (!family) return { organ: null, status: 'unknown', reason: 'not an organ of the nine' };
  const sided = family === 'OpticNerve' || family === 'Parotid' || family === 'Submandibular';
  if (sided && side === null) return { organ: null, status: 'ambiguous', reason: 'paired organ without a side' };
  if (!sided && side !== null) return { organ: null, status: 'ambiguous', reason: 'unpaired organ named with a side' };
  const key = (sided ? `${family}_${side}` : family) as OrganKey;
  return { organ: key, status: 'mapped', reason: '' };
}

function normKey(s: string): string {
  return s.trim().toLowerCase().replace(/\s+/g, ' ');
}

function lookupOverride(raw: string, overrides: NameOverrides): OrganKey | null | undefined {
  if (overrides.has(raw)) return overrides.get(raw);
  const k = normKey(raw);
  for (const [name, organ] of overrides) if (normKey(name) === k) return organ;
  return undefined;
}

/** A names file: overrides for every case, and sections that apply to one case only. */
export interface NamesFile {
  all: NameOverrides;
  /** By case key (a case id, a PDDCA folder name or a CT SeriesInstanceUID, as in the crop file). */
  byCase: Map<string, NameOverrides>;
}

function parseOverrideEntries(entries: [string, unknown][], path: string, where: string): NameOverrides {
  const out = new Map<string, OrganKey | null>();
  for (const [raw, v] of entries) {
    if (v === null || (typeof v === 'string' && v.trim().toLowerCase() === 'ignore')) {
      out.set(raw, null);
      continue;
    }
    const organ: Organ | undefined = typeof v === 'string' || typeof v === 'number' ? findOrgan(v) : undefined;
    if (!organ) {
      throw new CurationInputError(path, `${where}entry "${raw}": ${JSON.stringify(v)} is not one of ${ORGANS.map((o) => o.key).join(', ')} or "ignore"`);
    }
    out.set(raw, organ.key);
  }
  return out;
}

/**
 * Parse a names file: a JSON object `{ "<raw name>": "<organ>" | "ignore" | null }`, where organ is a key
 * (Parotid_L), a TG-263 name (Glnd_Submand_L) or a label index 1..9; an entry whose value is itself
 * such an object applies to one case, named by its key: `{ "hn_0007": { "Parotid L": "Parotid_R" } }`
 * (e.g. a case whose sides were swapped, or `"ignore"` for a contour the annotation checks flagged,
 * which makes that organ not annotated there). A case's own entries win over the others.
 * @throws CurationInputError naming the file and the bad entry.
 */
export function parseNamesFile(text: string, path = 'names file'): NamesFile {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new CurationInputError(path, `not valid JSON (${(e as Error).message})`);
  }
  const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (!isObject(obj)) {
    throw new CurationInputError(path, 'expected a JSON object mapping raw names to organs or "ignore" (or a case to such an object)');
  }
  const entries = Object.entries(obj);
  const byCase = new Map(entries.filter(([, v]) => isObject(v)).map(([key, v]) => [key, parseOverrideEntries(Object.entries(v as object), path, `case "${key}": `)]));
  return { all: parseOverrideEntries(entries.filter(([, v]) => !isObject(v)), path, ''), byCase };
}

/** The overrides for one case: everyone's, less those its own entries name (however spelt), then its own. */
export function caseOverrides(all: NameOverrides, own: NameOverrides | undefined): NameOverrides {
  if (!own?.size) return all;
  const mine = new Set([...own.keys()].map(normKey));
  return new Map([...[...all].filter(([name]) => !mine.has(normKey(name))), ...own]);
}

/**
 * A DICOM SEG segment's mapping: by its label as any name; when the label is no organ of the nine nor a
 * planning or helper structure ("Segment_1", another language), by what its SNOMED CT codes call it.
 */
export function mapSegmentName(label: string, codedName: string | undefined, overrides?: NameOverrides): NameMapping {
  const byLabel = mapName(label, overrides);
  if (byLabel.status !== 'unknown' || !codedName) return byLabel;
  const byCodes = mapName(codedName, overrides);
  return byCodes.organ ? { ...byCodes, reason: `by its SNOMED CT codes: ${codedName}` } : byLabel;
}

/** A raw structure name; a DICOM SEG segment's also carries what its SNOMED CT codes call it. */
export interface RawStructureName {
  name: string;
  codedName?: string;
}

/** One row of the names report: a raw name (with its codes' name), how many cases carry it, what it mapped to. */
export interface NameReportRow {
  name: string;
  codedName?: string;
  cases: number;
  organ: OrganKey | null;
  status: NameStatus;
  reason: string;
}

/**
 * Build the names report from the raw names seen per case (a case counts once per name). A SEG segment's
 * name is mapped as curation maps it ({@link mapSegmentName}): a label that names nothing is reported with
 * what its codes call it (and mapped by them), the same label over other codes in another row.
 * Rows sorted by name, then coded name (code-unit order) for byte-stable output.
 */
export function namesReport(namesPerCase: Iterable<Iterable<string | RawStructureName>>, overrides?: NameOverrides): NameReportRow[] {
  const rows = new Map<string, { raw: RawStructureName; cases: number }>();
  for (const names of namesPerCase) {
    const inCase = new Map<string, RawStructureName>();
    for (const n of names) {
      // the codes only matter (and only make another row) where the label alone names nothing
      const raw = typeof n === 'string' || mapName(n.name, overrides).status !== 'unknown' ? { name: typeof n === 'string' ? n : n.name } : n;
      inCase.set(JSON.stringify([raw.name, raw.codedName ?? null]), raw);
    }
    for (const [key, raw] of inCase) rows.set(key, { raw, cases: (rows.get(key)?.cases ?? 0) + 1 });
  }
  return [...rows.values()]
    .sort((a, b) => compareStrings(a.raw.name, b.raw.name) || compareStrings(a.raw.codedName ?? '', b.raw.codedName ?? ''))
    .map(({ raw, cases }) => ({
      name: raw.name,
      ...(raw.codedName !== undefined ? { codedName: raw.codedName } : {}),
      cases,
      ...mapSegmentName(raw.name, raw.codedName, overrides),
    }));
}

/** Locale-independent string order, for deterministic outputs. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
