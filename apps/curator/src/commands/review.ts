/** `curator review DIR`: one offline HTML page with the slices behind each annotation finding. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { writeFileAtomic } from '@anatomynet/data';
import { buildAnnotationReview, openDataset, renderAnnotationReviewHtml } from '@anatomynet/curation';

interface ReviewArgs {
  dir: string;
  out?: string;
  private?: string;
  case?: string[];
  all: boolean;
}

export const reviewCommand: CommandModule<object, ReviewArgs> = {
  command: 'review <dir>',
  describe: "Write an HTML page with the slices behind each of the annotation checks' findings (axial and coronal views of the flagged organs), and where each case came from",
  builder: (y: Argv) =>
    y
      .positional('dir', { type: 'string', demandOption: true, describe: 'published dataset folder' })
      .option('private', { type: 'string', describe: 'its private folder, for the source of each case (default <dir>.private)' })
      .option('out', { type: 'string', describe: 'the page to write (default <private folder>/annotation-review.html: it names the sources, so it stays private)' })
      .option('case', { type: 'string', array: true, describe: 'only these cases (repeat)' })
      .option('all', { type: 'boolean', default: false, describe: 'also draw every case (or each --case) with all its organs in colour, findings or not: a look at the whole cohort' })
      .example('$0 review data/hn', 'data/hn.private/annotation-review.html')
      .example('$0 review data/hn --all --out qa.html', 'the findings, then every case with its organs')
      .strict() as Argv<ReviewArgs>,
  handler: (args) => {
    const dir = resolve(args.dir);
    const { manifest } = openDataset(dir);
    const privateDir = resolve(args.private ?? `${dir}.private`);
    const out = resolve(args.out ?? join(privateDir, 'annotation-review.html'));
    if (!args.out && !existsSync(privateDir)) throw new Error(`${privateDir}: no private folder, where the page would go; give --out FILE (or --private DIR)`);
    if (!existsSync(dirname(out))) throw new Error(`${dirname(out)}: no such folder for --out`);
    const mapFile = join(privateDir, 'source-map.json');
    const sources = existsSync(mapFile)
      ? Object.fromEntries(Object.entries((JSON.parse(readFileSync(mapFile, 'utf8')) as { cases: Record<string, { location: string }> }).cases).map(([id, c]) => [id, c.location]))
      : {};
    const unknown = (args.case ?? []).filter((id) => !manifest.cases.some((c) => c.caseId === id));
    if (unknown.length) throw new Error(`--case ${unknown.join(', ')}: not a case of ${dir}`);
    const { findings: entries, gallery } = buildAnnotationReview(dir, manifest, { sources, caseIds: args.case, all: args.all });
    writeFileAtomic(out, renderAnnotationReviewHtml(dir, manifest, entries, gallery));
    // a case whose files cannot be read is named on the page and here; the others are drawn
    const failed = [...entries.map((x) => ({ caseId: x.finding.caseId, problem: x.problem })), ...gallery].filter((x) => x.problem);
    for (const e of failed) process.stderr.write(`${e.caseId}: no image: ${e.problem}\n`);
    if (failed.length) process.exitCode = 1;
    const shown = manifest.annotationFindings === undefined ? 'the manifest predates the annotation checks (curate again)' : `${entries.length} finding${entries.length === 1 ? '' : 's'}`;
    process.stdout.write(`${out}: ${shown}${args.all ? `, ${gallery.length} case${gallery.length === 1 ? '' : 's'} drawn` : ''}\n`);
  },
};
