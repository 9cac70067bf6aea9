import { describe, expect, it } from 'vitest';
import { cellKey, cellRunLabel, cellsByRow, parseReplicateKey, replicateKey, runsDescription } from './cell-keys';

describe('seed replicate cell keys', () => {
  it('round-trip, and group cells under their rows in order of appearance, each row by replicate', () => {
    expect(parseReplicateKey(replicateKey('pool1', 3))).toEqual({ row: 'pool1', replicate: 3 });
    expect(replicateKey('pool1', 1)).toBe('pool1');
    const cells = ['pool2#2', 'pool1#10', 'pool1', 'pool2', 'pool1#2'].map((key) => ({ key }));
    expect([...cellsByRow(cells)].map(([row, cs]) => [row, cs.map((c) => c.key)])).toEqual([
      ['pool2', ['pool2', 'pool2#2']],
      ['pool1', ['pool1', 'pool1#2', 'pool1#10']],
    ]);
  });

  it('cross-validation folds: round-trip with and without a replicate, grouped under the row, described for labels', () => {
    expect(cellKey('pool1', 1, { index: 2, k: 5 })).toBe('pool1/fold2of5');
    expect(cellKey('pool1', 3, { index: 5, k: 5 })).toBe('pool1#3/fold5of5');
    expect(cellKey('pool1', 3)).toBe('pool1#3');
    expect(parseReplicateKey('pool1#3/fold5of5')).toEqual({ row: 'pool1', replicate: 3, fold: { index: 5, k: 5 } });
    expect(parseReplicateKey('dice+focal-0.5/fold1of10')).toEqual({ row: 'dice+focal-0.5', replicate: 1, fold: { index: 1, k: 10 } });
    const cells = ['pool1#2/fold1of2', 'pool1/fold2of2', 'pool1/fold1of2', 'pool1#2/fold2of2'].map((key) => ({ key }));
    expect([...cellsByRow(cells)].map(([row, cs]) => [row, cs.map((c) => c.key)])).toEqual([['pool1', ['pool1/fold1of2', 'pool1/fold2of2', 'pool1#2/fold1of2', 'pool1#2/fold2of2']]]);
    expect(runsDescription(['pool1', 'pool1#2', 'pool1#3'])).toBe('3 seeds');
    expect(runsDescription(['pool1/fold1of2', 'pool1/fold2of2'])).toBe('2 folds');
    expect(runsDescription(cells.map((c) => c.key))).toBe('2 seeds × 2 folds');
    expect(runsDescription(['pool1', 'pool1/fold1of2'])).toBe('2 runs');
    expect(cellRunLabel('pool1#2/fold1of2')).toBe('seed replicate 2, fold 1 of 2');
    expect(cellRunLabel('pool1')).toBe('');
  });
});
