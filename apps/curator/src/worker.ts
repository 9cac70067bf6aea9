/** Child process of the case pool: curate each CaseTask it is sent, answer with the CaseOutcome. */
import { curateCase, type CaseTask } from '@anatomynet/curation';

process.on('message', (task: CaseTask) => {
  process.send!(curateCase(task));
});
process.on('disconnect', () => process.exit(0));
