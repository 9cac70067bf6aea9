/**
 * The trainer CLI as a user runs it (a child process from the repository root): --help of every command,
 * a bad run config, a tiny grid then `status`, `train --resume`, and `segment` on NIfTI and DICOM input.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { readDicomFile, readNifti, writeCtSeries, writeDicomFile, writeNifti } from '@anatomynet/data';
import { contourFindings, trainingVolumes, loadRunEnsemble, planGrid, PUBLIC_CODE_AUGMENT, readGridFile, segmentVolume, trainRun } from '@anatomynet/training';
import { TINY_GRID_BASE, writeTinyDataset, writeTinyGrid } from '@anatomynet/training/testing';
import { openSqliteStore } from '@anatomynet/tracking';
import { csvText, parseCsv } from '@anatomynet/reporting';
import { requestDawnAdapter, selectBackend } from '@anatomynet/compute';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const root = mkdtempSync(join(tmpdir(), 'trainer-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const adapter = await requestDawnAdapter();
const ORGAN_ORDER = ['BrainStem', 'Chiasm', 'Mandible', 'OpticNerve_L', 'OpticNerve_R', 'Parotid_L', 'Parotid_R', 'Submandibular_L', 'Submandibular_R'];
const hasDciodvfy = spawnSync('sh', ['-c', 'command -v dciodvfy']).status === 0;

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `trainer <args>` (what `npx tsx apps/trainer/src/main.ts <args>` runs), from the repository root. */
function trainer(...args: string[]): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'apps/trainer/src/main.ts', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const OPTIONS: Record<string, string[]> = {
  model: ['--config', '--input', '--detail'],
  train: ['--config', '--grid', '--row', '--profile', '--dataset', '--db', '--runs', '--experiment', '--name', '--resume', '--keep-checkpoints', '--backend', '--recompute', '--keep-segments', '--gpu-pool-gb', '--gpu-memory-gb', '--gpu-best-fit', '--gpu-tilings'],
  grid: ['<files..>', '--profile', '--dataset', '--db', '--runs', '--workers', '--worker', '--retry-failed', '--retrain-other-dataset', '--reuse', '--dry-run', '--replicates', '--folds', '--keep-checkpoints', '--backend', '--threads', '--recompute', '--keep-segments', '--gpu-pool-gb', '--gpu-memory-gb', '--gpu-best-fit', '--gpu-tilings'],
  status: ['--db', '--grid', '--experiment', '--stale-minutes', '--json'],
  merge: ['<sources..>', '--db', '--runs', '--dry-run'],
  segment: ['--run', '--db', '--model', '--row-seeds', '--mirror', '--tile', '--tile-overlap', '--input', '--out', '--series', '--dicom', '--hu-check', '--lcc', '--backend', '--gpu-tilings'],
  evaluate: ['--run', '--db', '--model', '--row-seeds', '--mirror', '--tile', '--tile-overlap', '--dataset', '--split', '--out', '--predictions', '--exclude-seen', '--exclude-flagged', '--backend'],
  compare: ['<baseline>', '<candidate>'],
  'tune-gpu': ['--config', '--grid', '--profile', '--out', '--shape', '--reps', '--retune'],
};

describe('trainer --help', () => {
  test('the top level and every command print help naming their options, exit 0', async () => {
    const commands = Object.keys(OPTIONS);
    const [top, ...each] = await Promise.all([trainer('--help'), ...commands.map((c) => trainer(c, '--help'))]);
    expect(top.code, top.stderr).toBe(0);
    for (const c of commands) expect(top.stdout).toMatch(new RegExp(`trainer ${c}\\b`));
    each.forEach((r, i) => {
      const c = commands[i];
      expect(r.code, `${c} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`trainer ${c}`);
      for (const o of OPTIONS[c]) expect(r.stdout, `${c} --help names ${o}`).toContain(o);
    });
  });
});

describe('trainer train', () => {
  test('a run config with a bad field exits 1 naming the file and the field, before any training', async () => {
    const bad = join(root, 'bad-config.json');
    writeFileSync(bad, JSON.stringify({ schedule: { rmspropEpochs: -3 } }));
    const db = join(root, 'never.db');
    const r = await trainer('train', '--config', bad, '--dataset', join(root, 'no-dataset'), '--db', db, '--backend', 'cpu');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: ${bad}: run config field "schedule.rmspropEpochs" = -3`);
    expect(existsSync(db)).toBe(false);
  });

  test('a folder that is not a published dataset exits 1 naming it, before the database or any run (train and grid)', async () => {
    const grid = writeTinyGrid(join(root, 'no-dataset-grid.json'));
    const db = join(root, 'never-dataset.db');
    const noDataset = join(root, 'raw-not-curated');
    const [train, cells] = await Promise.all([
      trainer('train', '--grid', grid, '--row', 'seed3', '--profile', 'smoke', '--dataset', noDataset, '--db', db, '--backend', 'cpu'),
      trainer('grid', grid, '--profile', 'smoke', '--dataset', noDataset, '--db', db, '--backend', 'cpu'),
    ]);
    for (const r of [train, cells]) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`error: ${join(noDataset, 'dataset.json')}: missing (not a published dataset folder?)`);
    }
    // a published dataset that lost files since: all named at once
    const damaged = join(root, 'damaged-ds');
    const ids = writeTinyDataset(damaged, { cases: 3 });
    rmSync(join(damaged, 'imagesTr', `${ids[0]}_0000.nii.gz`));
    rmSync(join(damaged, 'labelsTr', `${ids[2]}.nii.gz`));
    const lost = await trainer('grid', grid, '--profile', 'smoke', '--dataset', damaged, '--db', db, '--backend', 'cpu');
    expect(lost.code).toBe(1);
    expect(lost.stderr).toContain(`error: ${damaged}: 2 file(s) of the splits are missing (imagesTr/${ids[0]}_0000.nii.gz, labelsTr/${ids[2]}.nii.gz); npm run curator -- validate ${damaged} lists what is wrong`);
    expect(existsSync(db)).toBe(false);
  });

  test('--runs naming a file, or --keep-segments naming a segment the model lacks, exits 1 before the database or any run is made', async () => {
    const dataset = join(root, 'runs-file-ds');
    writeTinyDataset(dataset, { cases: 3 });
    const file = join(root, 'runs-file');
    writeFileSync(file, '');
    const db = join(root, 'never-runs.db');
    const r = await trainer('train', '--grid', writeTinyGrid(join(root, 'runs-file-grid.json')), '--row', 'seed3', '--profile', 'smoke', '--dataset', dataset, '--db', db, '--runs', file, '--backend', 'cpu');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`error: --runs ${file}: a file is there; give a folder`);
    expect(existsSync(db)).toBe(false);
    // a segment the rows' model lacks: refused before the database too, naming the row (grid)
    const grid = await trainer('grid', join(root, 'runs-file-grid.json'), '--profile', 'smoke', '--dataset', dataset, '--db', db, '--backend', 'cpu', '--recompute', '--keep-segments', 'out,dec3.b0');
    expect(grid.code, grid.stderr).toBe(1);
    expect(grid.stderr).toMatch(/error: --keep-segments: tiny-grid@smoke row \w+: recompute: no segment dec3\.b0 in this model/);
    expect(existsSync(db)).toBe(false);
    const threads = await trainer('grid', join(root, 'runs-file-grid.json'), '--profile', 'smoke', '--dataset', dataset, '--db', db, '--backend', 'cpu', '--threads', '0');
    expect(threads.code).toBe(1);
    expect(threads.stderr).toContain('--threads 0: give a whole number of threads, 1 or more');
    expect(existsSync(db)).toBe(false);
  });

  test('--gpu-memory-gb 0 exits 1 asking for a positive number, before any training', async () => {
    const db = join(root, 'never-budget.db');
    const config = join(root, 'budget-defaults.json');
    writeFileSync(config, '{}');
    const r = await trainer('train', '--config', config, '--gpu-memory-gb', '0', '--dataset', join(root, 'no-dataset'), '--db', db, '--backend', 'cpu');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--gpu-memory-gb 0: give a positive number of GB');
    expect(existsSync(db)).toBe(false);
  });

  test('--keep-segments without --recompute exits 1 saying so, before any training', async () => {
    const db = join(root, 'never2.db');
    const r = await trainer('train', '--keep-segments', 'out', '--dataset', join(root, 'no-dataset'), '--db', db, '--backend', 'cpu');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--keep-segments goes with --recompute');
    expect(existsSync(db)).toBe(false);
  });
});

