/**
 * Test fixture: a tiny experiments grid (the experiments/*.json format) whose `smoke` profile trains a
 * small network for one or two epochs on writeTinyDataset's cases, so a grid cell takes seconds on a CPU.
 */
import { writeFileSync } from 'node:fs';
import type { GridFile, GridRow } from '../grid';

/** A small model and a short schedule: what every tiny grid cell shares. */
export const TINY_GRID_BASE = {
  seed: 3,
  model: { filters: [4, 6], blocksPerStage: 1, block: 'residual', seRatio: 2, outputUpFilters: 4, outputFilters: 4 },
  loss: { name: 'dice+ce', lambda: 0.5 },
  data: { huWindow: { lo: -200, hi: 1300 }, augment: null },
  validateEveryEpochs: 1,
};

/** Default rows: two seeds, a second loss; each row is a cell. */
export const TINY_GRID_ROWS: GridRow[] = [
  { key: 'seed3', label: 'seed 3', override: {} },
  { key: 'seed4', label: 'seed 4', override: { seed: 4 } },
  { key: 'dice', label: 'Dice loss', override: { loss: { name: 'dice' } } },
];

/** The grid as data: `full` would be the paper's schedule, `smoke` one RMSprop epoch and one SGD epoch. */
export function tinyGrid(name = 'tiny-grid', rows: GridRow[] = TINY_GRID_ROWS): GridFile {
  return {
    name,
    figure: 'fig3',
    title: 'Tiny grid (tests)',
    base: TINY_GRID_BASE,
    profiles: {
      full: { schedule: { rmspropEpochs: 150, rmspropLr: 0.002, sgdEpochs: 50, sgdLr: 0.001, momentum: 0.9 } },
      smoke: { schedule: { rmspropEpochs: 1, rmspropLr: 0.002, sgdEpochs: 1, sgdLr: 0.001, momentum: 0.9 } },
    },
    rows,
  };
}

/** Writes `tinyGrid(name, rows)` to `file` and returns the file. */
export function writeTinyGrid(file: string, name?: string, rows?: GridRow[]): string {
  writeFileSync(file, `${JSON.stringify(tinyGrid(name, rows), null, 1)}\n`);
  return file;
}
