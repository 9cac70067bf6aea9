import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { createProgressBar } from '@anatomynet/cli';
import { NOT_A_NUMBER_HU, writeFileAtomic } from '@anatomynet/data';
import { generationDescriptionOf, loadInputCt, outputNamesFor, segmentToFiles, trainingVolumes, type ContourFinding, type DicomOutput, type TileOptions } from '@anatomynet/training';
import { loadModelsOf, makeOutputFolder, modelFoldersOf, startBackend, tileOptionsOf, withModelOptions, withBackendOption, type GpuArgs } from '../common';

interface SegmentArgs extends GpuArgs {
  run?: string[];
  db?: string;
  model?: string[];
  rowSeeds?: string;
  input: string[];
  out: string;
  series?: string;
  lcc: boolean;
  lccMinShare?: number;
  mirror: boolean;
  tile?: string;
  tileOverlap: number;
  huCheck: boolean;
  acceptLossy: boolean;
  review: boolean;
  dicom: DicomOutput[];
  backend?: string;
  threads?: number;
}

export const segmentCommand: CommandModule<object, SegmentArgs> = {
  command: 'segment',
  describe: 'Segment a CT (DICOM series folder, Enhanced CT file, NIfTI or NRRD) into a NIfTI label map, a DICOM RTSTRUCT and a DICOM SEG, and warn of contours to check (sides, stray pieces, CT numbers)',
  builder: (y) =>
    withBackendOption(
      withModelOptions(y)
        .option('input', {
          type: 'string',
          array: true,
          demandOption: true,
          describe: 'DICOM series folder (single-frame or Enhanced CT images), an Enhanced CT .dcm file, .nii/.nii.gz or .nrrd; several (e.g. cases/*) are segmented in turn, each into <out>/<its name>, with the model loaded once',
        })
        .option('out', { type: 'string', demandOption: true, describe: 'output folder: labels.nii.gz, and rtstruct.dcm and seg.dcm for DICOM input (several inputs: a folder each, and segment-summary.json)' })
        .option('series', { type: 'string', describe: 'SeriesInstanceUID, when the folder holds several CT series' })
        .option('dicom', {
          type: 'string',
          array: true,
          choices: ['rtstruct', 'seg'] as const,
          default: ['rtstruct', 'seg'],
          describe: 'DICOM objects written for DICOM input: rtstruct.dcm (contours, for planning systems), seg.dcm (voxels, for viewers and archives); e.g. --dicom rtstruct for a folder a planning system imports whole',
        })
        .option('review', { type: 'boolean', default: false, describe: 'also write review.html: each contour the checks flag drawn over the CT (axial and coronal), then every organ; one offline page a physicist opens first' })
        .option('accept-lossy', { type: 'boolean', default: false, describe: 'segment a DICOM CT stored lossy-compressed (near-lossless JPEG-LS, irreversible or truncated JPEG 2000 and HTJ2K) instead of refusing it; said in the output, as its CT numbers are not the scan\'s' })
        .option('hu-check', { type: 'boolean', default: true, describe: 'refuse an input without air (below -500) or bone (above 200): not a CT in Hounsfield units (--no-hu-check to segment it anyway)' })
        .option('lcc', { type: 'boolean', default: true, describe: 'keep the largest connected component per organ (--no-lcc to disable)' })
        .option('lcc-min-share', { type: 'number', describe: 'with --lcc, also keep components of at least this share of the largest, in (0, 1] (default: the run\'s evaluation.componentMinShare)' })
        .check((a) => ((a.input as string[]).length > 1 && a.series ? '--series picks one series of one input; give each series folder as its own --input' : true))
        .check((a) => {
          const share = a.lccMinShare as number | undefined;
          return share === undefined || (share > 0 && share <= 1) ? true : `--lcc-min-share ${share} is not in (0, 1]`;
        }),
    ) as any,
  handler: async (a) => {
    const runDirs = await modelFoldersOf(a);
    await startBackend(a.backend, a.threads, a);
    const { models, config } = loadModelsOf(runDirs, a.mirror);
    const options = {
      huWindow: config.data.huWindow,
      spacingMm: config.data.spacingMm,
      largestComponent: a.lcc,
      componentMinShare: a.lccMinShare ?? config.evaluation.componentMinShare,
      mirror: a.mirror,
      tile: tileOptionsOf(a),
      // what each predicted organ's volume is judged against: the models' training cases'
      trainingVolumesMl: trainingVolumes(runDirs),
      generationDescription: generationDescriptionOf(runDirs),
      dicom: a.dicom,
    };
    const segmentOne = async (path: string, out: string) => {
      const input = loadInputCt(path, a.series, { huCheck: a.huCheck, acceptLossy: a.acceptLossy });
      makeOutputFolder(out, '--out');
      if (input.notNumbers) console.error(`${path}: ${input.notNumbers} voxels are not numbers (NaN), segmented as air (${NOT_A_NUMBER_HU} HU)`);
      for (const w of input.warnings) console.error(`${path}: ${w}`);
      const r = await segmentToFiles(models, input, out, { ...options, ...(a.review ? { review: { input: path, models: runDirs } } : {}) });
      return { ...r, models: runDirs, mirror: a.mirror, tile: options.tile ?? null, shape: input.volume.shape, seconds: Number(r.seconds.toFixed(3)), inputWarnings: input.warnings };
    };
    try {
      if (a.input.length === 1) {
        const r = await segmentOne(a.input[0], a.out);
        console.error(`segmented ${r.shape.join('x')} voxels in ${r.seconds.toFixed(2)} s per volume`);
        for (const f of r.findings) console.error(findingLine(f));
        if (!r.rtstructPath && !r.segPath && a.dicom.length) console.error('input is not a DICOM series: no RTSTRUCT or SEG written (each must reference the CT series it is drawn on)');
        const { shape: _shape, ...result } = r;
        console.log(JSON.stringify(result));
        return;
      }
      await segmentMany(a.input, a.out, { models: runDirs, mirror: a.mirror, tile: options.tile ?? null }, segmentOne);
    } finally {
      for (const m of models) m.dispose();
    }
  },
};

