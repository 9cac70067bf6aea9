import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { csvNumber, csvText, parseCsv } from './csv-format';

const PYTHON = '/usr/bin/python3';
const hasPython = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import csv']).status === 0;

// fields that need quoting: commas, quotes, line breaks, and a field that only looks quoted
const awkward = [
  ['case_id', 'organ', 'dsc', 'hd95_mm'],
  ['HN_01, left', 'Parotid_L', 0.8123456789, Infinity],
  ['say "hi"', 'line\r\nbreak', NaN, -Infinity],
  ['', 'x"y', 1e-7, 3],
];

describe('CSV (RFC 4180)', () => {
  it('reads back what it writes: quoted fields, numbers to 6 decimals, empty for NaN, inf for infinite', () => {
    const rows = parseCsv(csvText(awkward));
    expect(rows).toEqual([
      ['case_id', 'organ', 'dsc', 'hd95_mm'],
      ['HN_01, left', 'Parotid_L', '0.812346', 'inf'],
      ['say "hi"', 'line\r\nbreak', '', '-inf'],
      ['', 'x"y', '0', '3'],
    ]);
    expect(rows.map((r) => csvNumber(r[3]))).toEqual([NaN, Infinity, -Infinity, 3]);
    expect(csvNumber('')).toBeNaN();
    expect(csvNumber('abc')).toBeNaN();
  });

  it('takes LF lines and a last line without a break; refuses a quote left open', () => {
    expect(parseCsv('a,b\n1,"2\n3"\n\n4,5')).toEqual([['a', 'b'], ['1', '2\n3'], ['4', '5']]);
    expect(parseCsv('')).toEqual([]);
    expect(() => parseCsv('a,"b\n1,2')).toThrow(/not closed/);
  });

  it.skipIf(!hasPython)("agrees with Python's csv module both ways", () => {
    const text = csvText(awkward);
    const script = 'import csv, io, json, sys\nt = sys.stdin.read()\nrows = list(csv.reader(io.StringIO(t, newline="")))\nout = io.StringIO(newline="")\ncsv.writer(out).writerows(rows)\nprint(json.dumps([rows, out.getvalue()]))';
    const [rows, rewritten] = JSON.parse(execFileSync(PYTHON, ['-c', script], { input: text, encoding: 'utf8' })) as [string[][], string];
    expect(rows).toEqual(parseCsv(text));
    expect(parseCsv(rewritten)).toEqual(parseCsv(text));
  });
});
