/**
 * The experiment tracking store, as one interface so a server database can replace SQLite later.
 * Every method is async for that reason (the SQLite store answers synchronously underneath).
 *
 * Times are integer milliseconds since the Unix epoch. Metric and result values are numbers; NaN is
 * stored as SQL NULL and read back as NaN; ±Infinity round-trips.
 */

export const RUN_STATUSES = ['RUNNING', 'FINISHED', 'FAILED', 'KILLED'] as const;
/** RUNNING until the run ends; FINISHED and FAILED are terminal; a KILLED run may be resumed (back to RUNNING). */
export type RunStatus = (typeof RUN_STATUSES)[number];

export const CELL_STATUSES = ['PENDING', 'CLAIMED', 'DONE', 'FAILED'] as const;
/** A grid cell: PENDING -> CLAIMED (one worker) -> DONE | FAILED; FAILED may be claimed again on request. */
export type CellStatus = (typeof CELL_STATUSES)[number];

export interface Experiment {
  id: number;
  name: string;
  createdAt: number;
}

export interface NewRun {
  experiment: string;
  name: string;
  /** The run's full config, stored as canonical JSON (keys sorted) with its SHA-256 digest. */
  config: unknown;
  /** Caller-chosen id (e.g. derived from the config digest); a random UUID when left out. */
  id?: string;
  gitCommit?: string;
  /** SHA-256 of the dataset manifest the run trained on. */
  datasetDigest?: string;
  /** Compute backend (e.g. "tensorflow", "webgpu", "wasm") and its adapter (e.g. the GPU's name). */
  backend?: string;
  adapter?: string;
  /** Folder holding the run's checkpoints and files. */
  runDir?: string;
  params?: Record<string, string | number | boolean>;
  /** Start time; now when left out. */
  startTime?: number;
}

export interface Run {
  id: string;
  experiment: string;
  name: string;
  status: RunStatus;
  startTime: number;
  endTime: number | null;
  heartbeatTime: number;
  gitCommit: string | null;
  configJson: string;
  configDigest: string;
  datasetDigest: string | null;
  backend: string | null;
  adapter: string | null;
  runDir: string | null;
  errorText: string | null;
  failedStep: number | null;
}

export interface RunFilter {
  experiment?: string;
  status?: RunStatus | readonly RunStatus[];
  /** Only runs attached to a cell of this grid. */
  grid?: string;
  /** Only runs of this config (the SHA-256 of its canonical JSON, as `Run.configDigest`). */
  configDigest?: string;
  /** Only runs trained on this dataset (its manifest digest, as `Run.datasetDigest`). */
  datasetDigest?: string;
}

export interface RunEnd {
  /** Error message (and stack) of a FAILED run. */
  error?: string;
  /** The step at which it failed. */
  failedStep?: number;
  endTime?: number;
}

export interface MetricPoint {
  runId: string;
  key: string;
  step: number;
  value: number;
  /** Wall time; now when left out. */
  time?: number;
}

export interface MetricValue {
  step: number;
  value: number;
  time: number;
}

/** One case's metrics for one organ, on one split, at one evaluation. */
export interface CaseResult {
  runId: string;
  split: string;
  caseId: string;
  organ: string;
  dsc: number;
  hd95Mm: number;
  surfaceDice: number;
  /** Average symmetric surface distance in mm (NaN when unknown). */
  meanSurfaceDistanceMm?: number;
  /** Voxel counts behind the Dice (kept raw so pooled Dice can be recomputed). */
  tp?: number;
  fp?: number;
  fn?: number;
  /** Anything else, as JSON (e.g. the tolerance used for surface Dice). */
  extra?: Record<string, unknown>;
}

export interface NewArtifact {
  runId: string;
  /** e.g. "checkpoint", "best-checkpoint", "prediction", "log". */
  kind: string;
  path: string;
  sha256: string;
  step?: number;
  bytes?: number;
}

export interface Artifact extends Required<Omit<NewArtifact, 'step' | 'bytes'>> {
  id: number;
  step: number | null;
  bytes: number | null;
  createdAt: number;
}

export interface GridCellInput {
  key: string;
  /** Digest of the cell's resolved config (detects a grid definition that changed under a key). */
  digest?: string;
}

export interface GridCell {
  grid: string;
  key: string;
  digest: string | null;
  status: CellStatus;
  runId: string | null;
  claimedBy: string | null;
  claimedAt: number | null;
  updatedAt: number;
  error: string | null;
  /** The attached run's status, when a run is attached. */
  runStatus: RunStatus | null;
}

