/**
 * Experiment definitions (experiments/<gridName>.json): the figure a grid belongs to, its row keys and
 * labels, and the profiles it can run under. The report needs them to name rows and to name the cells
 * that are missing from the database.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIGURE_ORDER = ['fig3', 'fig4', 'fig5', 'fig6', 'table1'] as const;

export interface ExperimentRow {
  key: string;
  label: string;
}

export interface ExperimentDef {
  /** Grid name without profile, e.g. `fig3-pooling`. */
  name: string;
  /** `fig3` | `fig4` | `fig5` | `fig6` | `table1`, or another id for grids outside the paper. */
  figure: string;
  title: string;
  description: string;
  rows: ExperimentRow[];
  /** The row the others are compared with, case by case (the paper's configuration); the first row by default. */
  reference: string;
  profiles: string[];
}

export class ReportInputError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'ReportInputError';
  }
}

/** Parses one definition; throws ReportInputError naming the file when the shape is wrong. */
export function parseExperimentDef(file: string, json: unknown): ExperimentDef {
  const o = json as Record<string, unknown>;
  if (!o || typeof o !== 'object') throw new ReportInputError(file, 'not a JSON object');
  if (typeof o.name !== 'string' || !o.name) throw new ReportInputError(file, '"name" is not a string');
  if (!Array.isArray(o.rows)) throw new ReportInputError(file, '"rows" is not an array');
  const rows = o.rows.map((r: any, i: number) => {
    if (typeof r?.key !== 'string' || !r.key) throw new ReportInputError(file, `rows[${i}].key is not a string`);
    return { key: r.key, label: typeof r.label === 'string' ? r.label : r.key };
  });
  if (o.reference !== undefined && !rows.some((r) => r.key === o.reference)) throw new ReportInputError(file, `"reference" ${JSON.stringify(o.reference)} is not a row key`);
  return {
    name: o.name,
    figure: typeof o.figure === 'string' ? o.figure : o.name,
    title: typeof o.title === 'string' ? o.title : o.name,
    description: typeof o.description === 'string' ? o.description : '',
    rows,
    reference: typeof o.reference === 'string' ? o.reference : (rows[0]?.key ?? ''),
    profiles: o.profiles && typeof o.profiles === 'object' ? Object.keys(o.profiles).sort() : [],
  };
}

/** Every `*.json` definition in `dir`, sorted by figure order then name. */
export function readExperimentDefs(dir: string): ExperimentDef[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch (e) {
    throw new ReportInputError(dir, `cannot list experiment definitions (${(e as Error).message})`);
  }
  const defs = names.map((f) => {
    const file = join(dir, f);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ReportInputError(file, `not valid JSON (${(e as Error).message})`);
    }
    return parseExperimentDef(file, json);
  });
  return defs.sort((a, b) => figureRank(a.figure) - figureRank(b.figure) || a.name.localeCompare(b.name));
}

export function figureRank(figure: string): number {
  const i = (FIGURE_ORDER as readonly string[]).indexOf(figure);
  return i < 0 ? FIGURE_ORDER.length : i;
}

/** Splits `fig3-pooling@smoke` into name and profile ('' when the grid has no profile suffix). */
export function parseGridName(grid: string): { name: string; profile: string } {
  const at = grid.lastIndexOf('@');
  return at < 0 ? { name: grid, profile: '' } : { name: grid.slice(0, at), profile: grid.slice(at + 1) };
}

/** `full` first, then `smoke`, then the others alphabetically. */
export function preferredProfile(profiles: readonly string[]): string | undefined {
  const rank = (p: string) => (p === 'full' ? 0 : p === 'smoke' ? 1 : 2);
  return [...profiles].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))[0];
}
