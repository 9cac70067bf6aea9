import { describe, expect, it } from 'vitest';
import { parseExperimentDef, parseGridName, preferredProfile, ReportInputError } from './experiments';
import { reportOrgan, REPORT_ORGANS } from './organs';
import { ORGANS } from './published';
import { num, meanSd, scriptJson, esc } from './render-util';
import { quantileSorted, summarize } from './stats';

describe('summarize', () => {
  it('gives mean, sample SD and quantiles of finite values, counting NaN and infinity apart', () => {
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9, NaN, Infinity, -Infinity]);
    expect(s).toMatchObject({ n: 8, nMissing: 1, nInfinite: 2, mean: 5, min: 2, max: 9, median: 4.5 });
    expect(s.sd).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(s.q1).toBe(4);
    expect(s.q3).toBeCloseTo(5.5, 12);
  });
  it('is NaN, not 0, when nothing is finite', () => {
    const s = summarize([NaN, Infinity]);
    expect(s.n).toBe(0);
    expect(s.mean).toBeNaN();
    expect(summarize([3]).sd).toBeNaN();
    expect(quantileSorted([], 0.5)).toBeNaN();
  });
});

describe('organ names', () => {
  it('maps every PDDCA key to the TG-263 name used by the published numbers, in label order', () => {
    expect(REPORT_ORGANS.map((o) => o.tg263)).toEqual([...ORGANS]);
    expect(REPORT_ORGANS.map((o) => o.label)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(reportOrgan('Glnd_Submand_L')?.key).toBe('Submandibular_L');
    expect(reportOrgan('Chiasm')?.tg263).toBe('OpticChiasm');
  });
});

describe('experiment definitions', () => {
  it('parses rows and profiles, and names the file on bad input', () => {
    const d = parseExperimentDef('e.json', { name: 'g', figure: 'fig3', rows: [{ key: 'a', label: 'A' }, { key: 'b' }], profiles: { smoke: {}, full: {} } });
    expect(d.rows).toEqual([{ key: 'a', label: 'A' }, { key: 'b', label: 'b' }]);
    expect(d.profiles).toEqual(['full', 'smoke']);
    expect(() => parseExperimentDef('e.json', { name: 'g', rows: [{}] })).toThrow(ReportInputError);
    expect(() => parseExperimentDef('e.json', { name: 'g' })).toThrow(/e\.json: "rows" is not an array/);
  });
  it('splits grid names and prefers full, then smoke', () => {
    expect(parseGridName('fig3-pooling@smoke')).toEqual({ name: 'fig3-pooling', profile: 'smoke' });
    expect(parseGridName('plain')).toEqual({ name: 'plain', profile: '' });
    expect(preferredProfile(['smoke', 'full', 'x'])).toBe('full');
    expect(preferredProfile(['x', 'smoke'])).toBe('smoke');
    expect(preferredProfile(['b', 'a'])).toBe('a');
    expect(preferredProfile([])).toBeUndefined();
  });
});

describe('render helpers', () => {
  it('escapes HTML and script-breaking JSON, formats non-finite numbers', () => {
    expect(esc('<a href="x">&\'')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
    expect(scriptJson({ s: '</script><b>' })).not.toContain('</script');
    expect(JSON.parse(scriptJson({ s: '</script>' }))).toEqual({ s: '</script>' });
    expect([num(NaN), num(Infinity), num(1.234, 2)]).toEqual(['—', '∞', '1.23']);
    expect(meanSd(summarize([1, 3, Infinity]))).toContain('+1×∞');
    expect(meanSd(summarize([NaN]))).toContain('—');
  });
});