describe('trainer --gpu-tilings', () => {
  const config = join(root, 'defaults.json');
  writeFileSync(config, '{}');
  test('on a backend other than webgpu it says it is not used, and goes on', async () => {
    const r = await trainer('train', '--config', config, '--gpu-tilings', join(root, 'none.json'), '--dataset', join(root, 'no-dataset'), '--db', join(root, 'never3.db'), '--backend', 'cpu');
    expect(r.stderr).toContain(`--gpu-tilings ${join(root, 'none.json')}: not used, the backend is cpu`);
    // it went on to the dataset, which is missing
    expect(r.stderr).toContain('no-dataset');
  });

  test.skipIf(!adapter)('on webgpu a damaged file exits 1 naming the file and the entry, before any training', async () => {
    const bad = join(root, 'tilings.json');
    writeFileSync(bad, JSON.stringify({ 'forward|k3x3x3|48->48|s111|d111': { algo: 'winograd', m: 2 } }));
    const db = join(root, 'never4.db');
    const r = await trainer('train', '--config', config, '--gpu-tilings', bad, '--dataset', join(root, 'no-dataset'), '--db', db, '--backend', 'webgpu');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--gpu-tilings ${bad}: entry "forward|k3x3x3|48->48|s111|d111" (winograd) lacks integer mib`);
    expect(existsSync(db)).toBe(false);
  });
});

describe('trainer tune-gpu', () => {
  // the parity tests' small network: ten conv classes, 28 passes
  const config = join(root, 'tiny-model.json');
  writeFileSync(config, JSON.stringify({ model: { filters: [8, 12], numClasses: 3, outputUpFilters: 4, outputFilters: 6 } }));
  const NEW = 'forward|k2x2x2|5->8|s222|d111';

  test('a run config that is not JSON exits 1 naming the file', async () => {
    const bad = join(root, 'not-json.json');
    writeFileSync(bad, '{ model');
    const r = await trainer('tune-gpu', '--config', bad, '--out', join(root, 'never.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}: cannot read JSON`);
    expect(existsSync(join(root, 'never.json'))).toBe(false);
    const reps = await trainer('tune-gpu', '--config', config, '--out', join(root, 'never.json'), '--reps', '0');
    expect(reps.code).toBe(1);
    expect(reps.stderr).toContain('--reps 0: give a whole number of timed runs, 1 or more');
    const folder = await trainer('tune-gpu', '--config', config, '--out', root);
    expect(folder.code).toBe(1);
    expect(folder.stderr).toContain(`error: --out ${root}: a folder is there; give the tilings JSON file's path`);
  });

  test.skipIf(!adapter)('times the passes the file lacks, keeps its entries, and writes it whole', async () => {
    const out = join(root, 'tuned.json');
    // every pass of the model but the upsampling conv's forward, each with a GEMM tiling
    const classes: [string, string[]][] = [
      ['k3x3x3|1->8|s222|d111', ['forward', 'dw']], ['k3x3x3|8->8|s111|d111', ['forward', 'dx', 'dw']],
      ['k3x3x3|8->12|s111|d111', ['forward', 'dx', 'dw']], ['k3x3x3|12->12|s111|d111', ['forward', 'dx', 'dw']],
      ['k1x1x1|8->12|s111|d111', ['forward', 'dx', 'dw']], ['k3x3x3|20->8|s111|d111', ['forward', 'dx', 'dw']],
      ['k1x1x1|20->8|s111|d111', ['forward', 'dx', 'dw']], ['k3x3x3|5->6|s111|d111', ['forward', 'dx', 'dw']],
      ['k3x3x3|6->3|s111|d111', ['forward', 'dx', 'dw']], ['k2x2x2|5->8|s222|d111', ['dw']],
    ];
    const given = Object.fromEntries(classes.flatMap(([k, passes]) => passes.map((p) => [`${p}|${k}`, { tm: 64, rm: 8, tk: 16, tnt: 16, rn: 1 }])));
    writeFileSync(out, JSON.stringify(given));
    const r = await trainer('tune-gpu', '--config', config, '--out', out, '--shape', '8,16,16', '--reps', '1');
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(summary).toMatchObject({ models: 1, passesTimed: 1, entries: 28, kept: 27, skipped: 0 });
    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(Object.keys(written).sort()).toEqual([...Object.keys(given), NEW].sort());
    for (const [k, t] of Object.entries(given)) expect(written[k]).toEqual(t);
    // a tiling of the GEMM (the only kernel for a stride-2 conv), loadable by --gpu-tilings
    expect(written[NEW]).toMatchObject({ tm: expect.any(Number), rm: expect.any(Number), tk: expect.any(Number), tnt: expect.any(Number), rn: expect.any(Number) });
    expect(written[NEW].algo).toBeUndefined();
    expect(r.stderr).toContain('tune-gpu [');
    // lavapipe compiles every kernel of the model's training step first: 2.5 min with a cold shader cache
  }, 600_000);

  test.skipIf(!adapter)('with grid files, each distinct model once; a file that holds every pass times none and stays as it was', async () => {
    const out = join(root, 'tuned.json');
    const before = readFileSync(out, 'utf8');
    // three rows of one model in each of two grids (seeds and a loss differ)
    const grid = (name: string) => writeTinyGrid(join(root, `${name}.json`), name);
    const files = [grid('g1'), grid('g2')].map((f) => {
      const g = JSON.parse(readFileSync(f, 'utf8'));
      g.base.model = { filters: [8, 12], numClasses: 3, outputUpFilters: 4, outputFilters: 6 };
      writeFileSync(f, JSON.stringify(g));
      return f;
    });
    const r = await trainer('tune-gpu', '--grid', files[0], '--grid', files[1], '--profile', 'smoke', '--out', out, '--shape', '8,16,16');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ models: 1, passesTimed: 0, entries: 28, kept: 28, skipped: 0 });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(JSON.parse(before));
  }, 600_000);
});

