/**
 * Grid cell keys of seed replicates: a row trained N times has cells `ROW`, `ROW#2` ... `ROW#N` (`#` is
 * not allowed in a grid file's row keys). The trainer plans them; the report and `status` group them back.
 */

/** The cell key of a row's replicate: the row key for the first, `<row>#<r>` after it. */
export const replicateKey = (row: string, replicate: number) => (replicate === 1 ? row : `${row}#${replicate}`);

/** The row and replicate of a cell key (`pool1#3` -> pool1, 3; `pool1` -> pool1, 1). */
export function parseReplicateKey(key: string): { row: string; replicate: number } {
  const m = /^(.+)#([1-9]\d*)$/.exec(key);
  return m ? { row: m[1]!, replicate: Number(m[2]) } : { row: key, replicate: 1 };
}

/** Cells grouped under their grid row, in order of first appearance, each row's cells by replicate. */
export function cellsByRow<C extends { key: string }>(cells: readonly C[]): Map<string, C[]> {
  const rows = new Map<string, C[]>();
  for (const c of cells) {
    const { row } = parseReplicateKey(c.key);
    rows.set(row, [...(rows.get(row) ?? []), c]);
  }
  for (const cs of rows.values()) cs.sort((a, b) => parseReplicateKey(a.key).replicate - parseReplicateKey(b.key).replicate);
  return rows;
}
