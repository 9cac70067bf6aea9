/** `curator validate DIR`: checksums, geometry, labels vs availability, splits; non-zero exit on problems. */
import type { Argv, CommandModule } from 'yargs';
import { validateDataset } from '@anatomynet/curation';
import { createProgressBar } from '@anatomynet/cli';

interface ValidateArgs {
  dir: string;
  quiet: boolean;
}

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <dir>',
  describe: 'Check a published dataset folder: SHA256SUMS, dataset.json, manifest geometry, labels against availability and organ geometry, annotation findings, splits, no UIDs',
  builder: (y: Argv) =>
    y
      .positional('dir', { type: 'string', demandOption: true, describe: 'published dataset folder' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress bar' })
      .strict() as Argv<ValidateArgs>,
  handler: async (args) => {
    const bar = args.quiet ? null : createProgressBar('validate');
    const r = await validateDataset(args.dir, (d, t) => bar?.update(d, t));
    bar?.finish();
    for (const p of r.problems) process.stderr.write(`problem: ${p}\n`);
    process.stdout.write(r.ok ? `ok: ${r.cases} cases, ${r.filesChecked} files checked\n` : `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} in ${args.dir}\n`);
    process.exitCode = r.ok ? 0 : 1;
  },
};