describe('trainer grid, status, segment', () => {
  const dataset = join(root, 'dataset');
  const ids = writeTinyDataset(dataset, { cases: 4 });
  const gridFile = writeTinyGrid(join(root, 'tiny-grid.json'), 'tiny-grid');
  const db = join(root, 'track', 'tracking.db');
  let runDir = '';
  let runId = '';

  test('grid runs every cell of the smoke profile; status lists the runs and the cells DONE', async () => {
    const g = await trainer('grid', gridFile, '--profile', 'smoke', '--dataset', dataset, '--db', db, '--backend', 'cpu', '--worker', 'cli-test');
    expect(g.code, g.stderr).toBe(0);
    const summary = JSON.parse(g.stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ grid: 'tiny-grid@smoke', done: 3, failed: 0, skipped: 0 });

    const s = await trainer('status', '--db', db);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain('grid tiny-grid@smoke: 3/3 done');
    // Each run once, under its cell: status and times, then its best validation, organ by organ, and its test mean.
    expect(s.stdout).not.toContain('runs');
    for (const key of ['seed3', 'seed4', 'dice']) expect(s.stdout).toMatch(new RegExp(`\\n  ${key} +DONE +[0-9a-f-]{36}\\n {6}FINISHED started \\S+ \\S+ ended \\S+ \\S+  cpu\\n {6}best validation`));
    expect(s.stdout.match(/best validation \(epoch \d+\): mean Dice \d\.\d{3}: BrainStem \d\.\d\d, .*; test mean DSC \d\.\d{3}, \d+ test contours? flagged by the annotation checks\n/g)?.length).toBe(3);
    // each run's count: its recorded test rows whose contour the checks flag
    const counted = openSqliteStore(db, { readonly: true });
    for (const cell of await counted.gridCells('tiny-grid@smoke')) {
      const flagged = (await counted.caseResults(cell.runId!, 'test')).filter((r) => r.extra?.contourFinding).length;
      expect(s.stdout).toContain(`${cell.runId}\n`);
      expect(s.stdout.slice(s.stdout.indexOf(cell.runId!)).split('\n').slice(0, 4).join('\n')).toContain(`, ${flagged} test contour${flagged === 1 ? '' : 's'} flagged by the annotation checks`);
    }
    await counted.close();
    // a grid named without its profile: the grids there are, not an empty listing
    const typo = await trainer('status', '--db', db, '--grid', 'tiny-grid');
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain(`error: ${db}: no grid tiny-grid (grids: tiny-grid@smoke; a grid is named <file>@<profile>)`);

    const j = await trainer('status', '--db', db, '--json');
    const { runs, cells } = JSON.parse(j.stdout) as { runs: { id: string; runDir: string }[]; cells: { key: string; status: string; runId: string; claimedBy: string }[] };
    expect(cells.map((c) => [c.key, c.status, c.claimedBy])).toEqual([['dice', 'DONE', 'cli-test'], ['seed3', 'DONE', 'cli-test'], ['seed4', 'DONE', 'cli-test']]);
    expect(new Set(cells.map((c) => c.runId))).toEqual(new Set(runs.map((r) => r.id)));
    // Run folders default to <db folder>/runs/<run id>.
    for (const r of runs) expect(r.runDir).toBe(join(root, 'track', 'runs', r.id));
    runDir = runs[0].runDir;
    runId = runs[0].id;

    // A second pass does nothing.
    const again = await trainer('grid', gridFile, '--profile', 'smoke', '--dataset', dataset, '--db', db, '--backend', 'cpu');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.trim().split('\n').at(-1)!)).toMatchObject({ done: 0, failed: 0, skipped: 3 });

    // Another grid with a row of the same config (the paper's default is a row of Figs 3, 4 and 5): that
    // cell takes the finished run; --no-reuse trains it again.
    const twin = writeTinyGrid(join(root, 'twin-grid.json'), 'twin-grid', [{ key: 'default', label: 'as seed3', override: {} }]);
    const preview = await trainer('grid', gridFile, twin, '--profile', 'smoke', '--dataset', dataset, '--db', db, '--dry-run');
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stderr).toMatch(/^twin-grid@smoke default: reuse [0-9a-f-]{36} \(tiny-grid@smoke seed3\)$/m);
    expect(preview.stderr).toContain('dry run: 0 to train, 0 to resume, 1 to reuse, 3 done; nothing was run');
    expect(preview.stderr).not.toContain('ready');
    const newDb = join(root, 'never', 'tracking.db');
    const fresh0 = await trainer('grid', gridFile, '--profile', 'smoke', '--dataset', dataset, '--db', newDb, '--dry-run');
    expect(fresh0.stderr).toContain('dry run: 3 to train, 0 to resume, 0 to reuse, 0 done; nothing was run');
    // seed replicates of two rows: the rows' own cells are done, their second and third seeds to train
    const replicated = await trainer('grid', `${gridFile}:seed3,dice`, '--profile', 'smoke', '--dataset', dataset, '--db', db, '--dry-run', '--replicates', '3');
    expect(replicated.code, replicated.stderr).toBe(0);
    expect((JSON.parse(replicated.stdout) as { key: string; action: string }[]).map((p) => `${p.key} ${p.action}`)).toEqual(['seed3 done', 'dice done', 'seed3#2 train', 'dice#2 train', 'seed3#3 train', 'dice#3 train']);
    const tooMany = await trainer('grid', gridFile, '--profile', 'smoke', '--dataset', dataset, '--db', db, '--dry-run', '--replicates', '0');
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toContain(`${gridFile}: replicates 0: give a whole number from 1 to 20`);
    expect(existsSync(join(root, 'never'))).toBe(false);
    const reuse = await trainer('grid', twin, '--profile', 'smoke', '--dataset', dataset, '--db', db, '--backend', 'cpu');
    expect(reuse.code, reuse.stderr).toBe(0);
    expect(JSON.parse(reuse.stdout.trim().split('\n').at(-1)!)).toMatchObject({ grid: 'twin-grid@smoke', done: 0, reused: 1, failed: 0 });
    const seed3 = runs.find((r) => r.id === cells.find((c) => c.key === 'seed3')!.runId)!;
    expect(reuse.stderr).toContain(`cell 1/1: twin-grid@smoke default (as seed3): done, the same config finished on this dataset as run ${seed3.id} (tiny-grid@smoke seed3); --no-reuse trains it again`);
    const twinStatus = await trainer('status', '--db', db, '--grid', 'twin-grid@smoke');
    expect(twinStatus.stdout).toMatch(new RegExp(`\\n  default +DONE +${seed3.id} \\(run of tiny-grid@smoke / seed3\\)\\n {6}FINISHED `));
    expect(twinStatus.stdout).not.toContain('runs outside');
    // The grid file edited under a key that ran: refused before any training, naming the row and field.
    const edited = writeTinyGrid(join(root, 'edited-grid.json'), 'tiny-grid', [{ key: 'seed9', label: 'new', override: { seed: 9 } }, { key: 'dice', label: 'Dice loss', override: { loss: { name: 'dice' }, seed: 5 } }]);
    const refused = await trainer('grid', edited, '--profile', 'smoke', '--dataset', dataset, '--db', db, '--backend', 'cpu');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`tiny-grid@smoke dice (run ${cells.find((c) => c.key === 'dice')!.runId}): seed: 3 -> 5`);
    expect(refused.stderr).not.toContain('ready');
    expect((JSON.parse((await trainer('status', '--db', db, '--json')).stdout) as { runs: unknown[] }).runs.length).toBe(3);
    const fresh = await trainer('grid', writeTinyGrid(join(root, 'twin-grid-2.json'), 'twin-grid-2', [{ key: 'default', label: 'as seed3', override: {} }]), '--profile', 'smoke', '--dataset', dataset, '--db', db, '--backend', 'cpu', '--no-reuse');
    expect(JSON.parse(fresh.stdout.trim().split('\n').at(-1)!)).toMatchObject({ done: 1, reused: 0 });
  }, 180_000);

  test('evaluate measures a run on a dataset split exactly as its own test evaluation did; a dataset with an unreadable case goes on', async () => {
    expect(runId).not.toBe('');
    const out = join(root, 'evaluated');
    const r = await trainer('evaluate', '--run', runId, '--db', db, '--dataset', dataset, '--split', 'test', '--out', out, '--backend', 'cpu');
    expect(r.code, r.stderr).toBe(0);
    const store = openSqliteStore(db, { readonly: true });
    const recorded = await store.caseResults(runId, 'test');
    await store.close();
    const csv = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\r\n');
    expect(csv[0]).toBe('case_id,organ,dsc,hd95_mm,surface_dice,msd_mm,tp,fp,fn,seen,annotation_finding,contour_finding');
    const asCsv = (v: number) => (Number.isFinite(v) ? String(Number(v.toFixed(6))) : Number.isNaN(v) ? '' : 'inf');
    // the curator's checks on each written prediction, against the case's CT
    const predictedFindings = new Map(ids.map((id) => {
      const written = join(out, 'predictions', `${id}.nii.gz`);
      return [id, existsSync(written) ? contourFindings(readNifti(written).data as Uint8Array, readNifti(join(dataset, 'imagesTr', `${id}_0000.nii.gz`)), trainingVolumes([runDir])) : []];
    }));
    const doubted = (id: string, organ: string) => [...new Set(predictedFindings.get(id)!.filter((f) => f.organs.includes(organ as never)).map((f) => f.check))].join(';');
    expect(csv.slice(1)).toEqual(
      [...recorded].sort((x, y) => x.caseId.localeCompare(y.caseId) || ORGAN_ORDER.indexOf(x.organ) - ORGAN_ORDER.indexOf(y.organ))
        .map((x) => [x.caseId, x.organ, asCsv(x.dsc), asCsv(x.hd95Mm), asCsv(x.surfaceDice), asCsv(x.meanSurfaceDistanceMm ?? NaN), x.tp, x.fp, x.fn, '', '', doubted(x.caseId, x.organ)].join(',')),
    );
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).contourFindings).toEqual([...predictedFindings].flatMap(([caseId, fs]) => fs.map((f) => ({ caseId, ...f }))));
    expect(r.stderr).toContain('no measured case is one the model trained on or was selected by.');
    expect(r.stderr).toContain(`note: ${dataset} predates the curator's annotation checks (curate it again to run them).`);

    // the curator's annotation checks flagged the test case's brainstem: marked, and said, when measured and before training
    const flaggedDs = join(root, 'dataset-flagged');
    cpSync(dataset, flaggedDs, { recursive: true });
    const flaggedManifest = JSON.parse(readFileSync(join(flaggedDs, 'manifest.json'), 'utf8'));
    const finding = { caseId: ids[3], check: 'stray-piece', organs: ['BrainStem'], message: 'BrainStem: 3 of its 40 voxels lie in 1 other piece' };
    writeFileSync(join(flaggedDs, 'manifest.json'), JSON.stringify({ ...flaggedManifest, annotationFindings: [finding] }));
    const flaggedEval = await trainer('evaluate', '--run', runId, '--db', db, '--dataset', flaggedDs, '--split', 'test', '--no-predictions', '--out', join(root, 'evaluated-flagged'), '--backend', 'cpu');
    expect(flaggedEval.code, flaggedEval.stderr).toBe(0);
    expect(flaggedEval.stderr).toContain(`warning: the curator's annotation checks flagged 1 finding(s) in measured cases (${ids[3]} stray-piece (BrainStem)): their ground truth may be wrong`);
    const flaggedRows = parseCsv(readFileSync(join(root, 'evaluated-flagged', 'metrics.csv'), 'utf8')).slice(1);
    expect(flaggedRows.map((f) => [f[1], f[10]])).toEqual(flaggedRows.map((f) => [f[1], f[1] === 'BrainStem' ? 'stray-piece' : '']));
    expect(JSON.parse(readFileSync(join(root, 'evaluated-flagged', 'summary.json'), 'utf8')).annotationFindings).toEqual([finding]);
    const unflagged = await trainer('evaluate', '--run', runId, '--db', db, '--dataset', flaggedDs, '--split', 'test', '--no-predictions', '--exclude-flagged', '--out', join(root, 'evaluated-unflagged'), '--backend', 'cpu');
    expect(unflagged.code, unflagged.stderr).toBe(0);
    expect(unflagged.stderr).toContain(`left out the case organs of 1 annotation finding(s) (${ids[3]} stray-piece (BrainStem)).`);
    expect(parseCsv(readFileSync(join(root, 'evaluated-unflagged', 'metrics.csv'), 'utf8')).slice(1)).toEqual(flaggedRows.filter((f) => f[1] !== 'BrainStem'));
    expect(JSON.parse(readFileSync(join(root, 'evaluated-unflagged', 'summary.json'), 'utf8'))).toMatchObject({ excludedFlagged: true, annotationFindings: [finding] });
    const flaggedCompare = await trainer('compare', join(root, 'evaluated-flagged'), join(root, 'evaluated-flagged'));
    expect(flaggedCompare.stderr).toContain(`note: the curator's annotation checks flagged 1 measured case(s) (${ids[3]}): their ground truth may be wrong for both models`);
    const flaggedPlan = await trainer('grid', gridFile, '--profile', 'smoke', '--dataset', flaggedDs, '--db', join(root, 'flagged.db'), '--dry-run');
    expect(flaggedPlan.stderr).toContain(`warning: ${flaggedDs}: the curator's annotation checks flagged cases (test: ${ids[3]}; DATASHEET.md, Annotation checks)`);
    const testCase = recorded[0].caseId;
    expect(Array.from(readNifti(join(out, 'predictions', `${testCase}.nii.gz`)).data as Uint8Array)).toEqual(Array.from(readNifti(join(runDir, 'predictions', `${testCase}.nii.gz`)).data as Uint8Array));
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ split: 'test', cases: 1, failed: [] });
    expect(r.stderr).toMatch(/^BrainStem +n= +1 +DSC \d+\.\d ± - +HD95 /m);

    // an ensemble of the run with itself averages identical probabilities: the same measurement
    const twice = await trainer('evaluate', '--run', runId, '--run', runId, '--db', db, '--dataset', dataset, '--split', 'test', '--out', join(root, 'evaluated-twice'), '--backend', 'cpu');
    expect(twice.code, twice.stderr).toBe(0);
    expect(twice.stderr).toContain(`ensemble of 2 models (class probabilities averaged): ${runDir}, ${runDir}`);
    expect(readFileSync(join(root, 'evaluated-twice', 'metrics.csv'), 'utf8')).toBe(readFileSync(join(out, 'metrics.csv'), 'utf8'));
    expect(JSON.parse(readFileSync(join(root, 'evaluated-twice', 'summary.json'), 'utf8')).model).toEqual([runDir, runDir]);
    // compare: the same measurement twice differs by nothing, organ by organ; another dataset is refused
    const same = await trainer('compare', out, join(root, 'evaluated-twice'));
    expect(same.code, same.stderr).toBe(0);
    const rows = (JSON.parse(same.stdout) as { rows: { organ: string; cases: number; diff: number; test: { method: string } }[] }).rows;
    expect(rows.at(-1)).toMatchObject({ organ: 'all', cases: 1, diff: 0, test: { method: 'none' } });
    expect(rows.every((r) => r.diff === 0)).toBe(true);
    expect(same.stderr).toMatch(/^all +1 /m);
    const elsewhere = join(root, 'evaluated-elsewhere');
    cpSync(out, elsewhere, { recursive: true });
    const moved = JSON.parse(readFileSync(join(elsewhere, 'summary.json'), 'utf8'));
    writeFileSync(join(elsewhere, 'summary.json'), JSON.stringify({ ...moved, manifestDigest: 'f'.repeat(64) }));
    const refusedCompare = await trainer('compare', out, elsewhere);
    expect(refusedCompare.code).toBe(1);
    expect(refusedCompare.stderr).toContain(`${out} and ${elsewhere} measured different datasets`);
    writeFileSync(join(elsewhere, 'summary.json'), '{ "cases": ');
    const notJson = await trainer('compare', out, elsewhere);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toContain(`${join(elsewhere, 'summary.json')}: not JSON (`);
    const notEvaluated = await trainer('compare', out, root);
    expect(notEvaluated.code).toBe(1);
    expect(notEvaluated.stderr).toContain(`${join(root, 'summary.json')}: missing; give a folder written by \`trainer evaluate --out\``);
    // every case of the dataset: the run's training and validation cases are measured but marked, or left out
    const everyCase = await trainer('evaluate', '--run', runId, '--db', db, '--dataset', dataset, '--split', 'all', '--no-predictions', '--review', '--out', join(root, 'evaluated-all'), '--backend', 'cpu');
    expect(everyCase.code, everyCase.stderr).toBe(0);
    // --review: a section per contour finding, headed by its case, in the order summary.json lists them
    const allFindings = JSON.parse(readFileSync(join(root, 'evaluated-all', 'summary.json'), 'utf8')).contourFindings as { caseId: string; check: string; organs: string[] }[];
    const evalReview = readFileSync(join(root, 'evaluated-all', 'review.html'), 'utf8');
    expect(evalReview.match(/<section><h3>[^<]+<\/h3>/g) ?? []).toEqual(allFindings.map((f) => `<section><h3>${f.caseId} · ${f.check} · ${f.organs.join(', ')}</h3>`));
    expect(allFindings.length).toBeGreaterThan(0);
    expect(evalReview).toContain(`${allFindings.length} finding${allFindings.length === 1 ? '' : 's'} to look at first`);
    expect(evalReview).toContain('in 4 cases');
    const [train, validation, test] = [ids.slice(0, 2), [ids[2]], ids[3]];
    expect(everyCase.stderr).toContain(`warning: 3 measured case(s) are ones the model trained on or was selected by (train: ${train.join(' ')}; validation: ${validation[0]}): their scores are not a test`);
    const seenColumn = new Map(parseCsv(readFileSync(join(root, 'evaluated-all', 'metrics.csv'), 'utf8')).slice(1).map((f) => [f[0], f[9]]));
    expect(Object.fromEntries(seenColumn)).toEqual({ [train[0]]: 'train', [train[1]]: 'train', [validation[0]]: 'validation', [test]: '' });
    expect(JSON.parse(readFileSync(join(root, 'evaluated-all', 'summary.json'), 'utf8'))).toMatchObject({ cases: 4, excludedSeen: false, seenUnknown: [], seen: [{ caseId: train[0], split: 'train', by: 'input', run: runDir }, { caseId: train[1] }, { caseId: validation[0], split: 'validation' }] });
    const unseen = await trainer('evaluate', '--run', runId, '--db', db, '--dataset', dataset, '--split', 'all', '--exclude-seen', '--no-predictions', '--out', join(root, 'evaluated-unseen'), '--backend', 'cpu');
    expect(unseen.code, unseen.stderr).toBe(0);
    expect(unseen.stderr).toContain(`left out 3 case(s) the model trained on or was selected by`);
    expect(readFileSync(join(root, 'evaluated-unseen', 'metrics.csv'), 'utf8')).toBe(readFileSync(join(out, 'metrics.csv'), 'utf8'));
    const nothingLeft = await trainer('evaluate', '--run', runId, '--db', db, '--dataset', dataset, '--split', 'train', '--exclude-seen', '--out', join(root, 'evaluated-none'), '--backend', 'cpu');
    expect(nothingLeft.code).toBe(1);
    expect(nothingLeft.stderr).toContain(`${dataset}: every case of the train split (2) is one the model trained on or was selected by; nothing is left to measure`);
    const seenCompared = await trainer('compare', join(root, 'evaluated-unseen'), join(root, 'evaluated-all'));
    expect(seenCompared.code, seenCompared.stderr).toBe(0);
    expect(seenCompared.stderr).toContain(`warning: ${join(root, 'evaluated-all')} measured 3 case(s) its model trained on or was selected by`);
    expect(seenCompared.stderr).not.toContain(`warning: ${join(root, 'evaluated-unseen')}`);

    // case ids that CSV must quote (a clinic's own ids) are read back whole
    const quoted = ['quoted-a', 'quoted-b'].map((name) => {
      const dir = join(root, name);
      cpSync(out, dir, { recursive: true });
      const [header, ...lines] = parseCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8'));
      writeFileSync(join(dir, 'metrics.csv'), csvText([header, ...lines.map(([id, ...rest]) => [`"${id}", left`, ...rest])]));
      return dir;
    });
    const quotedCompare = await trainer('compare', ...quoted);
    expect(quotedCompare.code, quotedCompare.stderr).toBe(0);
    expect((JSON.parse(quotedCompare.stdout) as { rows: { organ: string; cases: number; diff: number }[] }).rows.at(-1)).toMatchObject({ organ: 'all', cases: 1, diff: 0 });
    const noDb = await trainer('evaluate', '--run', runId, '--dataset', dataset, '--out', join(root, 'evaluated-no-db'), '--backend', 'cpu');
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toContain('--run and --row-seeds need --db FILE');

    // every case of a copy with one image damaged: that case is named, the others measured, exit 1
    const damaged = join(root, 'evaluate-damaged');
    cpSync(dataset, damaged, { recursive: true });
    writeFileSync(join(damaged, 'imagesTr', `${ids[0]}_0000.nii.gz`), 'not a NIfTI');
    const all = await trainer('evaluate', '--model', runDir, '--dataset', damaged, '--out', join(root, 'evaluated-all'), '--no-predictions', '--backend', 'cpu');
    expect(all.code).toBe(1);
    expect(all.stderr).toContain(`failed: ${ids[0]}: ${join(damaged, 'imagesTr', `${ids[0]}_0000.nii.gz`)}: `);
    const measured = JSON.parse(readFileSync(join(root, 'evaluated-all', 'summary.json'), 'utf8'));
    expect(measured).toMatchObject({ split: 'all', cases: ids.length, failed: [{ caseId: ids[0] }] });
    expect(existsSync(join(root, 'evaluated-all', 'predictions'))).toBe(false);
  }, 120_000);

  test('grid names DONE cells trained on another dataset (its folder curated again), and trains them again on request', async () => {
    // the dataset's next version: same cases, a new manifest naming the one it replaced
    const v2 = join(root, 'dataset-v2');
    cpSync(dataset, v2, { recursive: true });
    const v1Manifest = readFileSync(join(dataset, 'manifest.json'));
    const previous = { version: 1, manifestDigest: createHash('sha256').update(v1Manifest).digest('hex'), added: [], removed: [], changed: [], splits: 'kept', moved: [] };
    writeFileSync(join(v2, 'manifest.json'), JSON.stringify({ ...JSON.parse(v1Manifest.toString('utf8')), version: 2, previous }));
    const otherDb = join(root, 'track', 'other-dataset.db');
    cpSync(db, otherDb);
    const runIdOf = async (key: string) => {
      const store = openSqliteStore(otherDb, { readonly: true });
      const cell = (await store.gridCells('tiny-grid@smoke')).find((c) => c.key === key)!;
      await store.close();
      return cell;
    };
    const before = await runIdOf('dice');
    const preview = await trainer('grid', gridFile, '--profile', 'smoke', '--dataset', v2, '--db', otherDb, '--dry-run');
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stderr).toContain(`warning: 3 DONE cell(s) trained on another dataset than ${v2}`);
    expect(preview.stderr).toContain(`tiny-grid@smoke dice (run ${before.runId}, version 1, which version 2 replaced)`);
    expect(preview.stderr).toContain('--retrain-other-dataset trains them again on this dataset');
    const previewAgain = await trainer('grid', `${gridFile}:dice`, '--profile', 'smoke', '--dataset', v2, '--db', otherDb, '--dry-run', '--retrain-other-dataset');
    expect(previewAgain.stderr).toContain('1 cell(s) trained on another dataset would be trained again');
    expect(previewAgain.stderr).toMatch(/tiny-grid@smoke dice: train \(trained on another dataset as run /);
    // only the dice row, trained again on the new version; its old run stays in the database
    const again = await trainer('grid', `${gridFile}:dice`, '--profile', 'smoke', '--dataset', v2, '--db', otherDb, '--backend', 'cpu', '--retrain-other-dataset');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`1 cell(s) trained on another dataset are trained again on ${v2}`);
    const after = await runIdOf('dice');
    expect(after).toMatchObject({ status: 'DONE' });
    expect(after.runId).not.toBe(before.runId);
    const store = openSqliteStore(otherDb, { readonly: true });
    expect((await store.getRun(after.runId!))!.datasetDigest).toBe(createHash('sha256').update(readFileSync(join(v2, 'manifest.json'))).digest('hex'));
    expect(await store.getRun(before.runId!)).toMatchObject({ status: 'FINISHED' });
    await store.close();
    // the other rows still name theirs
    const rest = await trainer('grid', gridFile, '--profile', 'smoke', '--dataset', v2, '--db', otherDb, '--dry-run');
    expect(rest.stderr).toContain('warning: 2 DONE cell(s) trained on another dataset');
  }, 180_000);

  test('grid --folds K trains a row once per cross-validation fold, each validated on its own; status, train --row and --row-seeds know them', async () => {
    const foldDb = join(root, 'track', 'folds.db');
    const g = await trainer('grid', `${gridFile}:dice`, '--profile', 'smoke', '--dataset', dataset, '--db', foldDb, '--backend', 'cpu', '--folds', '2');
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout.trim().split('\n').at(-1)!)).toMatchObject({ done: 2, failed: 0 });
    const store = openSqliteStore(foldDb, { readonly: true });
    const cells = await store.gridCells('tiny-grid@smoke');
    expect(cells.map((c) => c.key)).toEqual(['dice/fold1of2', 'dice/fold2of2']);
    // the training and validation splits' 3 cases (3 patients) dealt into 2 folds; the test case in neither
    const seen = await Promise.all(cells.map(async (c) => JSON.parse(readFileSync(join((await store.getRun(c.runId!))!.runDir!, 'training-cases.json'), 'utf8')) as { train: { caseId: string }[]; validation: { caseId: string }[] }));
    await store.close();
    const validation = seen.map((t) => t.validation.map((c) => c.caseId));
    expect(validation.flat().sort()).toEqual(ids.slice(0, 3));
    seen.forEach((t, i) => expect([...t.train.map((c) => c.caseId), ...validation[i]].sort()).toEqual(ids.slice(0, 3)));
    const s = await trainer('status', '--db', foldDb);
    expect(s.stdout).toMatch(/\n {2}dice: 2 folds finished, test mean DSC \d\.\d{3} \/ \d\.\d{3} /);
    // the folds as one ensemble, as nnU-Net predicts with its five
    const ens = await trainer('evaluate', '--row-seeds', 'tiny-grid@smoke:dice', '--db', foldDb, '--dataset', dataset, '--split', 'test', '--no-predictions', '--out', join(root, 'evaluated-folds'), '--backend', 'cpu');
    expect(ens.code, ens.stderr).toBe(0);
    expect(ens.stderr).toContain('ensemble of 2 models');
    // one fold alone, as the grid planned it; a fold the row cannot have is refused naming the form
    const bad = await trainer('train', '--grid', gridFile, '--row', 'dice/fold3of2', '--profile', 'smoke', '--dataset', dataset, '--db', foldDb, '--backend', 'cpu');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('ROW/foldIofK for a cross-validation fold, K from 2 to 10');
  }, 180_000);

  test('the full profile on the cpu backend is warned of before training (days per run), once', async () => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'apps/trainer/src/main.ts', 'grid', gridFile, '--profile', 'full', '--dataset', dataset, '--db', join(root, 'full-on-cpu', 'tracking.db'), '--backend', 'cpu'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<void>((resolve) => p.on('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no warning within 60 s: ${stderr}`)), 60_000);
      p.stderr.on('data', (d) => {
        stderr += d;
        if (/\bcell 1\/3\b/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    p.kill('SIGTERM');
    await exited;
    expect(stderr).toContain('warning: 3 cell(s) (tiny-grid@full seed3, tiny-grid@full seed4, tiny-grid@full dice): 200 epochs on whole volumes at native spacing on the cpu backend take days per run; the smoke profile (--profile smoke) is sized for a CPU');
    expect(stderr.match(/warning: \d+ cell/g)).toHaveLength(1);
  }, 90_000);

  test('grid FILE:ROW runs and registers only that row; an unknown row exits 1 listing the rows', async () => {
    const db3 = join(root, 'track3', 'tracking.db');
    const g = await trainer('grid', `${gridFile}:seed4`, '--profile', 'smoke', '--dataset', dataset, '--db', db3, '--backend', 'cpu');
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout.trim().split('\n').at(-1)!)).toMatchObject({ grid: 'tiny-grid@smoke', done: 1, failed: 0, skipped: 0 });
    const j = JSON.parse((await trainer('status', '--db', db3, '--json')).stdout) as { cells: { key: string; status: string }[] };
    expect(j.cells.map((c) => [c.key, c.status])).toEqual([['seed4', 'DONE']]);
    const bad = await trainer('grid', `${gridFile}:seed4,seed9`, '--profile', 'smoke', '--dataset', dataset, '--db', db3, '--backend', 'cpu');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${gridFile}: no row "seed9" (rows: seed3, seed4, dice)`);
    // one seed replicate alone, with train: the config grid --replicates gives that cell
    const t = await trainer('train', '--grid', gridFile, '--row', 'seed4#2', '--profile', 'smoke', '--dataset', dataset, '--db', db3, '--backend', 'cpu');
    expect(t.code, t.stderr).toBe(0);
    // a run no grid cell holds yet is listed after the grids, once
    expect((await trainer('status', '--db', db3)).stdout).toMatch(/\nruns outside these grids \(1\)\n {2}[0-9a-f-]{36} {2}FINISHED tiny-grid@smoke \/ seed4#2 {2}started /);
    const runs = (JSON.parse((await trainer('status', '--db', db3, '--json')).stdout) as { runs: { name: string; configJson: string }[] }).runs;
    const seedOf = (name: string) => (JSON.parse(runs.find((r) => r.name === name)!.configJson) as { seed: number }).seed;
    expect(seedOf('seed4#2')).toBe(planGrid(readGridFile(gridFile), 'smoke', gridFile, { replicates: 2 }).find((c) => c.key === 'seed4#2')!.config.seed);
    expect(seedOf('seed4#2')).not.toBe(seedOf('seed4'));
    // the grid's replicate cell takes that run (same config, same dataset); status sets the seeds side by side
    const replicated = await trainer('grid', `${gridFile}:seed4`, '--replicates', '2', '--profile', 'smoke', '--dataset', dataset, '--db', db3, '--backend', 'cpu');
    expect(replicated.code, replicated.stderr).toBe(0);
    expect(JSON.parse(replicated.stdout.trim().split('\n').at(-1)!)).toMatchObject({ done: 0, reused: 1, skipped: 1 });
    expect((await trainer('status', '--db', db3)).stdout).toMatch(/\n {2}seed4: 2 seeds finished, test mean DSC \d\.\d{3} \/ \d\.\d{3} \(mean \d\.\d{3} ± \d\.\d{3}\)\n/);
    // and the row's seeds are one ensemble by name
    const rowSeeds = await trainer('evaluate', '--row-seeds', 'tiny-grid@smoke:seed4', '--db', db3, '--dataset', dataset, '--split', 'test', '--out', join(root, 'evaluated-row-seeds'), '--no-predictions', '--backend', 'cpu');
    expect(rowSeeds.code, rowSeeds.stderr).toBe(0);
    expect(rowSeeds.stderr).toContain('ensemble of 2 models (class probabilities averaged)');
    const noRow = await trainer('evaluate', '--row-seeds', 'tiny-grid@smoke:seed9', '--db', db3, '--dataset', dataset, '--out', join(root, 'evaluated-no-row'), '--backend', 'cpu');
    expect(noRow.code).toBe(1);
    expect(noRow.stderr).toContain('--row-seeds tiny-grid@smoke:seed9: no finished cell of row seed9 in tiny-grid@smoke (rows: seed4)');
    const noSuch = await trainer('train', '--grid', gridFile, '--row', 'seed4#21', '--profile', 'smoke', '--dataset', dataset, '--db', db3, '--backend', 'cpu');
    expect(noSuch.code).toBe(1);
    expect(noSuch.stderr).toContain('no row "seed4#21" (rows: seed3, seed4, dice; ROW#N for a seed replicate, N up to 20; ROW/foldIofK for a cross-validation fold, K from 2 to 10)');
  }, 180_000);

  test('grid with two grid files and --workers 2: every cell of both grids runs once, shared by two processes', async () => {
    // other seeds: a row of the same config as the first grid's would reuse its run (tested above)
    const second = writeTinyGrid(join(root, 'tiny-grid-2.json'), 'tiny-grid-2', [11, 12, 13].map((seed) => ({ key: `seed${seed}`, label: `seed ${seed}`, override: { seed } })));
    const db2 = join(root, 'track2', 'tracking.db');
    const g = await trainer('grid', gridFile, second, '--profile', 'smoke', '--dataset', dataset, '--db', db2, '--backend', 'cpu', '--workers', '2', '--worker', 'w');
    expect(g.code, g.stderr).toBe(0);
    const summaries = g.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(summaries.map((s) => s.grid)).toEqual(['tiny-grid@smoke', 'tiny-grid-2@smoke']);
    const j = JSON.parse((await trainer('status', '--db', db2, '--json')).stdout) as { runs: { id: string; status: string }[]; cells: { grid: string; status: string; claimedBy: string }[] };
    expect(j.cells.length).toBe(6);
    expect(j.cells.every((c) => c.status === 'DONE')).toBe(true);
    expect(j.runs.length).toBe(6);
    expect(j.runs.every((r) => r.status === 'FINISHED')).toBe(true);
    // Both workers took cells (the second one is this command's child, named after it); the first waited
    // until the second could claim cells.
    expect(g.stderr).toMatch(/^worker w ready: cpu backend, \d+ thread\(s\)$/m);
    expect(g.stderr).toMatch(/^\[worker 2\] worker w\/2 ready: cpu backend, \d+ thread\(s\)$/m);
    expect(new Set(j.cells.map((c) => c.claimedBy))).toEqual(new Set(['w', 'w/2']));
    expect(g.stderr).toMatch(/\[worker 2\] cell \d\/3: tiny-grid/);
  }, 180_000);

  test('merge: rows run on two machines into two databases come together in one, run folders moved with --runs', async () => {
    const [m1, m2] = ['machine1', 'machine2'].map((m) => join(root, m, 'tracking.db'));
    const one = await trainer('grid', `${gridFile}:seed3`, '--profile', 'smoke', '--dataset', dataset, '--db', m1, '--backend', 'cpu');
    const two = await trainer('grid', `${gridFile}:seed4,dice`, '--profile', 'smoke', '--dataset', dataset, '--db', m2, '--backend', 'cpu');
    expect([one.code, two.code], one.stderr + two.stderr).toEqual([0, 0]);
    // the second machine's run folders copied next to the first's, then the second database merged in
    cpSync(join(root, 'machine2', 'runs'), join(root, 'machine1', 'runs'), { recursive: true });
    const dry = await trainer('merge', m2, '--db', m1, '--runs', join(root, 'machine1', 'runs'), '--dry-run');
    expect(dry.stderr).toContain(`(dry run, nothing changed) ${m2}: 2 run(s) copied`);
    expect((JSON.parse((await trainer('status', '--db', m1, '--json')).stdout) as { runs: unknown[] }).runs).toHaveLength(1);
    const merged = await trainer('merge', m2, '--db', m1, '--runs', join(root, 'machine1', 'runs'));
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stderr).toContain(`${m2}: 2 run(s) copied, 0 replaced (killed here, ended there), 0 already here; 2 grid cell(s) filled`);
    const j = JSON.parse((await trainer('status', '--db', m1, '--json')).stdout) as { runs: { id: string; name: string; runDir: string }[]; cells: { key: string; status: string; runId: string }[] };
    expect(j.cells.map((c) => [c.key, c.status])).toEqual([['dice', 'DONE'], ['seed3', 'DONE'], ['seed4', 'DONE']]);
    for (const r of j.runs) expect(r.runDir).toBe(join(root, 'machine1', 'runs', r.id));
    // the whole grid on the first machine now has nothing left to run, and a merged run segments from its new folder
    const again = await trainer('grid', gridFile, '--profile', 'smoke', '--dataset', dataset, '--db', m1, '--backend', 'cpu');
    expect(JSON.parse(again.stdout.trim().split('\n').at(-1)!)).toMatchObject({ done: 0, reused: 0, skipped: 3 });
    rmSync(join(root, 'machine2'), { recursive: true });
    const seed4 = j.runs.find((r) => r.name === 'seed4')!;
    const seg = await trainer('segment', '--run', seed4.id, '--db', m1, '--input', join(dataset, 'imagesTr', `${ids[3]}_0000.nii.gz`), '--out', join(root, 'seg-merged'), '--backend', 'cpu');
    expect(seg.code, seg.stderr).toBe(0);
    // a source that is not there is named, and nothing is opened
    const m3 = join(root, 'machine3.db');
    const missing = await trainer('merge', m3, '--db', m1);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`error: ${m3}: no such database`);
  }, 180_000);

  test('segment --model RUN_DIR writes labels.nii.gz on a NIfTI input grid; on a DICOM series also rtstruct.dcm and seg.dcm; --run ID --db finds the same model', async () => {
    expect(runDir).not.toBe('');
    const image = join(dataset, 'imagesTr', `${ids[3]}_0000.nii.gz`);
    const input = readNifti(image);
    const ctDir = join(root, 'ct');
    writeCtSeries({ ...input, data: Int16Array.from(input.data as Float32Array) }, {
      dir: ctDir, seriesInstanceUID: '2.25.8101', studyInstanceUID: '2.25.8102', frameOfReferenceUID: '2.25.8103', patientId: 'CLI', patientName: 'Cli^Test',
    });
    const outNifti = join(root, 'seg-nifti');
    const outDicom = join(root, 'seg-dicom');
    const outByRun = join(root, 'seg-by-run');
    const outRtOnly = join(root, 'seg-rtstruct-only');
    // the same series with its upper slices 1.4 steps apart: segmented on its uniform grid
    const ctUneven = join(root, 'ct-uneven');
    const nz = input.shape[2], firstWide = Math.ceil(0.6 * nz);
    cpSync(ctDir, ctUneven, { recursive: true });
    for (const name of readdirSync(ctUneven)) {
      const k = Number(name.replace(/\D/g, '')) - 1;
      if (k <= firstWide) continue;
      const f = readDicomFile(join(ctUneven, name));
      f.dataset.ImagePositionPatient[2] = String(Number(f.dataset.ImagePositionPatient[2]) + 0.4 * input.spacing[2] * (k - firstWide));
      writeDicomFile(join(ctUneven, name), f.dataset, f.transferSyntaxUID);
    }
    const outUneven = join(root, 'seg-uneven');
    // the series stored near-lossless (GDCM's JPEG-LS, NEAR 2): refused unless --accept-lossy
    const ctLossy = join(root, 'ct-lossy');
    cpSync(ctDir, ctLossy, { recursive: true });
    for (const name of readdirSync(ctLossy)) expect(spawnSync('gdcmconv', ['--jpegls', '--lossy', '-e', '2', join(ctLossy, name), join(ctLossy, name)]).status).toBe(0);
    const [a, b, c, d, e, lossyRefused, lossyAccepted] = await Promise.all([
      trainer('segment', '--model', runDir, '--input', image, '--out', outNifti, '--backend', 'cpu'),
      trainer('segment', '--model', runDir, '--input', ctDir, '--out', outDicom, '--backend', 'cpu'),
      trainer('segment', '--run', runId, '--db', db, '--input', image, '--out', outByRun, '--review', '--backend', 'cpu'),
      trainer('segment', '--model', runDir, '--input', ctDir, '--out', outRtOnly, '--dicom', 'rtstruct', '--backend', 'cpu'),
      trainer('segment', '--model', runDir, '--input', ctUneven, '--out', outUneven, '--backend', 'cpu'),
      trainer('segment', '--model', runDir, '--input', ctLossy, '--out', join(root, 'seg-lossy-refused'), '--backend', 'cpu'),
      trainer('segment', '--model', runDir, '--input', ctLossy, '--out', join(root, 'seg-lossy'), '--accept-lossy', '--backend', 'cpu'),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(readdirSync(outNifti)).toEqual(['labels.nii.gz']);
    expect(a.stderr).toContain('no RTSTRUCT or SEG written');
    expect(JSON.parse(a.stdout.trim().split('\n').at(-1)!).labelsPath).toBe(join(outNifti, 'labels.nii.gz'));
    const labels = readNifti(join(outNifti, 'labels.nii.gz'));
    expect(labels.shape).toEqual(input.shape);
    expect(labels.spacing).toEqual(input.spacing);
    expect(labels.origin).toEqual(input.origin);
    expect(labels.direction).toEqual(input.direction);
    expect(labels.data).toBeInstanceOf(Uint8Array);
    // the curator's per-case checks of its contours, each warned of
    // (predicted volumes judged against those of the run's training cases, which its folder records)
    expect(Object.keys(trainingVolumes([runDir])).length).toBeGreaterThan(0);
    const findings = contourFindings(labels.data as Uint8Array, input, trainingVolumes([runDir]));
    expect(JSON.parse(a.stdout.trim().split('\n').at(-1)!).findings).toEqual(findings);
    for (const f of findings) expect(a.stderr).toContain(`check the contour (${f.check}): ${f.message}`);

    expect(b.code, b.stderr).toBe(0);
    expect(readdirSync(outDicom).sort()).toEqual(['labels.nii.gz', 'rtstruct.dcm', 'seg.dcm']);
    expect(Array.from(readNifti(join(outDicom, 'labels.nii.gz')).data as Uint8Array)).toEqual(Array.from(labels.data as Uint8Array));
    const rt = readDicomFile(join(outDicom, 'rtstruct.dcm')).dataset;
    expect(rt.Modality).toBe('RTSTRUCT');
    expect(rt.PatientID).toBe('CLI');
    expect(rt.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID).toBe('2.25.8103');
    // a planning system's checks: every text within its VR (the run folder's path is not written)
    expect(rt.StructureSetROISequence[0].ROIGenerationDescription).toBe(`anatomynet-ts run ${basename(runDir)}`);
    const seg = readDicomFile(join(outDicom, 'seg.dcm')).dataset;
    expect([seg.Modality, seg.PatientID, seg.FrameOfReferenceUID, seg.ContentDescription]).toEqual(['SEG', 'CLI', '2.25.8103', `anatomynet-ts run ${basename(runDir)}`]);
    expect(seg.SegmentSequence.map((s: { SegmentLabel: string }) => s.SegmentLabel)).toEqual(['Brainstem', 'OpticChiasm', 'Bone_Mandible', 'OpticNrv_L', 'OpticNrv_R', 'Parotid_L', 'Parotid_R', 'Glnd_Submand_L', 'Glnd_Submand_R']);
    if (hasDciodvfy) {
      for (const file of ['rtstruct.dcm', 'seg.dcm']) {
        const check = spawnSync('dciodvfy', [join(outDicom, file)], { encoding: 'utf8' });
        expect(`${check.stdout}${check.stderr}`.split('\n').filter((l) => /^Error/.test(l)), file).toEqual([]);
      }
    }

    expect(c.code, c.stderr).toBe(0);
    expect(Array.from(readNifti(join(outByRun, 'labels.nii.gz')).data as Uint8Array)).toEqual(Array.from(labels.data as Uint8Array));
    // --review: one offline page, a section per finding (its check and organs, with its slices), then every organ
    expect(JSON.parse(c.stdout.trim().split('\n').at(-1)!).reviewPath).toBe(join(outByRun, 'review.html'));
    const review = readFileSync(join(outByRun, 'review.html'), 'utf8');
    expect(review.match(/<section><h3>[^<]+<\/h3>/g) ?? []).toEqual(findings.map((f) => `<section><h3>${f.check} · ${f.organs.join(', ')}</h3>`));
    expect(review).toContain(findings.length ? `${findings.length} finding${findings.length === 1 ? '' : 's'} to look at first` : 'nothing found');
    expect(review.slice(review.indexOf('<h2>Every organ</h2>')).match(/<img src="data:image\/png;base64,/g)).toHaveLength(2);
    expect(review).not.toMatch(/https?:\/\//);
    // --dicom rtstruct: a folder a planning system can import whole
    expect(d.code, d.stderr).toBe(0);
    expect(readdirSync(outRtOnly).sort()).toEqual(['labels.nii.gz', 'rtstruct.dcm']);
    expect(JSON.parse(d.stdout.trim().split('\n').at(-1)!).segPath).toBeUndefined();
    // slice steps that vary: said, labels.nii.gz on the uniform grid at the smallest step, the DICOM objects on the acquired slices
    expect(e.code, e.stderr).toBe(0);
    const note = `${ctUneven}: slice steps vary from`;
    expect(e.stderr).toContain(note);
    expect(JSON.parse(e.stdout.trim().split('\n').at(-1)!).inputWarnings).toEqual([expect.stringMatching(/^slice steps vary from .* mm: resampled onto a uniform/)]);
    const unevenLabels = readNifti(join(outUneven, 'labels.nii.gz'));
    expect(unevenLabels.spacing[2]).toBeCloseTo(input.spacing[2], 4);
    expect(unevenLabels.shape[2]).toBe(Math.floor((nz - 1 + 0.4 * (nz - 1 - firstWide)) + 1e-3) + 1);
    expect(readdirSync(outUneven).sort()).toEqual(['labels.nii.gz', 'rtstruct.dcm', 'seg.dcm']);
    expect(lossyRefused.code).toBe(1);
    expect(lossyRefused.stderr).toMatch(/JPEG-LS Near-Lossless\) is lossy: .*--accept-lossy\)/);
    expect(lossyAccepted.code, lossyAccepted.stderr).toBe(0);
    expect(lossyAccepted.stderr).toMatch(new RegExp(`${ctLossy}: ${input.shape[2]} slices compressed lossy, read as accepted \\(JPEG-LS NEAR 2: ${input.shape[2]}\\)`));
    expect(readdirSync(join(root, 'seg-lossy')).sort()).toEqual(['labels.nii.gz', 'rtstruct.dcm', 'seg.dcm']);

    // Several inputs in one command: each into its own folder, the bad ones reported and skipped.
    const mask = join(root, 'mask-as-ct.nii.gz');
    writeNifti(mask, { ...labels, data: Int16Array.from(labels.data as Uint8Array) });
    const outMany = join(root, 'seg-many');
    const missing = join(root, 'no-such-ct.nrrd');
    const many = await trainer('segment', '--model', runDir, '--input', image, ctDir, missing, mask, join(root, 'ct') + '/', '--out', outMany, '--backend', 'cpu');
    expect(many.code, many.stderr).toBe(1);
    const summary = JSON.parse(readFileSync(join(outMany, 'segment-summary.json'), 'utf8'));
    expect(JSON.parse(many.stdout.trim().split('\n').at(-1)!)).toEqual(summary);
    const name = `${ids[3]}_0000`;
    expect(summary.cases.map((x: { folder: string; error?: string }) => [x.folder, x.error ?? 'ok'])).toEqual([
      [join(outMany, name), 'ok'],
      [join(outMany, 'ct'), 'ok'],
      [join(outMany, 'no-such-ct'), `${missing}: does not exist`],
      [join(outMany, 'mask-as-ct'), expect.stringMatching(/^.*mask-as-ct\.nii\.gz: does not look like a CT in Hounsfield units/)],
      [join(outMany, 'ct-2'), 'ok'],
    ]);
    expect(summary).toMatchObject({ models: [runDir], segmented: 3, failed: 2, withFindings: findings.length ? 3 : 0 });
    expect(summary.cases[0].findings).toEqual(findings);
    expect(many.stderr).toContain(`failed: ${missing}: ${missing}: does not exist`);
    expect(readdirSync(outMany).sort()).toEqual(['ct', 'ct-2', name, 'segment-summary.json'].sort());
    expect(readdirSync(join(outMany, 'ct')).sort()).toEqual(['labels.nii.gz', 'rtstruct.dcm', 'seg.dcm']);
    expect(summary.cases[1]).toMatchObject({ rtstruct: true, seg: true });
    expect(Array.from(readNifti(join(outMany, name, 'labels.nii.gz')).data as Uint8Array)).toEqual(Array.from(labels.data as Uint8Array));
    const oneSeries = await trainer('segment', '--model', runDir, '--input', image, ctDir, '--series', '2.25.8101', '--out', outMany, '--backend', 'cpu');
    expect(oneSeries.code).toBe(1);
    expect(oneSeries.stderr).toContain('--series picks one series of one input; give each series folder as its own --input');
  }, 120_000);

  test('--mirror: a model trained with left-right flips segments and is measured with its mirrored view averaged in (recorded); one trained without is refused', async () => {
    expect(runDir).not.toBe('');
    const image = join(dataset, 'imagesTr', `${ids[3]}_0000.nii.gz`);
    // the grid's runs trained without flips: refused before any output
    const [seg, ev] = await Promise.all([
      trainer('segment', '--model', runDir, '--input', image, '--out', join(root, 'mirror-refused'), '--mirror', '--backend', 'cpu'),
      trainer('evaluate', '--model', runDir, '--dataset', dataset, '--out', join(root, 'mirror-refused-ev'), '--mirror', '--backend', 'cpu'),
    ]);
    for (const r of [seg, ev]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`--mirror needs models trained with left-right flips (data.augment.flipLR above 0, as in experiments/fig6-final.json); trained without: ${runDir}. Leave out --mirror for this model`);
    }
    expect(existsSync(join(root, 'mirror-refused'))).toBe(false);
    expect(existsSync(join(root, 'mirror-refused-ev'))).toBe(false);

    const config = join(root, 'flips.json');
    writeFileSync(config, JSON.stringify({
      ...TINY_GRID_BASE,
      data: { ...TINY_GRID_BASE.data, augment: { ...PUBLIC_CODE_AUGMENT, probability: 0, flipLR: 0.5 } },
      schedule: { rmspropEpochs: 2, rmspropLr: 0.002, sgdEpochs: 0, sgdLr: 0.001, momentum: 0.9 },
    }));
    const t = await trainer('train', '--config', config, '--dataset', dataset, '--db', join(root, 'flips', 'flips.db'), '--backend', 'cpu');
    expect(t.code, t.stderr).toBe(0);
    const flipped = join(root, 'flips', 'runs', JSON.parse(t.stdout.trim().split('\n').at(-1)!).runId);
    const out = join(root, 'mirror-seg');
    const [mirrored, plain, measured, measuredPlain] = await Promise.all([
      trainer('segment', '--model', flipped, '--input', image, '--out', out, '--mirror', '--backend', 'cpu'),
      trainer('segment', '--model', flipped, '--input', image, '--out', join(root, 'mirror-seg-plain'), '--backend', 'cpu'),
      trainer('evaluate', '--model', flipped, '--dataset', dataset, '--split', 'test', '--out', join(root, 'mirror-ev'), '--mirror', '--backend', 'cpu'),
      trainer('evaluate', '--model', flipped, '--dataset', dataset, '--split', 'test', '--out', join(root, 'mirror-ev-plain'), '--backend', 'cpu'),
    ]);
    expect(mirrored.code, mirrored.stderr).toBe(0);
    expect(mirrored.stderr).toContain("test-time mirroring: each model's view of the left-right mirrored CT is averaged in");
    expect(JSON.parse(mirrored.stdout.trim().split('\n').at(-1)!)).toMatchObject({ models: [flipped], mirror: true });
    expect(JSON.parse(plain.stdout.trim().split('\n').at(-1)!)).toMatchObject({ models: [flipped], mirror: false });
    // the labels of the library's mirrored prediction, on the input's grid
    await selectBackend({ prefer: 'cpu', log: () => undefined });
    const { models, config: cfg } = loadRunEnsemble([flipped]);
    const volume = readNifti(image);
    const opts = { huWindow: cfg.data.huWindow, spacingMm: cfg.data.spacingMm, largestComponent: cfg.evaluation.largestComponent, componentMinShare: cfg.evaluation.componentMinShare };
    const expected = await segmentVolume(models, volume, { ...opts, mirror: true });
    expect(Array.from(await segmentVolume(models, volume, opts))).not.toEqual(Array.from(expected));
    models[0].dispose();
    expect(Array.from(readNifti(join(out, 'labels.nii.gz')).data as Uint8Array)).toEqual(Array.from(expected));
    expect(measured.code, measured.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(root, 'mirror-ev', 'summary.json'), 'utf8'))).toMatchObject({ model: flipped, split: 'test', mirror: true });
    // the effect of mirroring, measured: the same model with and without
    expect(measuredPlain.code, measuredPlain.stderr).toBe(0);
    const compared = await trainer('compare', join(root, 'mirror-ev-plain'), join(root, 'mirror-ev'));
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.stderr).toContain(`candidate ${join(root, 'mirror-ev')} (test-time mirroring) against baseline ${join(root, 'mirror-ev-plain')}:`);
    expect(JSON.parse(compared.stdout.trim().split('\n').at(-1)!)).toMatchObject({ baseline: { model: flipped, mirror: false }, candidate: { model: flipped, mirror: true } });
    // each side's contours the annotation checks flag: its metrics.csv's contour_finding rows
    const flaggedRows = (dir: string) => {
      const [head, ...lines] = parseCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8'));
      return lines.filter((l) => l[head.indexOf('contour_finding')]).length;
    };
    const counts = { baseline: flaggedRows(join(root, 'mirror-ev-plain')), candidate: flaggedRows(join(root, 'mirror-ev')) };
    expect(JSON.parse(compared.stdout.trim().split('\n').at(-1)!).contoursFlagged).toEqual(counts);
    expect(compared.stderr).toContain(`contours the annotation checks flag (sides, stray pieces, CT numbers, volumes; metrics.csv contour_finding): baseline ${counts.baseline}, candidate ${counts.candidate}`);
  }, 180_000);

  test('--tile: segment and evaluate tile by tile as the library does, recorded; a tile under 8 voxels or an overlap of 1 is refused', async () => {
    expect(runDir).not.toBe('');
    const image = join(dataset, 'imagesTr', `${ids[3]}_0000.nii.gz`);
    const out = join(root, 'tile-seg');
    const [tiled, measured, small, overlap] = await Promise.all([
      trainer('segment', '--model', runDir, '--input', image, '--out', out, '--tile', '8', '--tile-overlap', '0.25', '--backend', 'cpu'),
      trainer('evaluate', '--model', runDir, '--dataset', dataset, '--split', 'test', '--out', join(root, 'tile-ev'), '--tile', '8,9,10', '--backend', 'cpu'),
      trainer('segment', '--model', runDir, '--input', image, '--out', join(root, 'tile-small'), '--tile', '4', '--backend', 'cpu'),
      trainer('segment', '--model', runDir, '--input', image, '--out', join(root, 'tile-overlap'), '--tile', '8', '--tile-overlap', '1', '--backend', 'cpu'),
    ]);
    expect(tiled.code, tiled.stderr).toBe(0);
    const tile = { size: [8, 8, 8], overlap: 0.25 } as const;
    expect(JSON.parse(tiled.stdout.trim().split('\n').at(-1)!)).toMatchObject({ models: [runDir], mirror: false, tile });
    await selectBackend({ prefer: 'cpu', log: () => undefined });
    const { models, config: cfg } = loadRunEnsemble([runDir]);
    const volume = readNifti(image);
    const opts = { huWindow: cfg.data.huWindow, spacingMm: cfg.data.spacingMm, largestComponent: cfg.evaluation.largestComponent, componentMinShare: cfg.evaluation.componentMinShare };
    const expected = await segmentVolume(models, volume, { ...opts, tile: { size: [8, 8, 8], overlap: 0.25 } });
    models[0].dispose();
    expect(Array.from(readNifti(join(out, 'labels.nii.gz')).data as Uint8Array)).toEqual(Array.from(expected));
    expect(measured.code, measured.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(root, 'tile-ev', 'summary.json'), 'utf8'))).toMatchObject({ model: runDir, tile: { size: [8, 9, 10], overlap: 0.5 } });
    for (const [r, why] of [[small, '--tile 4: give N or X,Y,Z, whole numbers of voxels of at least 8'], [overlap, '--tile-overlap 1 is not in [0, 1)']] as const) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(why);
    }
    expect(existsSync(join(root, 'tile-small'))).toBe(false);
  }, 120_000);

  test('a grid file with a bad row exits 1 naming the file, the row and the field; nothing is trained', async () => {
    const bad = writeTinyGrid(join(root, 'bad-grid.json'), 'bad-grid', [{ key: 'deep', label: 'deep', override: { model: { pools: 7 } } }]);
    const r = await trainer('grid', bad, '--profile', 'smoke', '--dataset', dataset, '--db', db, '--backend', 'cpu');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: ${bad}: row "deep", profile "smoke": run config field "model.pools" = 7`);
  });

  test('SIGTERM during a grid cell marks its run KILLED (checkpoint kept) and its cell FAILED, to be continued by the next grid pass', async () => {
    const slowGrid = writeTinyGrid(join(root, 'slow-grid.json'), 'slow-grid', [
      { key: 'slow', label: 'long schedule', override: { schedule: { rmspropEpochs: 500, rmspropLr: 0.002, sgdEpochs: 0, sgdLr: 0.001, momentum: 0.9 } } },
    ]);
    const killDb = join(root, 'kill', 'tracking.db');
    const p = spawn(process.execPath, ['--import', 'tsx', 'apps/trainer/src/main.ts', 'grid', slowGrid, '--profile', 'smoke', '--dataset', dataset, '--db', killDb, '--backend', 'cpu'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => p.on('close', resolve));
    // Progress lines (every 5 s off a terminal) name the epoch: wait until at least one epoch has closed with a checkpoint.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no progress past epoch 2 within 90 s: ${stderr}`)), 90_000);
      p.stderr.on('data', (d) => {
        stderr += d;
        if (/epoch ([3-9]|\d\d+)\/500/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    p.kill('SIGTERM');
    expect(await exited).toBe(143);
    const runId = /SIGTERM: marking run ([0-9a-f-]{36}) KILLED; run this grid command again to continue it/.exec(stderr)?.[1];
    expect(runId, stderr).toBeDefined();
    expect(readdirSync(join(root, 'kill', 'runs', runId!, 'checkpoints')).length).toBeGreaterThan(0);

    const after = await trainer('status', '--db', killDb, '--json');
    expect(after.code, after.stderr).toBe(0);
    expect((await trainer('status', '--db', killDb)).stdout).toContain('grid slow-grid@smoke: 0/1 done, 1 failed\n');
    const { runs, cells } = JSON.parse(after.stdout) as { runs: { id: string; status: string; errorText: string }[]; cells: { key: string; status: string; runId: string; error: string }[] };
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: runId, status: 'KILLED', errorText: 'interrupted by SIGTERM' });
    expect(cells).toHaveLength(1);
    // The killed run stays attached: the next `grid` pass continues it (libs/training grid.test.ts runs that).
    expect(cells[0]).toMatchObject({ key: 'slow', status: 'FAILED', runId, error: 'interrupted by SIGTERM' });
  }, 150_000);

  test('train --resume RUN_ID alone continues a killed run with its own config; another config is refused naming the fields', async () => {
    const resumeDb = join(root, 'resume', 'tracking.db');
    mkdirSync(dirname(resumeDb), { recursive: true });
    const store = openSqliteStore(resumeDb);
    await selectBackend({ prefer: 'cpu', log: () => undefined });
    const [cell] = planGrid(readGridFile(gridFile), 'smoke', gridFile);
    // Stopped after its first epoch of two, with a checkpoint: what Ctrl-C leaves.
    const killed = await trainRun({ config: cell.config, datasetDir: dataset, store, experiment: 'resume-test', runName: 'killed', runsDir: join(root, 'resume', 'runs'), stopAfterEpochs: 1 });
    await store.close();
    expect(killed.status).toBe('KILLED');

    const other = await trainer('train', '--resume', killed.runId, '--grid', gridFile, '--row', 'dice', '--profile', 'smoke', '--dataset', dataset, '--db', resumeDb, '--backend', 'cpu');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`--resume ${killed.runId}: the config differs from the run's (loss.alpha: 0.5 -> (none), loss.beta: 0.5 -> (none), loss.lambda: 0.5 -> (none), loss.name: "dice+ce" -> "dice"); resume without --config or --grid to use the run's own`);
    const unknown = await trainer('train', '--resume', 'no-such-run', '--dataset', dataset, '--db', resumeDb, '--backend', 'cpu');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`--resume no-such-run: no such run in ${resumeDb}`);

    // Its best checkpoint so far segments, saying the run did not finish.
    const early = await trainer('segment', '--run', killed.runId, '--db', resumeDb, '--input', join(dataset, 'imagesTr', `${ids[3]}_0000.nii.gz`), '--out', join(root, 'seg-killed'), '--backend', 'cpu');
    expect(early.code, early.stderr).toBe(0);
    expect(early.stderr).toContain(`warning: run ${killed.runId} is KILLED, not FINISHED: its best checkpoint so far is used`);
    expect(existsSync(join(root, 'seg-killed', 'labels.nii.gz'))).toBe(true);
    // a run started before training-cases.json was kept gets it on resuming
    const record = join(root, 'resume', 'runs', killed.runId, 'training-cases.json');
    expect(JSON.parse(readFileSync(record, 'utf8')).train.map((c: { caseId: string }) => c.caseId)).toEqual(ids.slice(0, 2));
    rmSync(record);
    const r = await trainer('train', '--resume', killed.runId, '--dataset', dataset, '--db', resumeDb, '--backend', 'cpu');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ runId: killed.runId, status: 'FINISHED' });
    expect(JSON.parse(readFileSync(record, 'utf8')).validation.map((c: { caseId: string }) => c.caseId)).toEqual([ids[2]]);
    expect(r.stderr).toContain('train killed');
  }, 120_000);

  test('grid names a cell held by a worker silent for a long time, and how to free it', async () => {
    const silentDb = join(root, 'silent', 'tracking.db');
    mkdirSync(dirname(silentDb), { recursive: true });
    const [cell] = planGrid(readGridFile(gridFile), 'smoke', gridFile);
    const store = openSqliteStore(silentDb);
    await store.registerCells(cell.grid, [{ key: cell.key, digest: cell.digest }]);
    await store.claimCell(cell.grid, cell.key, 'gpu-box:4242', { digest: cell.digest });
    const run = await store.createRun({ experiment: cell.grid, name: cell.key, config: cell.config, startTime: Date.now() - 3 * 3_600_000 });
    await store.updateCell(cell.grid, cell.key, { runId: run.id });
    await store.heartbeat(run.id, Date.now() - 2 * 3_600_000);
    await store.close();
    const g = await trainer('grid', `${gridFile}:${cell.key}`, '--profile', 'smoke', '--dataset', dataset, '--db', silentDb, '--backend', 'cpu');
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout.trim().split('\n').at(-1)!)).toMatchObject({ done: 0, skipped: 1 });
    expect(g.stderr).toContain(`cell ${cell.grid} ${cell.key}: held by worker gpu-box:4242, run ${run.id}, silent for 120 min; if that worker is gone, \`trainer status --db ${silentDb} --stale-minutes 120\` frees the cell`);
  });

  test('status shows how far a RUNNING run is: epochs done, the time left at its recent pace, its last heartbeat', async () => {
    const liveDb = join(root, 'live', 'tracking.db');
    mkdirSync(dirname(liveDb), { recursive: true });
    const store = openSqliteStore(liveDb);
    const now = Date.now();
    const run = await store.createRun({ experiment: 'fig3-pooling@full', name: 'pool2', config: { schedule: { rmspropEpochs: 150, sgdEpochs: 50 } }, startTime: now - 3_600_000 });
    // 12 epochs closed, one every 5 minutes, the last one a minute ago
    await store.logMetrics(Array.from({ length: 12 }, (_, e) => ({ runId: run.id, key: 'train/epoch_loss', step: e, value: 1, time: now - 60_000 - (11 - e) * 300_000 })));
    await store.heartbeat(run.id, now - 30_000);
    await store.close();
    const s = await trainer('status', '--db', liveDb);
    expect(s.code, s.stderr).toBe(0);
    // 188 epochs at 5 min: 15 h 40 min
    expect(s.stdout).toMatch(/\n {6}epoch 12\/200 done, about 15:40:00 left \(05:00 per epoch\); last heartbeat 00:3\d ago\n/);
    const j = JSON.parse((await trainer('status', '--db', liveDb, '--json')).stdout) as { runs: { progress: { done: number; epochs: number; msPerEpoch: number } }[] };
    expect(j.runs[0].progress).toMatchObject({ done: 12, epochs: 200, msPerEpoch: 300_000 });
  });

  test('status on a path with no database says so (exit 1) and creates nothing', async () => {
    const missing = join(root, 'typo', 'tracking.db');
    const r = await trainer('status', '--db', missing);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: ${missing}: no tracking database there`);
    expect(existsSync(join(root, 'typo'))).toBe(false);
    const stale = await trainer('status', '--db', missing, '--stale-minutes', '-5');
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('--stale-minutes -5: give minutes, 0 or more');
  });
});
