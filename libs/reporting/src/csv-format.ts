/**
 * CSV as RFC 4180 has it, for the tables this project writes and reads back (the report's results.csv,
 * `evaluate`'s metrics.csv): CRLF lines, a field quoted when it holds a comma, a quote or a line break.
 * Numbers to 6 decimals; an empty field is undefined (NaN), `inf`/`-inf` an infinite distance.
 */

export type CsvValue = string | number | null | undefined;

function field(v: CsvValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(Number(v.toFixed(6))) : Number.isNaN(v) ? '' : v > 0 ? 'inf' : '-inf';
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** The rows (the header first) as CSV text. */
export const csvText = (rows: readonly (readonly CsvValue[])[]): string => rows.map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';

/** A number as {@link csvText} writes it: empty is NaN, `inf`/`-inf` infinite; anything else not a number is NaN too. */
export const csvNumber = (v: string): number => (v === '' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v));

/** CSV text as rows of fields (quoted fields unquoted, CRLF or LF lines, blank lines dropped); throws on a quote left open. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], cur = '', quoted = false, i = 0;
  const endRow = () => {
    row.push(cur);
    if (row.length > 1 || row[0] !== '') rows.push(row);
    row = [];
    cur = '';
  };
  while (i < text.length) {
    const c = text[i];
    // the characters this step consumes
    let step = 1;
    if (quoted) {
      if (c !== '"') cur += c;
      else if (text[i + 1] === '"') {
        cur += '"';
        step = 2;
      } else quoted = false;
    } else if (c === '"' && cur === '') quoted = true;
    else if (c === ',') {
      row.push(cur);
      cur = '';
    } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      endRow();
      step = c === '\r' ? 2 : 1;
    } else cur += c;
    i += step;
  }
  if (quoted) throw new SyntaxError('CSV: a quoted field is not closed');
  if (cur !== '' || row.length) endRow();
  return rows;
}
