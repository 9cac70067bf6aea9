/**
 * Grid cell keys of a row's several runs: seed replicates (`grid --replicates`: `ROW`, `ROW#2` ...
 * `ROW#N`) and cross-validation folds (`grid --folds K`: `ROW/fold1of5` ... `ROW#2/fold5of5`). `#` and `/`
 * are not allowed in a grid file's row keys. The trainer plans them; the report and `status` group them back.
 */

/** A cross-validation fold: `index` of `k`. */
export interface CellFold {
  index: number;
  k: number;
}

/** The cell key of a row's replicate: the row key for the first, `<row>#<r>` after it. */
export const replicateKey = (row: string, replicate: number) => (replicate === 1 ? row : `${row}#${replicate}`);

/** The cell key of a row's replicate and, for cross-validation, fold: `<row>[#<r>]/fold<i>of<k>`. */
export const cellKey = (row: string, replicate: number, fold?: CellFold) => `${replicateKey(row, replicate)}${fold ? `/fold${fold.index}of${fold.k}` : ''}`;

/** The row, replicate and fold of a cell key (`pool1#3` -> pool1, 3; `pool1/fold2of5` -> pool1, 1, fold 2 of 5; `pool1` -> pool1, 1). */
export function parseReplicateKey(key: string): { row: string; replicate: number; fold?: CellFold } {
  const f = /^(.+)\/fold([1-9]\d*)of([1-9]\d*)$/.exec(key);
  const rest = f ? f[1]! : key;
  const fold = f ? { fold: { index: Number(f[2]), k: Number(f[3]) } } : {};
  const m = /^(.+)#([1-9]\d*)$/.exec(rest);
  return m ? { row: m[1]!, replicate: Number(m[2]), ...fold } : { row: rest, replicate: 1, ...fold };
}

/** Cells grouped under their grid row, in order of first appearance, each row's cells by replicate, then fold. */
export function cellsByRow<C extends { key: string }>(cells: readonly C[]): Map<string, C[]> {
  const rows = new Map<string, C[]>();
  for (const c of cells) {
    const { row } = parseReplicateKey(c.key);
    rows.set(row, [...(rows.get(row) ?? []), c]);
  }
  const order = (key: string) => {
    const p = parseReplicateKey(key);
    return p.replicate * 1000 + (p.fold?.index ?? 0);
  };
  for (const cs of rows.values()) cs.sort((a, b) => order(a.key) - order(b.key));
  return rows;
}

/**
 * How a row's runs (their cell keys) came about, for labels: `3 seeds`, `5 folds`, `2 seeds × 5 folds`,
 * or `N runs` when some are folds and some are not.
 */
export function runsDescription(keys: readonly string[]): string {
  const parts = keys.map(parseReplicateKey);
  const folds = parts.filter((p) => p.fold);
  if (!folds.length) return `${keys.length} seed${keys.length === 1 ? '' : 's'}`;
  if (folds.length < parts.length) return `${keys.length} runs`;
  const seeds = new Set(parts.map((p) => p.replicate)).size;
  const foldCount = new Set(parts.map((p) => p.fold!.index)).size;
  if (seeds * foldCount !== keys.length) return `${keys.length} runs`;
  return seeds > 1 ? `${seeds} seeds × ${foldCount} folds` : `${foldCount} folds`;
}

/** A cell's own part of a label: `seed replicate 2`, `fold 3 of 5`, both, or '' for a row's plain cell. */
export function cellRunLabel(key: string): string {
  const p = parseReplicateKey(key);
  return [p.replicate > 1 ? `seed replicate ${p.replicate}` : '', p.fold ? `fold ${p.fold.index} of ${p.fold.k}` : ''].filter(Boolean).join(', ');
}
