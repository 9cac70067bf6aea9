/** The CLI end to end, in child processes as a user runs it (tsx), with two worker processes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { curateCohort } from '@anatomynet/curation';
import { main } from './main';
import { headNeckPhantom, writeDicomCase, writePddcaCase } from '@anatomynet/curation/testing';

const repo = resolve(__dirname, '../../..');
const mainPath = join(repo, 'apps/curator/src/main.ts');
let root: string;

function curator(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', mainPath, ...args], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
}

function tree(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).flatMap((e) => (statSync(join(dir, rel, e)).isDirectory() ? tree(dir, join(rel, e)) : [join(rel, e)])).sort();
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'curator-cli-'));
  writeDicomCase(join(root, 'in', 'A'), headNeckPhantom(1), { patientId: 'PAT-A', uidSeed: 'a' });
  writePddcaCase(join(root, 'in', 'pddca', '0522c0001'), headNeckPhantom(2));
  writePddcaCase(join(root, 'in', 'pddca', '0522c0003'), headNeckPhantom(3));
  writeFileSync(join(root, 'names.json'), JSON.stringify({ Chiasm: 'ignore', OpticChiasm: 'ignore' }));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('curator CLI', () => {
  it('prints help for every command', async () => {
    for (const args of [['--help'], ['synth', '--help'], ['curate', '--help'], ['validate', '--help'], ['review', '--help']]) {
      const out: string[] = [];
      await main(args, { output: (s) => out.push(s) });
      expect(out.join('')).toMatch(args[0] === '--help' ? /curator curate/ : new RegExp(`curator ${args[0]}`));
    }
    const none = curator();
    expect(none.status).not.toBe(0);
    expect(none.stderr).toMatch(/name a command/);
  });

  it('curates with two worker processes, byte-identical to the library in-process, and validates', async () => {
    const r = curator('curate', '--input', join(root, 'in'), '--out', join(root, 'cli'), '--names', join(root, 'names.json'), '--workers', '2');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/curated 3, unchanged 0, failed 0/);
    expect(r.stderr).toMatch(/^dataset version 1$/m);
    expect(r.stderr).toMatch(/^annotation checks \(sides, stray pieces, slices left out, CT numbers, shifts, volumes\): nothing found$/m);
    expect(r.stderr).toMatch(/ETA/);
    await curateCohort({ inputs: [join(root, 'in')], outDir: join(root, 'lib'), namesFile: join(root, 'names.json') });
    expect(tree(join(root, 'cli'))).toEqual(tree(join(root, 'lib')));
    for (const f of tree(join(root, "lib"))) expect(readFileSync(join(root, "cli", f)).equals(readFileSync(join(root, "lib", f))), f).toBe(true);
    const manifest = JSON.parse(readFileSync(join(root, 'cli', 'manifest.json'), 'utf8'));
    expect(manifest.cases.every((c: any) => c.availability.Chiasm === 'not-annotated')).toBe(true);

    const v = curator('validate', join(root, 'cli'));
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^ok: 3 cases/);

    const again = curator('curate', '-i', join(root, 'in'), '-o', join(root, 'cli'), '--names', join(root, 'names.json'), '-q');
    expect(again.stderr).toMatch(/curated 0, unchanged 3/);
    expect(again.stderr).toMatch(/^dataset version 1, unchanged$/m);
    // other name overrides change what is published: the next version
    writeFileSync(join(root, 'names-2.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(root, 'names.json'), 'utf8')), Mandible: 'ignore' }));
    const renamed = curator('curate', '-i', join(root, 'in'), '-o', join(root, 'cli'), '--names', join(root, 'names-2.json'), '-q');
    expect(renamed.status, renamed.stderr).toBe(0);
    expect(renamed.stderr).toMatch(/^dataset version 2 \(was 1\): 0 added, 0 removed, [1-3] changed; splits kept$/m);
  });

  it('lists what the annotation checks find, and a names file section for that case answers it', () => {
    writeDicomCase(join(root, 'swapped', 'S'), headNeckPhantom(4), { patientId: 'PAT-S', uidSeed: 's', names: { Parotid_L: 'Parotid Rt', Parotid_R: 'Parotid Lt' } });
    const r = curator('curate', '-i', join(root, 'swapped'), '-o', join(root, 'swapped-out'), '-q', '-j', '1');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^annotation checks: 1 finding to review \(.*swapped-out\/DATASHEET\.md, Annotation checks\):\n {2}hn_0001 sides: Parotid_L lies to the patient's right of Parotid_R \(centres at x -36\.0 mm and 36\.0 mm, LPS\): sides swapped\?\n {4}source: .*swapped\/S\/ct$/m);
    // the slices behind it, in the private folder (the page names the source)
    const review = curator('review', join(root, 'swapped-out'));
    expect(review.status, review.stderr).toBe(0);
    const page = join(root, 'swapped-out.private', 'annotation-review.html');
    expect(review.stdout).toBe(`${page}: 1 finding\n`);
    const html = readFileSync(page, 'utf8');
    expect(html).toContain('<h3>hn_0001 · sides · Parotid_L, Parotid_R</h3>');
    expect(html).toMatch(/source: <code>[^<]*swapped\/S\/ct<\/code>/);
    expect(html.match(/<img src="data:image\/png;base64,/g)?.length).toBe(1);
    expect(html).not.toMatch(/https?:\/\//);
    const everyCase = curator('review', join(root, 'swapped-out'), '--all', '--out', join(root, 'review-all.html'));
    expect(everyCase.stdout).toBe(`${join(root, 'review-all.html')}: 1 finding, 1 case drawn\n`);
    const all = readFileSync(join(root, 'review-all.html'), 'utf8');
    expect(all).toContain('<h2>Every case</h2>');
    expect(all).toContain('<h3>hn_0001 · 1 finding</h3>');
    expect(all.match(/<img src="data:image\/png;base64,/g)?.length).toBe(3);
    // a label file gone bad: named, the page still written, exit 1; a folder that is no dataset: said so
    cpSync(join(root, 'swapped-out'), join(root, 'swapped-bad'), { recursive: true });
    writeFileSync(join(root, 'swapped-bad', 'labelsTr', 'hn_0001.nii.gz'), 'not a NIfTI');
    const bad = curator('review', join(root, 'swapped-bad'), '--out', join(root, 'review-bad.html'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`hn_0001: no image: ${join(root, 'swapped-bad', 'labelsTr', 'hn_0001.nii.gz')}`);
    expect(readFileSync(join(root, 'review-bad.html'), 'utf8')).toContain('<p class="problem">No image: ');
    const nowhere = curator('review', join(root, 'no-such-dataset'));
    expect(nowhere.status).not.toBe(0);
    expect(nowhere.stderr).toContain(join(root, 'no-such-dataset'));
    expect(nowhere.stderr).not.toContain('private folder');
    const unknown = curator('review', join(root, 'swapped-out'), '--case', 'hn_0099');
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toContain('--case hn_0099: not a case of');
    writeFileSync(join(root, 'fix.json'), JSON.stringify({ hn_0001: { 'Parotid Rt': 'Parotid_L', 'Parotid Lt': 'Parotid_R' } }));
    const fixed = curator('curate', '-i', join(root, 'swapped'), '-o', join(root, 'swapped-out'), '-q', '-j', '1', '--names', join(root, 'fix.json'));
    expect(fixed.status, fixed.stderr).toBe(0);
    expect(fixed.stderr).toMatch(/^dataset version 2 \(was 1\): 0 added, 0 removed, 1 changed; splits kept\nannotation checks \(sides, stray pieces, slices left out, CT numbers, shifts, volumes\): nothing found\nnames file sections of their own mapped the structures of 1 case: hn_0001 \(DATASHEET\.md says so\)$/m);
    const none = curator('review', join(root, 'swapped-out'), '--out', join(root, 'review-none.html'));
    expect(none.stdout).toBe(`${join(root, 'review-none.html')}: 0 findings\n`);
    expect(readFileSync(join(root, 'review-none.html'), 'utf8')).toContain('Nothing to review: the annotation checks found nothing.');
  });

  it('stops at a missing input or one without cases and leaves the published dataset as it was', () => {
    const out = join(root, 'cli');
    const published = () => tree(out).map((f) => `${f} ${readFileSync(join(out, f)).toString('base64')}`);
    const before = published();
    const typo = curator('curate', '-i', join(root, 'in-typo'), '-o', out, '-q');
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain(`${join(root, 'in-typo')}: no such input folder (check --input)`);
    const workers = curator('curate', '-i', join(root, 'in'), '-o', out, '-j', 'two', '-q');
    expect(workers.status).toBe(1);
    expect(workers.stderr).toContain('--workers NaN: give a whole number of processes, 1 or more');
    mkdirSync(join(root, 'notes'));
    writeFileSync(join(root, 'notes', 'readme.txt'), 'not a case\n');
    const empty = curator('curate', '-i', join(root, 'notes'), '-o', out, '-q');
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/nothing published, no CT series with an RTSTRUCT or SEG and no PDDCA case was found/);
    expect(empty.stderr).toContain(`readme.txt: unreadable as DICOM`);
    expect(published()).toEqual(before);
  });

  it('a case past --case-timeout is stopped and reported failed, and the run finishes', () => {
    const r = curator('curate', '-i', join(root, 'in'), '-o', join(root, 'timeout'), '--case-timeout', '0.05', '-j', '1', '-q');
    expect(r.status).not.toBe(0);
    expect(r.stderr.match(/failed hn_\d+ \(.*\): stopped after 0\.05 s \(--case-timeout\): a reader may be stuck on a damaged file of this case/g)).toHaveLength(3);
    expect(r.stderr).toMatch(/nothing published, all 3 cases found failed/);
    expect(curator('curate', '-i', join(root, 'in'), '-o', join(root, 'timeout'), '--case-timeout', '-1').stderr).toMatch(/--case-timeout -1: give seconds, 0 or more/);
  });

  it('--accept-lossy reads a near-lossless CT in the worker processes, and says so', () => {
    const input = join(root, 'lossy-in');
    cpSync(join(root, 'in', 'A'), join(input, 'A'), { recursive: true });
    cpSync(join(root, 'in', 'pddca', '0522c0001'), join(input, '0522c0001'), { recursive: true });
    const ct = join(input, 'A', 'ct');
    for (const f of readdirSync(ct)) expect(spawnSync('gdcmconv', ['--jpegls', '--lossy', '-e', '2', join(ct, f), join(ct, f)]).status).toBe(0);
    const refused = curator('curate', '-i', input, '-o', join(root, 'lossy-refused'), '-q', '-j', '2');
    expect(refused.status, refused.stderr).toBe(0);
    expect(refused.stderr).toMatch(/curated 1, unchanged 0, failed 1/);
    expect(refused.stderr).toMatch(/is lossy: .*--accept-lossy/);
    const accepted = curator('curate', '-i', input, '-o', join(root, 'lossy-accepted'), '-q', '-j', '2', '--accept-lossy');
    expect(accepted.status, accepted.stderr).toBe(0);
    expect(accepted.stderr).toMatch(/curated 2, unchanged 0, failed 0/);
    const manifest = JSON.parse(readFileSync(join(root, 'lossy-accepted', 'manifest.json'), 'utf8'));
    expect(manifest.cases.find((c: { sourceKind: string }) => c.sourceKind === 'dicom').warnings).toContainEqual(expect.stringMatching(/^60 slices compressed lossy, read as accepted \(JPEG-LS NEAR 2: 60\)/));
    expect(readFileSync(join(root, 'lossy-accepted', 'DATASHEET.md'), 'utf8')).toContain("1 cases' CT images were compressed lossy");
  });

  it('validate exits non-zero on a tampered dataset', () => {
    const img = tree(join(root, 'lib')).find((f) => f.startsWith('imagesTr'))!;
    const bytes = readFileSync(join(root, 'lib', img));
    bytes[100] ^= 1;
    writeFileSync(join(root, 'lib', img), bytes);
    const v = curator('validate', join(root, 'lib'), '-q');
    expect(v.status).toBe(1);
    expect(v.stderr).toContain(`problem: ${img}: checksum mismatch`);
  });

  it('a run killed mid-way leaves only whole cases; the next run resumes and the dataset validates', async () => {
    const out = join(root, 'killed');
    const child = spawn(process.execPath, ['--import', 'tsx', mainPath, 'curate', '-i', join(root, 'in'), '-o', out, '-j', '1', '-q'], { cwd: repo, stdio: 'ignore' });
    const cases = join(out + '.private', 'cases');
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && !(existsSync(cases) && readdirSync(cases).some((f) => f.endsWith('.json')))) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(join(out, 'manifest.json'))).toBe(false); // killed before publishing
    const staged = readdirSync(join(out, 'imagesTr'));
    expect(staged.length).toBeGreaterThanOrEqual(1);
    expect(staged.every((f) => !f.startsWith('.'))).toBe(true); // no temp files left in place
    const r = curator('curate', '-i', join(root, 'in'), '-o', out, '-q');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/unchanged [1-3],/);
    const v = curator('validate', out, '-q');
    expect(v.status, v.stderr).toBe(0);
  });
});
