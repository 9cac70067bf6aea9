import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDicomFile, SOP_ENHANCED_CT_IMAGE } from '@anatomynet/data';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../main';
import { runSynth, summarise, type SynthArgs } from './synth';

const root = mkdtempSync(join(tmpdir(), 'curator-synth-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const base: SynthArgs = { out: '', cases: 2, seed: '3', pddcaFraction: 0.5, ffsFraction: 0.15, size: 'small', matrix: 64, sliceMm: 3, overwrite: false, workers: 1, quiet: true };

describe('curator synth', () => {
  it('documents its options in --help', async () => {
    let text = '';
    await main(['synth', '--help'], { output: (t) => (text += t) });
    for (const opt of ['--out', '--cases', '--seed', '--pddca-fraction', '--ffs-fraction', '--size', '--workers', '--overwrite', '--annotation-errors', '--seg-cases', '--enhanced-cases']) expect(text).toContain(opt);
  });

  it('writes the same cohort in child processes as in this process', async () => {
    const one = await runSynth({ ...base, out: join(root, 'one') });
    const two = await runSynth({ ...base, out: join(root, 'two'), workers: 2 });
    expect(one.cases.map((c) => c.format)).toEqual(['dicom', 'pddca']);
    expect(readFileSync(join(root, 'two', 'synth-truth.json'), 'utf8')).toBe(readFileSync(join(root, 'one', 'synth-truth.json'), 'utf8'));
    expect(two.cases.map((c) => c.caseId)).toEqual(one.cases.map((c) => c.caseId));
    expect(readdirSync(join(root, 'two')).sort()).toEqual([...one.cases.map((c) => c.caseId), 'synth-truth.json'].sort());
    expect(summarise(one, join(root, 'one'))).toMatch(/wrote 2 cases .*1 DICOM .*1 PDDCA/);
  });

  it('plants annotation errors in DICOM cases on request and says where', async () => {
    const truth = await runSynth({ ...base, out: join(root, 'errors'), annotationErrors: 1 });
    const planted = truth.cases.filter((c) => c.annotationError);
    expect(planted.map((c) => c.format)).toEqual(['dicom']);
    expect(summarise(truth, join(root, 'errors'))).toContain(`annotation errors planted: ${planted[0]!.caseId} ${planted[0]!.annotationError!.kind} (`);
    await expect(runSynth({ ...base, out: join(root, 'errors-2'), annotationErrors: 2 })).rejects.toThrow(/annotationErrors 2: give a whole number from 0 to the cohort's 1 DICOM cases/);
    expect(existsSync(join(root, 'errors-2'))).toBe(false);
    await expect(runSynth({ ...base, out: join(root, 'errors-3'), annotationErrors: -1 })).rejects.toThrow('--annotation-errors must be a whole number of cases');
  });

  it('writes DICOM cases with a SEG instead of an RTSTRUCT on request and says which', async () => {
    const truth = await runSynth({ ...base, out: join(root, 'seg'), segCases: 1 });
    const seg = truth.cases.filter((c) => c.files.seg);
    expect(seg.map((c) => [c.format, c.files.rtstruct])).toEqual([['dicom', null]]);
    expect(existsSync(join(root, 'seg', seg[0]!.dir, seg[0]!.files.seg!))).toBe(true);
    expect(truth.options.segCases).toBe(1);
    expect(summarise(truth, join(root, 'seg'))).toContain(`annotated by DICOM SEG: ${seg[0]!.caseId}`);
    await expect(runSynth({ ...base, out: join(root, 'seg-2'), segCases: 2 })).rejects.toThrow(/segCases 2: give a whole number from 0 to the cohort's 1 DICOM cases/);
    await expect(runSynth({ ...base, out: join(root, 'seg-3'), segCases: 0.5 })).rejects.toThrow('--seg-cases must be a whole number of cases');
  });

  it('writes DICOM cases whose CT is one Enhanced CT image on request and says which', async () => {
    const truth = await runSynth({ ...base, out: join(root, 'enhanced'), enhancedCases: 1 });
    const enhanced = truth.cases.filter((c) => c.enhancedCt);
    expect(enhanced.map((c) => [c.format, c.files.ct.length])).toEqual([['dicom', 1]]);
    const file = join(root, 'enhanced', enhanced[0]!.dir, enhanced[0]!.files.ct[0]!);
    expect(readDicomFile(file, { pixelData: false }).sopClassUID).toBe(SOP_ENHANCED_CT_IMAGE);
    expect(truth.options.enhancedCases).toBe(1);
    expect(summarise(truth, join(root, 'enhanced'))).toContain(`CT as one Enhanced CT image: ${enhanced[0]!.caseId}`);
    await expect(runSynth({ ...base, out: join(root, 'enhanced-2'), enhancedCases: 0.5 })).rejects.toThrow('--enhanced-cases must be a whole number of cases');
  });

  it('rejects bad options with a message', async () => {
    let text = '';
    try {
      await main(['synth', '--out', join(root, 'bad'), '--cases', '0'], { output: (t) => (text += t) });
    } catch (e) {
      text += (e as Error).message;
    }
    expect(text).toContain('--cases must be a positive integer');
    expect(existsSync(join(root, 'bad'))).toBe(false);
    await expect(runSynth({ ...base, out: join(root, 'bad'), pddcaFraction: 2 })).rejects.toThrow('--pddca-fraction');
  });
});
