/**
 * A cohort with damaged files (seeded: CT slices, structure sets and PDDCA masks with bits flipped,
 * length words set to extremes, cut short): curation finishes, accounts for every input file, names each
 * case it cannot curate with a reason, and what it publishes validates.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '@anatomynet/random';
import { mutate } from '@anatomynet/data/testing';
import { curateCohort } from './cohort';
import { NothingToPublishError } from './errors';
import { validateDataset } from './validate';
import { headNeckPhantom, writeDicomCase, writePddcaCase } from './testing/phantom';

const root = mkdtempSync(join(tmpdir(), 'curation-mutation-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const filesUnder = (dir: string): string[] =>
  readdirSync(dir).sort().flatMap((e) => (statSync(join(dir, e)).isDirectory() ? filesUnder(join(dir, e)) : [join(dir, e)]));

describe('curation of a cohort with damaged files', () => {
  it.each([1, 2, 3])('seed %i: finishes, accounts for every file, names each failed case, publishes a valid dataset', async (seed) => {
    const input = join(root, `in-${seed}`);
    for (let c = 0; c < 3; c++) writeDicomCase(join(input, `PAT-${c}`), headNeckPhantom(seed * 10 + c), { patientId: `PAT-${c}`, uidSeed: `s${seed}c${c}` });
    writePddcaCase(join(input, '0522c0001'), headNeckPhantom(seed * 10 + 5));
    const files = filesUnder(input);
    const rng = mulberry32(seed);
    const damaged = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const f = files[Math.floor(rng() * files.length)];
      writeFileSync(f, mutate(readFileSync(f), rng).bytes);
      damaged.add(f);
    }
    let result;
    try {
      result = await curateCohort({ inputs: [input], outDir: join(root, `out-${seed}`) });
    } catch (e) {
      // every case damaged beyond use is the one acceptable stop, and it says so
      expect(e).toBeInstanceOf(NothingToPublishError);
      return;
    }
    expect(result.manifest.inputs.files).toBe(files.length);
    expect(result.manifest.inputs.used + result.manifest.inputs.skipped).toBe(files.length);
    for (const f of result.failed) expect(f.reason.length, f.caseId).toBeGreaterThan(0);
    expect(result.curated.length + result.failed.length).toBeGreaterThan(0);
    const report = await validateDataset(join(root, `out-${seed}`));
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  }, 120_000);
});