export interface ClaimOptions {
  digest?: string;
  /**
   * Also claim a FAILED cell (a retry, with a new run). PENDING cells, unknown keys, and FAILED cells whose run
   * was KILLED (interrupted, or swept as stale) are always claimable; the last keep their run id so that the
   * caller can resume that run from its checkpoint.
   */
  retryFailed?: boolean;
}

export interface CellUpdate {
  status?: CellStatus;
  runId?: string;
  error?: string | null;
}

export interface StaleSweep {
  /** Runs moved from RUNNING to KILLED. */
  killedRunIds: string[];
  /** Grid cells moved from CLAIMED to FAILED (their run was killed, or never started). */
  failedCells: { grid: string; key: string }[];
}

/** Buffers metric points and writes them in batches. */
export interface MetricWriter {
  /** Queues one value; flushes when the buffer reaches its row limit. */
  log(key: string, step: number, value: number, time?: number): void;
  /** Writes everything queued now. */
  flush(): Promise<void>;
  /** Flushes and stops the timer; later `log` calls throw. */
  close(): Promise<void>;
  /** Rows queued and not yet written. */
  readonly pending: number;
}

export interface MetricWriterOptions {
  /** Flush when this many rows are queued (default 500). */
  maxRows?: number;
  /** Flush at most this long after the first queued row (default 2000 ms). */
  maxDelayMs?: number;
  /** Called with an error from a timer-driven flush (default: rethrown on the next flush/close). */
  onError?: (err: unknown) => void;
}

export interface TrackingStore {
  ensureExperiment(name: string): Promise<Experiment>;
  listExperiments(): Promise<Experiment[]>;

  createRun(run: NewRun): Promise<Run>;
  getRun(runId: string): Promise<Run | undefined>;
  listRuns(filter?: RunFilter): Promise<Run[]>;
  /** Records that the run is alive; false when the run is no longer RUNNING (e.g. swept as KILLED). */
  heartbeat(runId: string, now?: number): Promise<boolean>;
  /** RUNNING -> FINISHED | FAILED | KILLED. Throws TrackingError BAD_TRANSITION from a terminal status. */
  endRun(runId: string, status: Exclude<RunStatus, 'RUNNING'>, end?: RunEnd): Promise<Run>;
  /** KILLED -> RUNNING, for `--resume`: the run continues under the same id. Throws BAD_TRANSITION otherwise. */
  resumeRun(runId: string, now?: number): Promise<Run>;
  /** Marks RUNNING runs whose heartbeat is older than `maxAgeMs` as KILLED, and frees their grid cells. */
  markStaleRunsKilled(maxAgeMs: number, now?: number): Promise<StaleSweep>;

  logParams(runId: string, params: Record<string, string | number | boolean>): Promise<void>;
  getParams(runId: string): Promise<Record<string, string>>;

  /** Writes points in one transaction. */
  logMetrics(points: readonly MetricPoint[]): Promise<void>;
  metricWriter(runId: string, options?: MetricWriterOptions): MetricWriter;
  /** Ascending by step (then time) for one key. */
  metricSeries(runId: string, key: string): Promise<MetricValue[]>;
  metricKeys(runId: string): Promise<string[]>;
  /** Deletes the run's points of `key` at `fromStep` or later (a resumed run logs them again); returns how many. */
  deleteMetrics(runId: string, key: string, fromStep: number): Promise<number>;

  /** Inserts or replaces (same run, split, case, organ) in one transaction. */
  recordCaseResults(rows: readonly CaseResult[]): Promise<void>;
  caseResults(runId: string, split?: string): Promise<CaseResult[]>;

  recordArtifact(artifact: NewArtifact): Promise<Artifact>;
  artifacts(runId: string, kind?: string): Promise<Artifact[]>;
  /** The artifact of that kind with the highest step (then the newest); undefined when none. */
  latestArtifact(runId: string, kind?: string): Promise<Artifact | undefined>;
  /** Forgets the run's artifacts at these paths (files deleted, e.g. old checkpoints); returns how many. */
  removeArtifacts(runId: string, paths: readonly string[]): Promise<number>;

  /** Adds the cells that are not there yet as PENDING; existing cells are left as they are. */
  registerCells(grid: string, cells: readonly GridCellInput[]): Promise<void>;
  /** Atomically claims a cell for `worker`: true for exactly one of several racing processes. */
  claimCell(grid: string, cellKey: string, worker: string, options?: ClaimOptions): Promise<boolean>;
  updateCell(grid: string, cellKey: string, update: CellUpdate): Promise<void>;
  /** Cells of a grid, by key, each with its attached run's status. */
  gridCells(grid: string): Promise<GridCell[]>;
  listGrids(): Promise<string[]>;

  close(): Promise<void>;
}