/**
 * Several inputs, in turn, each into its own folder under `out`: a bad input is reported and skipped, the
 * others are segmented, and `segment-summary.json` lists every input with its folder and outcome.
 */
async function segmentMany(
  inputs: string[],
  out: string,
  model: { models: string[]; mirror: boolean; tile: TileOptions | null },
  segmentOne: (path: string, out: string) => Promise<{ seconds: number; rtstructPath?: string; segPath?: string; reviewPath?: string; findings: ContourFinding[]; inputWarnings: string[] }>,
) {
  makeOutputFolder(out, '--out');
  const names = outputNamesFor(inputs);
  const bar = createProgressBar('segment');
  const cases: { input: string; folder: string; seconds?: number; rtstruct?: boolean; seg?: boolean; review?: boolean; findings?: ContourFinding[]; inputWarnings?: string[]; error?: string }[] = [];
  for (const [i, input] of inputs.entries()) {
    const folder = join(out, names[i]);
    try {
      const r = await segmentOne(input, folder);
      cases.push({ input, folder, seconds: r.seconds, rtstruct: Boolean(r.rtstructPath), seg: Boolean(r.segPath), ...(r.reviewPath ? { review: true } : {}), findings: r.findings, inputWarnings: r.inputWarnings });
      for (const f of r.findings) bar.log(`${names[i]}: ${findingLine(f)}`);
    } catch (e) {
      cases.push({ input, folder, error: (e as Error).message });
      bar.log(`skipped ${input}: ${(e as Error).message}`);
    }
    bar.update(i + 1, inputs.length, names[i]);
  }
  const failed = cases.filter((c) => c.error);
  const flagged = cases.filter((c) => c.findings?.length).length;
  bar.finish(`${cases.length - failed.length} of ${cases.length} segmented${flagged ? `; contours to check in ${flagged}` : ''}`);
  // which model (run folders; several: an ensemble) drew every contour here, whether mirroring was averaged in, the tiles if any
  const summary = { ...model, segmented: cases.length - failed.length, failed: failed.length, withFindings: flagged, cases };
  writeFileAtomic(join(out, 'segment-summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
  for (const c of failed) console.error(`failed: ${c.input}: ${c.error}`);
  console.log(JSON.stringify(summary));
  if (failed.length) process.exitCode = 1;
}

/** A contour finding as the CLI warns of it: look at this contour before using it. */
function findingLine(f: ContourFinding): string {
  return `check the contour (${f.check}): ${f.message}`;
}
