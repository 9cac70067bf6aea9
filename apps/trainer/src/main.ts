#!/usr/bin/env node
// The trainer CLI: each command lives in commands/<name>.ts and is registered here.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { compareCommand } from './commands/compare';
import { evaluateCommand } from './commands/evaluate';
import { gridCommand } from './commands/grid';
import { mergeCommand } from './commands/merge';
import { modelCommand } from './commands/model';
import { segmentCommand } from './commands/segment';
import { statusCommand } from './commands/status';
import { trainCommand } from './commands/train';
import { tuneGpuCommand } from './commands/tune-gpu';

try {
  await yargs(hideBin(process.argv))
    .scriptName('trainer')
    .command(modelCommand)
    .command(trainCommand)
    .command(gridCommand)
    .command(statusCommand)
    .command(mergeCommand)
    .command(segmentCommand)
    .command(evaluateCommand)
    .command(compareCommand)
    .command(tuneGpuCommand)
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .fail((msg, err, y) => {
      // yargs passes a failed .check()'s message as err too, a string: a usage mistake, not a crash
      if (err instanceof Error) throw err;
      // Usage mistakes get the help text.
      y.showHelp();
      console.error(`\n${msg ?? err}`);
      process.exit(1);
    })
    .help()
    .parseAsync();
} catch (e) {
  // Errors from the libraries (bad config, unreadable file) get their message, not a stack.
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
}
