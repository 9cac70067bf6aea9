import { existsSync, readFileSync, statSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { createProgressBar } from '@anatomynet/cli';
import { loadTunedTilings, parseTunedTilings, selectBackend, tunedTilings } from '@anatomynet/compute';
import { writeFileAtomic } from '@anatomynet/data';
import { planGrid, readGridFile, tuneModelConvs } from '@anatomynet/training';
import { readRunConfigFile } from '../common';
import { parseInputShape } from './model';

interface TuneGpuArgs {
  config?: string;
  grid?: string[];
  profile: string;
  out: string;
  shape: string;
  reps: number;
  retune: boolean;
}

/** The distinct model configs of a run config file, or of every row of the grid files. */
function modelConfigsOf(a: TuneGpuArgs): unknown[] {
  if (a.grid && a.grid.length > 0) {
    const models = a.grid.flatMap((file) => planGrid(readGridFile(file), a.profile, file).map((c) => c.config.model));
    return [...new Map(models.map((m) => [JSON.stringify(m), m])).values()];
  }
  if (!a.config) throw new Error('give --config RUN.json or --grid FILE');
  return [readRunConfigFile(a.config).model];
}

/**
 * `trainer tune-gpu`: cuDNN's benchmark mode, kept in a file. Every conv class of the model(s) is
 * timed on this GPU with every kernel and tiling candidate (libs/compute autotune.ts) and the
 * fastest written to --out, for `train|grid|segment --gpu-tilings FILE`.
 */
export const tuneGpuCommand: CommandModule<object, TuneGpuArgs> = {
  command: 'tune-gpu',
  describe: 'Time every conv kernel candidate of a model on this GPU (webgpu) and write the fastest to a file for --gpu-tilings',
  builder: (y) =>
    y
      .option('config', { type: 'string', describe: 'run config JSON: its model is tuned' })
      .option('grid', { type: 'string', array: true, describe: 'experiments/<grid>.json (repeatable): every row\'s model is tuned, each distinct model once' })
      .option('profile', { type: 'string', default: 'full', describe: 'grid profile: full (paper settings) or smoke (CPU-sized)' })
      .option('out', { type: 'string', demandOption: true, describe: 'tilings JSON to write (train|grid|segment --gpu-tilings FILE), after each conv class. If it exists, its entries are kept and the conv passes it holds are not timed again (unless --retune), so an interrupted tuning continues where it stopped' })
      .option('shape', { type: 'string', default: '64,128,128', describe: 'input size D,H,W the convs are timed at (tilings serve any size; the GPU bench uses 64,128,128)' })
      .option('reps', { type: 'number', default: 2, describe: 'timed runs per candidate' })
      .option('retune', { type: 'boolean', default: false, describe: 'time the classes --out already holds again (their entries compete with the candidates)' })
      .check((a) => (!a.config && !a.grid ? 'give --config RUN.json or --grid FILE' : true))
      .check((a) => (Number.isInteger(a.reps) && (a.reps as number) >= 1 ? true : `--reps ${a.reps}: give a whole number of timed runs, 1 or more`)) as any,
  handler: async (a) => {
    const shape = parseInputShape(a.shape) as [number, number, number];
    const models = modelConfigsOf(a);
    if (existsSync(a.out) && statSync(a.out).isDirectory()) throw new Error(`--out ${a.out}: a folder is there; give the tilings JSON file's path`);
    // no WebGPU adapter: BackendUnavailableError, which says why
    const choice = await selectBackend({ prefer: 'webgpu' });
    const kept = existsSync(a.out) ? parseTunedTilings(readFileSync(a.out, 'utf8'), a.out) : {};
    loadTunedTilings(kept);
    const started = Date.now();
    const save = () => writeFileAtomic(a.out, JSON.stringify(tunedTilings(), null, 1));
    const bar = createProgressBar('tune-gpu');
    const skipped: string[] = [];
    let tuned = 0;
    for (const [i, model] of models.entries()) {
      const reports = await tuneModelConvs(model, shape, {
        reps: a.reps,
        // the passes the file holds are timed again only on --retune (their entries competing)
        untunedOnly: !a.retune,
        onClass: (r, done, total) => {
          bar.update(done, total, `model ${i + 1}/${models.length} ${r.key}`);
          if (r.skipped) skipped.push(`${r.key}: ${r.skipped}`);
          else tuned += r.results!.length;
          // written after each class, so an interrupted tuning keeps what it timed
          save();
        },
      });
      bar.log(`model ${i + 1}/${models.length}: ${reports.length} conv classes`);
    }
    bar.finish();
    save();
    for (const s of skipped) process.stderr.write(`skipped ${s}\n`);
    console.log(JSON.stringify({ out: a.out, models: models.length, passesTimed: tuned, entries: Object.keys(tunedTilings()).length, kept: Object.keys(kept).length, skipped: skipped.length, seconds: (Date.now() - started) / 1000, adapter: choice.adapter?.description }));
  },
};
