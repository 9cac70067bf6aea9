import { expect, test } from 'vitest';
import { demoSteps } from './steps';

test('a grid name with rows becomes the trainer\'s FILE:ROWS argument', () => {
  const s = demoSteps({ out: '/o', cases: 32, seed: 1, profile: 'smoke', grids: ['fig6-final:anatomynet', 'fig3-pooling'], workers: 2 });
  expect(s[4].args.slice(0, 3)).toEqual(['grid', 'experiments/fig6-final.json:anatomynet', 'experiments/fig3-pooling.json']);
});

test('the demo runs synth, curate, validate, the annotation review, the smoke grids of Figures 3 and 5, then the report', () => {
  const s = demoSteps({ out: '/o', cases: 12, seed: 1, profile: 'smoke', grids: ['fig3-pooling', 'fig5-losses'], workers: 2 });
  expect(s.map((x) => `${x.app} ${x.args[0]}`)).toEqual(['curator synth', 'curator curate', 'curator validate', 'curator review', 'trainer grid', 'report --db', 'trainer status']);
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
