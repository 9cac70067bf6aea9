#!/usr/bin/env node
/** curator: synth, curate, validate, review. Thin yargs CLI over @anatomynet/curation (review: @anatomynet/reporting). */
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { curateCommand } from './commands/curate';
import { synthCommand } from './commands/synth';
import { validateCommand } from './commands/validate';
import { reviewCommand } from './commands/review';

/**
 * Run the CLI on `argv` (without node and script). With `output`, yargs hands its text (help, errors)
 * to it instead of printing and exiting (tests).
 */
export async function main(argv: string[], opts: { output?: (text: string) => void } = {}): Promise<void> {
  const cli = yargs(argv)
    .scriptName('curator')
    .usage('$0 <command> [options]')
    .command(synthCommand)
    .command(curateCommand)
    .command(validateCommand)
    .command(reviewCommand)
    .demandCommand(1, 'name a command: synth, curate, validate, review')
    .strict()
    .fail((msg, err, y) => {
      // A library's error (a bad input, nothing to publish) goes to the caller, which prints its message
      // alone; yargs would print the help and a stack.
      if (err instanceof Error) throw err;
      if (opts.output) return opts.output(`${msg ?? err}`);
      y.showHelp();
      process.stderr.write(`\n${msg ?? err}\n`);
      process.exit(1);
    })
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .exitProcess(!opts.output);
  if (opts.output) await cli.parseAsync(argv, {}, (_err, _args, text) => { if (text) opts.output!(text); });
  else await cli.parseAsync();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(hideBin(process.argv)).catch((e: unknown) => {
    process.stderr.write(`curator: ${(e as Error).message ?? String(e)}\n`);
    process.exitCode = 2;
  });
}
