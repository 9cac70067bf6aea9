/**
 * The demo's plan: which CLI runs with which arguments, in order. Kept as data so a test can check the
 * plan without running it, and so each step is exactly a command a user could type.
 */
import { join } from 'node:path';

export interface DemoOptions {
  /** Where everything goes (raw cohort, dataset, database, runs, report). */
  out: string;
  cases: number;
  seed: number;
  profile: string;
  /** Grid names (experiments/<name>.json), each optionally `<name>:ROW[,ROW...]` for only those rows. */
  grids: string[];
  /** Grid worker processes sharing the cells (on 2 cores, 2 workers train ~1.5x faster than one). */
  workers: number;
  /**
   * Seeds per row for Figure 3's one and two down-sampling layers, trained after the grids (`grid
   * --replicates`): the report then shows how far training again moves a row. 1: no such step.
   */
  replicates?: number;
  backend?: string;
}

/** The rows the demo trains again with other seeds: the paper's choice and its nearest rival. */
export const DEMO_REPLICATED_ROWS = 'fig3-pooling:pool1,pool2';

export interface Step {
  title: string;
  /** App entry relative to the repository root, and its arguments. */
  app: 'curator' | 'trainer' | 'report';
  args: string[];
  /** The step is skipped when this file exists (a cohort already generated). */
  skipIfExists?: string;
}

const ENTRY = { curator: 'apps/curator/src/main.ts', trainer: 'apps/trainer/src/main.ts', report: 'apps/report/src/main.ts' } as const;
export const entryOf = (s: Step) => ENTRY[s.app];

/** `fig6-final:anatomynet` -> `experiments/fig6-final.json:anatomynet` (the trainer's FILE:ROWS form). */
function gridArgument(g: string): string {
  const [name, rows] = g.split(':', 2) as [string, string | undefined];
  return join('experiments', `${name}.json`) + (rows ? `:${rows}` : '');
}

/** DICOM cases of the demo's cohort annotated by a DICOM SEG instead of an RTSTRUCT (at most a third). */
export const demoSegCases = (cases: number) => Math.min(4, Math.floor(cases / 3));

/** DICOM cases of the demo's cohort whose CT is one Enhanced CT image (at most a sixth). */
export const demoEnhancedCases = (cases: number) => Math.min(2, Math.floor(cases / 6));

/** The final model's grid row: `fig6-final`'s `anatomynet`, when the grids train it. */
const FINAL_ROW = { grid: 'fig6-final', row: 'anatomynet' };

export function demoSteps(o: DemoOptions): Step[] {
  const raw = join(o.out, 'raw'), ds = join(o.out, 'dataset'), db = join(o.out, 'tracking.db');
  const backend = o.backend ? ['--backend', o.backend] : [];
  const segCases = demoSegCases(o.cases), enhancedCases = demoEnhancedCases(o.cases);
  const trainsFinal = o.grids.some((g) => {
    const [name, rows] = g.split(':', 2);
    return name === FINAL_ROW.grid && (!rows || rows.split(',').includes(FINAL_ROW.row));
  });
  const newPatient = join(o.out, 'new-patient');
  return [
    {
      title: `synthetic cohort (${o.cases} cases, seed ${o.seed}${segCases ? `, ${segCases} annotated by DICOM SEG` : ''}${enhancedCases ? `, ${enhancedCases} CTs as Enhanced CT` : ''})`,
      app: 'curator',
      args: [
        'synth', '--out', raw, '--cases', String(o.cases), '--seed', String(o.seed),
        ...(segCases ? ['--seg-cases', String(segCases)] : []), ...(enhancedCases ? ['--enhanced-cases', String(enhancedCases)] : []), '--overwrite',
      ],
      skipIfExists: join(raw, `synth-truth.json`),
    },
    { title: 'curate', app: 'curator', args: ['curate', '--input', raw, '--out', ds] },
    { title: 'validate the published dataset', app: 'curator', args: ['validate', ds] },
    { title: 'annotation review (findings, then every case drawn)', app: 'curator', args: ['review', ds, '--all'] },
    {
      title: `grids ${o.grids.join(', ')} (${o.profile}, ${o.workers} worker${o.workers > 1 ? 's' : ''})`,
      app: 'trainer',
      args: ['grid', ...o.grids.map(gridArgument), '--profile', o.profile, '--dataset', ds, '--db', db, '--workers', String(o.workers), ...backend],
    },
    ...((o.replicates ?? 1) > 1
      ? [{
        title: `seed replicates: ${DEMO_REPLICATED_ROWS} with ${o.replicates} seeds each`,
        app: 'trainer' as const,
        args: ['grid', gridArgument(DEMO_REPLICATED_ROWS), '--replicates', String(o.replicates), '--profile', o.profile, '--dataset', ds, '--db', db, '--workers', String(o.workers), ...backend],
      }]
      : []),
    ...(trainsFinal
      ? [
        {
          title: 'a new patient: one synthetic CT outside the dataset',
          app: 'curator' as const,
          args: ['synth', '--out', newPatient, '--cases', '1', '--seed', String(o.seed + 1000), '--pddca-fraction', '0', '--overwrite'],
          skipIfExists: join(newPatient, 'synth-truth.json'),
        },
        {
          title: 'segment it with the final model: labels.nii.gz, rtstruct.dcm, seg.dcm and review.html',
          app: 'trainer' as const,
          args: ['segment', '--row-seeds', `${FINAL_ROW.grid}@${o.profile}:${FINAL_ROW.row}`, '--db', db, '--input', newPatient, '--out', join(o.out, 'segmentation'), '--review', ...backend],
        },
      ]
      : []),
    { title: 'report', app: 'report', args: ['--db', db, '--dataset', ds, '--out', join(o.out, 'report')] },
    { title: 'what each run learned (best validation Dice per organ)', app: 'trainer', args: ['status', '--db', db] },
  ];
}
