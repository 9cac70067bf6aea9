#!/usr/bin/env node
/** curator: synth, curate, validate. Thin yargs CLI over @anatomynet/curation. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import yargs, { type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { curateCommand } from './commands/curate';
import { validateCommand } from './commands/validate';

/** The synth command lives in its own module (another owner); the CLI runs without it. */
async function loadSynth(): Promise<CommandModule<any, any> | null> {
  const url = new URL('./commands/synth.ts', import.meta.url);
  if (!existsSync(fileURLToPath(url))) return null;
  const mod = (await import(url.href)) as { synthCommand?: CommandModule<any, any> };
  return mod.synthCommand ?? null;
}

/**
 * Run the CLI on `argv` (without node and script). With `output`, yargs hands its text (help, errors)
 * to it instead of printing and exiting (tests).
 */
export async function main(argv: string[], opts: { output?: (text: string) => void } = {}): Promise<void> {
  const synth = await loadSynth();
  let cli = yargs(argv).scriptName('curator').usage('$0 <command> [options]');
  if (synth) cli = cli.command(synth);
  cli = cli
    .command(curateCommand)
    .command(validateCommand)
    .demandCommand(1, 'name a command: curate, validate' + (synth ? ', synth' : ''))
    .strict()
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
