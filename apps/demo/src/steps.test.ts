import { expect, test } from 'vitest';
import { demoSteps } from './steps';

test('a grid name with rows becomes the trainer\'s FILE:ROWS argument', () => {
  const s = demoSteps({ out: '/o', cases: 32, seed: 1, profile: 'smoke', grids: ['fig6-final:anatomynet', 'fig3-pooling'], workers: 2 });
  expect(s[4].args.slice(0, 3)).toEqual(['grid', 'experiments/fig6-final.json:anatomynet', 'experiments/fig3-pooling.json']);
});

test('the cohort has cases annotated by DICOM SEG and CTs stored as Enhanced CT; with the final model trained, a new patient is segmented into NIfTI, RTSTRUCT and SEG', () => {
  const s = demoSteps({ out: '/o', cases: 32, seed: 1, profile: 'smoke', grids: ['fig6-final:anatomynet', 'fig3-pooling'], workers: 2 });
  expect(s[0].args).toEqual(['synth', '--out', '/o/raw', '--cases', '32', '--seed', '1', '--seg-cases', '4', '--enhanced-cases', '2', '--overwrite']);
  expect(s.map((x) => `${x.app} ${x.args[0]}`)).toEqual(['curator synth', 'curator curate', 'curator validate', 'curator review', 'trainer grid', 'curator synth', 'trainer segment', 'report --db', 'trainer status']);
  expect(s[5].args).toEqual(['synth', '--out', '/o/new-patient', '--cases', '1', '--seed', '1001', '--pddca-fraction', '0', '--overwrite']);
  expect(s[5].skipIfExists).toBe('/o/new-patient/synth-truth.json');
  expect(s[6].args).toEqual(['segment', '--row-seeds', 'fig6-final@smoke:anatomynet', '--db', '/o/tracking.db', '--input', '/o/new-patient', '--out', '/o/segmentation', '--review']);
  // a grid list without the final model's row has nothing to segment with
  for (const grids of [['fig3-pooling'], ['fig6-final:other']]) {
    expect(demoSteps({ out: '/o', cases: 2, seed: 1, profile: 'smoke', grids, workers: 1 }).map((x) => x.args[0])).not.toContain('segment');
  }
  expect(demoSteps({ out: '/o', cases: 2, seed: 1, profile: 'smoke', grids: ['fig6-final'], workers: 1 })[0].args).not.toContain('--seg-cases');
  expect(demoSteps({ out: '/o', cases: 5, seed: 1, profile: 'smoke', grids: ['fig6-final'], workers: 1 })[0].args).not.toContain('--enhanced-cases');
});

test('the demo runs synth, curate, validate, the annotation review, the smoke grids of Figures 3 and 5, then the report', () => {
  const s = demoSteps({ out: '/o', cases: 12, seed: 1, profile: 'smoke', grids: ['fig3-pooling', 'fig5-losses'], workers: 2 });
  expect(s.map((x) => `${x.app} ${x.args[0]}`)).toEqual(['curator synth', 'curator curate', 'curator validate', 'curator review', 'trainer grid', 'report --db', 'trainer status']);
  expect(s[0].args).toContain('--seg-cases');
  expect(s[3].args).toEqual(['review', '/o/dataset', '--all']);
  expect(s[4].args).toEqual(['grid', 'experiments/fig3-pooling.json', 'experiments/fig5-losses.json', '--profile', 'smoke', '--dataset', '/o/dataset', '--db', '/o/tracking.db', '--workers', '2']);
  expect(s[0].skipIfExists).toBe('/o/raw/synth-truth.json');
  expect(s.at(-2)!.args).toEqual(['--db', '/o/tracking.db', '--dataset', '/o/dataset', '--out', '/o/report']);
  expect(s.at(-1)!.args).toEqual(['status', '--db', '/o/tracking.db']);
});

test('with replicates, two of Figure 3\'s rows are trained again with other seeds before the report', () => {
  const s = demoSteps({ out: '/o', cases: 12, seed: 1, profile: 'smoke', grids: ['fig3-pooling'], workers: 2, replicates: 3 });
  expect(s.map((x) => `${x.app} ${x.args[0]}`)).toEqual(['curator synth', 'curator curate', 'curator validate', 'curator review', 'trainer grid', 'trainer grid', 'report --db', 'trainer status']);
  expect(s[5].args).toEqual(['grid', 'experiments/fig3-pooling.json:pool1,pool2', '--replicates', '3', '--profile', 'smoke', '--dataset', '/o/dataset', '--db', '/o/tracking.db', '--workers', '2']);
  expect(demoSteps({ out: '/o', cases: 12, seed: 1, profile: 'smoke', grids: ['fig3-pooling'], workers: 2, replicates: 1 })).toHaveLength(7);
});
