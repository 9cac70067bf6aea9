import { expect, test } from 'vitest';
import { summariseEvaluation, type DatasetEvaluation } from './evaluate-dataset';
import type { OrganResult } from './evaluate';

const row = (organ: string, label: number, dsc: number, hd95Mm: number): OrganResult => ({ organ, label, dsc, hd95Mm, surfaceDice: dsc, meanSurfaceDistanceMm: 1, tp: 1, fp: 0, fn: 0 });

test('summariseEvaluation: per organ in label order, over the cases that annotate it; infinite HD95 counted apart', () => {
  const ev: DatasetEvaluation = {
    dataset: 'd', manifestDigest: 'x', split: 'all', seen: [], excludedSeen: false, seenUnknown: [], annotationFindings: [], excludedFlagged: false, mirror: false, tile: null,
    cases: [
      { caseId: 'a', rows: [row('Mandible', 3, 0.8, 4), row('BrainStem', 1, 0.6, 10)] },
      { caseId: 'b', rows: [row('BrainStem', 1, 0.8, Infinity)] },
      { caseId: 'c', rows: [], error: 'cannot read' },
    ],
  };
  const s = summariseEvaluation(ev);
  expect(s.map((o) => o.organ)).toEqual(['BrainStem', 'Mandible']);
  expect(s[0]).toMatchObject({ n: 2, hd95MeanMm: 10, hd95Infinite: 1 });
  expect(s[0].dscMean).toBeCloseTo(0.7, 12);
  expect(s[0].dscSd).toBeCloseTo(Math.SQRT2 * 0.1, 12);
  expect(s[1]).toMatchObject({ n: 1, dscMean: 0.8, hd95MeanMm: 4, hd95Infinite: 0 });
  expect(s[1].dscSd).toBeNaN();
});
