import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resultsCsv } from './csv';
import type { ReportModel } from './model';
import type { FigureModel } from './shape';
import { summarize } from './stats';

const PYTHON = '/usr/bin/python3';
const hasPython = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import csv']).status === 0;

/**
 * A figure with one row (two seed replicates) whose label needs quoting, two organs (the brainstem's two
 * contours checked, one flagged; the mandible's from before the checks), and an undefined SD.
 */
function model(): ReportModel {
  const s = (values: number[]) => summarize(values);
  const row = {
    key: 'se-residual-concat', label: 'SE residual, "concat"\nnew line', runIds: ['r1', 'r2'], meanDsc: NaN, seedSd: 0.75, cases: 1,
    organs: { BrainStem: { dsc: s([80]), hd95Mm: s([Infinity]), surfaceDice: s([90]), meanSurfaceDistanceMm: s([1.25]), contours: { checked: 2, flagged: 1 } }, Mandible: { dsc: s([70]), hd95Mm: s([3]), surfaceDice: s([80]), meanSurfaceDistanceMm: s([1]), contours: { checked: 0, flagged: 0 } } },
  };
  const figure = { figure: 'fig4', grid: 'fig4-architecture@full', rows: [row], paired: [] } as unknown as FigureModel;
  return { figures: [figure] } as unknown as ReportModel;
}

describe('resultsCsv', () => {
  it('quotes fields with commas, quotes and line breaks; leaves undefined values empty; writes infinity as inf', () => {
    const text = resultsCsv(model());
    const lines = text.split('\r\n');
    expect(lines[0].endsWith(',dsc_seed_sd,contours_checked,contours_flagged')).toBe(true);
    expect(lines[1]).toBe('fig4,fig4-architecture@full,se-residual-concat,"SE residual, ""concat""\nnew line",r1 r2,BrainStem,1,80,,,,1,90,,1.25,,2,1');
    expect(lines[2].endsWith(',Mandible,1,70,,3,,0,80,,1,,,')).toBe(true);
  });

  it.skipIf(!hasPython)('reads back with Python\'s csv module, field for field', () => {
    const parsed = JSON.parse(execFileSync(PYTHON, ['-c', 'import csv, io, json, sys; print(json.dumps(list(csv.reader(io.StringIO(sys.stdin.read(), newline="")))))'], { input: resultsCsv(model()), encoding: 'utf8' }));
    expect(parsed).toHaveLength(4);
    expect(parsed[1][3]).toBe('SE residual, "concat"\nnew line');
    // the Mean line's contours: over the organs that were checked
    expect(parsed[3]).toEqual(['fig4', 'fig4-architecture@full', 'se-residual-concat', 'SE residual, "concat"\nnew line', 'r1 r2', 'Mean', '1', '', '', '', '', '', '', '', '', '0.75', '2', '1']);
  });
});
