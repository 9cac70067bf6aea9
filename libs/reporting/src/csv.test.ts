import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resultsCsv } from './csv';
import type { ReportModel } from './model';
import type { FigureModel } from './shape';
import { summarize } from './stats';

const PYTHON = '/usr/bin/python3';
const hasPython = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import csv']).status === 0;

/** A figure with one row (two seed replicates) whose label needs quoting, one organ, and an undefined SD. */
function model(): ReportModel {
  const s = (values: number[]) => summarize(values);
  const row = {
    key: 'se-residual-concat', label: 'SE residual, "concat"\nnew line', runIds: ['r1', 'r2'], meanDsc: NaN, seedSd: 0.75, cases: 1,
    organs: { BrainStem: { dsc: s([80]), hd95Mm: s([Infinity]), surfaceDice: s([90]), meanSurfaceDistanceMm: s([1.25]) } },
  };
  const figure = { figure: 'fig4', grid: 'fig4-architecture@full', rows: [row], paired: [] } as unknown as FigureModel;
  return { figures: [figure] } as unknown as ReportModel;
}

describe('resultsCsv', () => {
  it('quotes fields with commas, quotes and line breaks; leaves undefined values empty; writes infinity as inf', () => {
    const text = resultsCsv(model());
    expect(text.split('\r\n')[1]).toBe('fig4,fig4-architecture@full,se-residual-concat,"SE residual, ""concat""\nnew line",r1 r2,BrainStem,1,80,,,,1,90,,1.25,');
  });

  it.skipIf(!hasPython)('reads back with Python\'s csv module, field for field', () => {
    const parsed = JSON.parse(execFileSync(PYTHON, ['-c', 'import csv, io, json, sys; print(json.dumps(list(csv.reader(io.StringIO(sys.stdin.read(), newline="")))))'], { input: resultsCsv(model()), encoding: 'utf8' }));
    expect(parsed).toHaveLength(3);
    expect(parsed[1][3]).toBe('SE residual, "concat"\nnew line');
    expect(parsed[2]).toEqual(['fig4', 'fig4-architecture@full', 'se-residual-concat', 'SE residual, "concat"\nnew line', 'r1 r2', 'Mean', '1', '', '', '', '', '', '', '', '', '0.75']);
  });
});
