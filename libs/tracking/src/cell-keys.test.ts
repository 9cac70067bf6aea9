import { describe, expect, it } from 'vitest';
import { cellsByRow, parseReplicateKey, replicateKey } from './cell-keys';

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
});
