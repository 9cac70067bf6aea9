/**
 * Reads what the report needs from the tracking store: for every experiment, the grid of its preferred
 * profile, its cells, and for each attached run the run row, test results and training curves.
 * I/O only; the shaping into figures is in shape.ts.
 */
import { cellRunLabel, parseReplicateKey, type CaseResult, type GridCell, type MetricValue, type Run, type TrackingStore } from '@anatomynet/tracking';
import { type ExperimentDef, figureRank, parseGridName, preferredProfile } from './experiments';

export interface RunData {
  run: Run;
  /** Test-split results, one row per (case, organ). */
  results: CaseResult[];
  /** The loss curve: `train/epoch_loss` when logged, else `train/loss` (per step). */
  lossKey: string | null;
  loss: MetricValue[];
  valDice: MetricValue[];
  /** Paths of the run's artifacts of kind `prediction` (test-case label maps). */
  predictionArtifacts: string[];
}

export interface GridData {
  def: ExperimentDef;
  /** The grid shown (`name@profile`), null when no profile of it is in the database. */
  grid: string | null;
  profile: string | null;
  /** Other profiles of this grid present in the database (not shown). */
  otherProfiles: string[];
  cells: GridCell[];
  runs: Map<string, RunData>;
}

export interface CollectOptions {
  /** Skip training curves (they are the bulk of the reads). */
  curves?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/**
 * One GridData per definition, in figure order; grids in the database without a definition get one made
 * from their cell keys (figure id `other`).
 */
export async function collectReportData(store: TrackingStore, defs: readonly ExperimentDef[], opts: CollectOptions = {}): Promise<GridData[]> {
  const grids = await store.listGrids();
  const byName = new Map<string, string[]>();
  for (const g of grids) {
    const { name, profile } = parseGridName(g);
    byName.set(name, [...(byName.get(name) ?? []), profile]);
  }
  const allDefs = [...defs];
  for (const name of [...byName.keys()].sort()) {
    if (allDefs.some((d) => d.name === name)) continue;
    const profile = preferredProfile(byName.get(name)!)!;
    const cells = await store.gridCells(profile ? `${name}@${profile}` : name);
    const rows = [...new Set(cells.map((c) => parseReplicateKey(c.key).row))];
    allDefs.push({ name, figure: 'other', title: `Grid ${name} (no definition in experiments/)`, description: '', rows: rows.map((key) => ({ key, label: key })), reference: rows[0] ?? '', profiles: [] });
  }
  allDefs.sort((a, b) => figureRank(a.figure) - figureRank(b.figure) || a.name.localeCompare(b.name));

  const out: GridData[] = [];
  let done = 0;
  const total = allDefs.length;
  for (const def of allDefs) {
    const profiles = byName.get(def.name) ?? [];
    const profile = preferredProfile(profiles) ?? null;
    const grid = profile === null ? null : profile ? `${def.name}@${profile}` : def.name;
    const cells = grid ? await store.gridCells(grid) : [];
    const runs = new Map<string, RunData>();
    for (const c of cells) {
      if (!c.runId || runs.has(c.runId)) continue;
      const run = await store.getRun(c.runId);
      if (run) runs.set(run.id, await readRun(store, run, opts.curves ?? true));
    }
    out.push({ def, grid, profile, otherProfiles: profiles.filter((p) => p !== profile).sort(), cells, runs });
    opts.onProgress?.(++done, total);
  }
  return out;
}

/** `grid / row label` of a cell, with its seed replicate (`ROW#N`) and fold (`ROW/foldIofK`) when it has them. */
export function cellLabel(g: GridData, cellKey: string): string {
  const { row } = parseReplicateKey(cellKey);
  const which = cellRunLabel(cellKey);
  return `${g.grid} / ${g.def.rows.find((r) => r.key === row)?.label ?? row}${which ? `, ${which}` : ''}`;
}

async function readRun(store: TrackingStore, run: Run, curves: boolean): Promise<RunData> {
  const results = await store.caseResults(run.id, 'test');
  const predictionArtifacts = (await store.artifacts(run.id, 'prediction')).map((a) => a.path);
  if (!curves) return { run, results, lossKey: null, loss: [], valDice: [], predictionArtifacts };
  const keys = new Set(await store.metricKeys(run.id));
  const lossKey = keys.has('train/epoch_loss') ? 'train/epoch_loss' : keys.has('train/loss') ? 'train/loss' : null;
  const loss = lossKey ? await store.metricSeries(run.id, lossKey) : [];
  const valDice = keys.has('val/dice_mean') ? await store.metricSeries(run.id, 'val/dice_mean') : [];
  return { run, results, lossKey, loss, valDice, predictionArtifacts };
}
