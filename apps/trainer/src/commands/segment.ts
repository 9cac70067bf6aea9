import type { CommandModule } from 'yargs';
import { NOT_A_NUMBER_HU } from '@anatomynet/data';
import { loadInputCt, loadRunModel, segmentToFiles } from '@anatomynet/training';
import { makeOutputFolder, openStore, startBackend, withBackendOption, type GpuArgs } from '../common';

interface SegmentArgs extends GpuArgs {
  run?: string;
  db?: string;
  model?: string;
  input: string;
  out: string;
  series?: string;
  lcc: boolean;
  lccMinShare?: number;
  huCheck: boolean;
  backend?: string;
  threads?: number;
}

export const segmentCommand: CommandModule<object, SegmentArgs> = {
  command: 'segment',
  describe: 'Segment a CT (DICOM series folder, NIfTI or NRRD) into a NIfTI label map and a DICOM RTSTRUCT',
  builder: (y) =>
    withBackendOption(
      y
        .option('run', { type: 'string', describe: 'run id in --db whose best checkpoint to use' })
        .option('db', { type: 'string', describe: 'tracking database (with --run)' })
        .option('model', { type: 'string', describe: 'a run folder (holding run-config.json and best/), instead of --run' })
        .option('input', { type: 'string', demandOption: true, describe: 'DICOM series folder, .nii/.nii.gz or .nrrd' })
        .option('out', { type: 'string', demandOption: true, describe: 'output folder: labels.nii.gz, and rtstruct.dcm for DICOM input' })
        .option('series', { type: 'string', describe: 'SeriesInstanceUID, when the folder holds several CT series' })
        .option('hu-check', { type: 'boolean', default: true, describe: 'refuse an input without air (below -500) or bone (above 200): not a CT in Hounsfield units (--no-hu-check to segment it anyway)' })
        .option('lcc', { type: 'boolean', default: true, describe: 'keep the largest connected component per organ (--no-lcc to disable)' })
        .option('lcc-min-share', { type: 'number', describe: 'with --lcc, also keep components of at least this share of the largest, in (0, 1] (default: the run\'s evaluation.componentMinShare)' })
        .check((a) => (a.model || (a.run && a.db) ? true : 'give --model RUN_FOLDER, or --run RUN_ID with --db FILE'))
        .check((a) => {
          const share = a.lccMinShare as number | undefined;
          return share === undefined || (share > 0 && share <= 1) ? true : `--lcc-min-share ${share} is not in (0, 1]`;
        }),
    ) as any,
  handler: async (a) => {
    let runDir = a.model;
    if (!runDir) {
      const store = openStore(a.db!);
      const run = await store.getRun(a.run!);
      await store.close();
      if (!run) throw new Error(`${a.db}: no run ${a.run}`);
      if (!run.runDir) throw new Error(`run ${a.run} has no run folder recorded`);
      if (run.status !== 'FINISHED') console.error(`warning: run ${run.id} is ${run.status}, not FINISHED: its best checkpoint so far is used`);
      runDir = run.runDir;
    }
    await startBackend(a.backend, a.threads, a);
    const { model, config } = loadRunModel(runDir);
    const input = loadInputCt(a.input, a.series, { huCheck: a.huCheck });
    makeOutputFolder(a.out, '--out');
    if (input.notNumbers) console.error(`${a.input}: ${input.notNumbers} voxels are not numbers (NaN), segmented as air (${NOT_A_NUMBER_HU} HU)`);
    const r = await segmentToFiles(model, input, a.out, {
      huWindow: config.data.huWindow,
      spacingMm: config.data.spacingMm,
      largestComponent: a.lcc,
      componentMinShare: a.lccMinShare ?? config.evaluation.componentMinShare,
      generationDescription: `AnatomyNet (anatomynet-ts), run folder ${runDir}`,
    });
    model.dispose();
    console.error(`segmented ${input.volume.shape.join('x')} voxels in ${r.seconds.toFixed(2)} s per volume`);
    if (!r.rtstructPath) console.error('input is not a DICOM series: no RTSTRUCT written (it must reference the CT series it is drawn on)');
    console.log(JSON.stringify({ ...r, seconds: Number(r.seconds.toFixed(3)) }));
  },
};
