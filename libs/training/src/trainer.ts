/**
 * One tracked training run: the paper's schedule (RMSprop, then SGD with momentum), batch 1 of whole
 * volumes (or random crops), masked and weighted losses from annotation availability, model selection on
 * the validation split only, and a final evaluation of the best checkpoint on the test split.
 *
 * Every random choice derives from (seed, epoch, position), and a checkpoint closes every epoch, so a
 * killed run resumed from its last checkpoint repeats exactly what the uninterrupted run would have done.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { boundGpuBufferPool, gpuMemoryPeaks, momentumOptimizer, rmspropOptimizer } from '@anatomynet/compute';
import { writeNifti, writeFileAtomic } from '@anatomynet/data';
import { buildModel, trainStep, type AnatomyNetModel, type Recompute } from '@anatomynet/model';
import { classWeights } from '@anatomynet/losses';
import { caseLoss, maskOfRun } from './case-loss';
import { WeightAverage } from './weight-average';
import { checksFlagging, ORGANS } from '@anatomynet/curation';
import type { MetricWriter, TrackingStore } from '@anatomynet/tracking';
import { loadCheckpoint, pruneCheckpoints, saveCheckpoint, type LoopState } from './checkpoint';
import { openDataset, prepareCase, runCases, sourceGrid, type Dataset, type PreparedCase } from './dataset';
import { evaluateCase, evaluationOptions, keepLargestComponents, nanMean, predictLabels, validationDice } from './evaluate';
import { deriveSeed, mulberry32 } from '@anatomynet/random';
import { configChanges, runConfigDigest, type RunConfig } from './run-config';
import { drawSample } from './sample';
import { RunEndedElsewhereError, runHeartbeat } from './heartbeat';
import { readTrainingCases, trainingVolumes, writeTrainingCases } from './seen-cases';
import { contourFindings } from './segment';

/** The run parameter recording how blocks were recomputed: false, true, or "all but SEGMENT,...". */
function recomputeParam(r: Recompute | undefined): boolean | string {
  return typeof r === 'object' ? `all but ${r.keep.join(',')}` : r ?? false;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  totalSteps: number;
  loss: number;
  phase: LoopState['phase'];
  valDice?: number;
}

export interface TrainOptions {
  config: RunConfig;
  datasetDir: string;
  store: TrackingStore;
  experiment: string;
  runName: string;
  /** Run folders are created under this folder, one per run id. */
  runsDir: string;
  /** Continue this KILLED run from its last checkpoint (same id, same config, same dataset). */
  resumeRunId?: string;
  /** Recompute blocks in the backward pass (less memory, more compute; see libs/model forward). */
  recompute?: Recompute;
  /** Recorded with the run: the backend, its adapter, and the tuned GPU kernels it was given. */
  backend?: { name: string; adapter?: string; gpuTilings?: string };
  gitCommit?: string;
  /** Epoch checkpoints kept on disk, the latest ones (default 2; 0 keeps every epoch's). best/ is kept apart. */
  keepCheckpoints?: number;
  /** The run's heartbeat is beaten at most this often while it works, and at each epoch's end (default 60 s). */
  heartbeatIntervalMs?: number;
  /** Stop (as KILLED, checkpoint kept) after this many epochs of this process: for tests of resume. */
  stopAfterEpochs?: number;
  onProgress?: (p: TrainProgress) => void;
  onRunCreated?: (runId: string) => void;
  /** Things a person should know that do not stop the run (e.g. a damaged checkpoint passed over on resume). */
  onWarning?: (message: string) => void;
}

export interface TrainResult {
  runId: string;
  status: 'FINISHED' | 'FAILED' | 'KILLED';
  bestEpoch: number;
  bestValDice: number;
  /** Mean test DSC over organs and cases (NaN without test cases). */
  testDice: number;
  /** Test (case, organ) contours the annotation checks flag (`contourFindings`); absent unless evaluated. */
  testContoursFlagged?: number;
  error?: string;
  /**
   * Another process ended the run while this one trained (a stale sweep marked it KILLED): its status and
   * its grid cell are that process's to keep, so this one leaves both as they are.
   */
  endedElsewhere?: boolean;
}

/** The loss went NaN or infinite: the run is FAILED at that step. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly value: number,
  ) {
    super(`loss is ${value} at step ${step}: the run cannot continue (lower the learning rate or check the data)`);
    this.name = 'NonFiniteLossError';
  }
}

function makeOptimizer(cfg: RunConfig, phase: LoopState['phase']): tf.Optimizer {
  const s = cfg.schedule;
  // tfjs's optimizers, with each variable's update fused into one kernel where the backend has it
  return phase === 'rmsprop' ? rmspropOptimizer(s.rmspropLr, s.rmspropDecay, s.rmspropMomentum) : momentumOptimizer(s.sgdLr, s.momentum);
}

/**
 * Prepared cases of the last (dataset, preparation) used in this process: the cells of a grid share them,
 * so a worker reads and resamples each case once rather than once per cell. A run holds all of its cases
 * anyway; keeping them for the next run of the same preparation costs no more memory.
 */
let lastPrepared: { key: string; cases: Map<string, PreparedCase> } | undefined;

function preparedCases(ds: Dataset, prep: { huWindow: RunConfig['data']['huWindow']; spacingMm: RunConfig['data']['spacingMm'] }): CaseLoader {
  const key = JSON.stringify([ds.dir, ds.manifestDigest, prep]);
  if (lastPrepared?.key !== key) lastPrepared = { key, cases: new Map() };
  const cases = lastPrepared.cases;
  return (id, keepSourceHu = false) => {
    const had = cases.get(id);
    return had && (had.source.hu || !keepSourceHu) ? had : cases.set(id, prepareCase(ds, id, { ...prep, keepSourceHu })).get(id)!;
  };
}

/** A case on the run's training grid; with `keepSourceHu`, its CT numbers on the published grid too (the test cases' contour checks). */
type CaseLoader = (id: string, keepSourceHu?: boolean) => PreparedCase;

/** The resolved run config, written into every run folder. */
export const RUN_CONFIG_FILE = 'run-config.json';

const sha256OfFile = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

const phaseOf = (cfg: RunConfig, epoch: number): LoopState['phase'] => (epoch < cfg.schedule.rmspropEpochs ? 'rmsprop' : 'sgd');

/** Fisher-Yates with the given RNG: the epoch's case order. */
function shuffled<T>(items: readonly T[], rng: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

async function startOrResume(o: TrainOptions, ds: Dataset, seen: { train: readonly string[]; validation: readonly string[] }) {
  const cfg = o.config;
  if (!o.resumeRunId) {
    const id = crypto.randomUUID();
    const runDir = join(o.runsDir, id);
    mkdirSync(runDir, { recursive: true });
    // The run folder is self-describing: `trainer segment --model <runDir>` needs nothing else.
    writeFileAtomic(join(runDir, RUN_CONFIG_FILE), `${JSON.stringify(cfg, null, 1)}\n`);
    // which cases the model will see, so that evaluating it elsewhere can tell them apart
    writeTrainingCases(runDir, ds, seen);
    const run = await o.store.createRun({
      id,
      runDir,
      experiment: o.experiment,
      name: o.runName,
      config: cfg,
      gitCommit: o.gitCommit,
      datasetDigest: ds.manifestDigest,
      backend: o.backend?.name,
      adapter: o.backend?.adapter,
      params: {
        seed: cfg.seed, loss: cfg.loss.name, pools: cfg.model.pools, block: cfg.model.block, merge: cfg.model.merge, configDigest: runConfigDigest(cfg), recompute: recomputeParam(o.recompute),
        ...(o.backend?.gpuTilings ? { gpuTilings: o.backend.gpuTilings } : {}),
      },
    });
    const model = buildModel(cfg.model, { seed: cfg.seed });
    const state: LoopState = { epoch: 0, step: 0, phase: phaseOf(cfg, 0), bestValDice: -Infinity, bestEpoch: -1 };
    return { runId: run.id, runDir, model, optimizer: makeOptimizer(cfg, state.phase), state, average: undefined };
  }
  const run = await o.store.getRun(o.resumeRunId);
  if (!run) throw new Error(`--resume ${o.resumeRunId}: no such run in the database`);
  if (run.configDigest !== runConfigDigest(cfg)) {
    const changes = configChanges(JSON.parse(run.configJson), cfg);
    throw new Error(`--resume ${run.id}: the config differs from the run's (${changes.join(', ') || `digest ${run.configDigest.slice(0, 12)}`}); resume without --config or --grid to use the run's own`);
  }
  if (run.datasetDigest && run.datasetDigest !== ds.manifestDigest) {
    const p = ds.manifest.previous;
    const versions = p?.manifestDigest === run.datasetDigest ? `: it is version ${ds.manifest.version} now, the run trained on version ${p.version}` : '';
    throw new Error(
      `--resume ${run.id}: the dataset changed under the run (manifest digest ${ds.manifestDigest.slice(0, 12)}, run trained on ${run.datasetDigest.slice(0, 12)}${versions}); curate into a new folder or start a new run`,
    );
  }
  // Newest first; one that does not load (damaged on disk, deleted) gives way to the one before it.
  const checkpoints = (await o.store.artifacts(run.id, 'checkpoint')).sort((a, b) => (b.step ?? -1) - (a.step ?? -1));
  if (!checkpoints.length) throw new Error(`--resume ${run.id}: the run has no checkpoint to continue from`);
  let loaded: Awaited<ReturnType<typeof loadCheckpoint>> | undefined;
  let ckpt = checkpoints[0];
  const unreadable: string[] = [];
  for (const c of checkpoints) {
    try {
      loaded = await loadCheckpoint(c.path, (phase) => makeOptimizer(cfg, phase));
      ckpt = c;
      break;
    } catch (e) {
      unreadable.push(`${c.path}: ${(e as Error).message}`);
      o.onWarning?.(`checkpoint ${c.path} does not load (${(e as Error).message}); trying the one before it`);
    }
  }
  if (!loaded) throw new Error(`--resume ${run.id}: no checkpoint of the run loads (${unreadable.join('; ')})`);
  await o.store.resumeRun(run.id);
  const runDir = run.runDir ?? join(o.runsDir, run.id);
  // a run started before the record was kept: the dataset is the one it trained on (checked above)
  if (!readTrainingCases(runDir)) writeTrainingCases(runDir, ds, seen);
  const { model, optimizer, state, average } = loaded;
  // What the killed process logged after this checkpoint (part of an epoch, its validation, the test
  // evaluation) is logged again from here: once per step, not twice.
  for (const key of await o.store.metricKeys(run.id)) {
    await o.store.deleteMetrics(run.id, key, key === 'train/loss' ? state.step : key.startsWith('test/') ? 0 : state.epoch);
  }
  if (Boolean(cfg.schedule.emaDecay) !== Boolean(average)) throw new Error(`--resume ${run.id}: ${ckpt.path} ${average ? 'has' : 'lacks'} the weight average the config ${average ? 'does not ask for' : 'asks for'}`);
  return { runId: run.id, runDir, model, optimizer, state, average };
}

/** Trains one run to its end (or its failure) and records everything in the store. */
export async function trainRun(o: TrainOptions): Promise<TrainResult> {
  const cfg = o.config;
  const ds = openDataset(o.datasetDir);
  // the dataset's training and validation splits, or the run's cross-validation fold of them
  const { train: trainIds, validation: validationIds } = runCases(ds, cfg.data);
  if (!trainIds.length) throw new Error(`${o.datasetDir}: no training cases for subset "${cfg.data.subset}"${cfg.data.fold ? ` in fold ${cfg.data.fold.index} of ${cfg.data.fold.k}` : ''}`);
  const prep = { huWindow: cfg.data.huWindow, spacingMm: cfg.data.spacingMm };
  const load = preparedCases(ds, prep);

  const start = await startOrResume(o, ds, { train: trainIds, validation: validationIds });
  const { runId, runDir, state } = start;
  let { model, optimizer } = start;
  const average = cfg.schedule.emaDecay ? new WeightAverage(model, cfg.schedule.emaDecay, start.average) : null;
  // validation, model selection and the best checkpoint see the averaged weights when the run keeps an average
  const evaluated = <T>(fn: () => Promise<T>) => (average ? average.applied(fn) : fn());
  o.onRunCreated?.(runId);
  const writer: MetricWriter = o.store.metricWriter(runId);
  const numClasses = cfg.model.numClasses;
  const epochs = cfg.schedule.rmspropEpochs + cfg.schedule.sgdEpochs;
  const totalSteps = epochs * trainIds.length;
  const stopAt = o.stopAfterEpochs !== undefined ? state.epoch + o.stopAfterEpochs : Infinity;
  const beat = runHeartbeat(o.store, runId, o.heartbeatIntervalMs);

  try {
    // Every training case is read and resampled here (minutes for a large cohort at full resolution): a
    // case that cannot be read fails the run, which is recorded, rather than leaving it RUNNING.
    const availability: boolean[][] = [];
    for (const id of trainIds) {
      availability.push(load(id).annotated);
      await beat();
    }
    const weights = cfg.masking.weighted ? classWeights(availability, cfg.masking.weightNormalisation, maskOfRun(cfg.masking)) : undefined;
    const lossFn = caseLoss(cfg, weights);
    for (let epoch = state.epoch; epoch < epochs; epoch++) {
      if (epoch >= stopAt) {
        await writer.close();
        await o.store.endRun(runId, 'KILLED', { error: `stopped after epoch ${epoch} on request` });
        average?.dispose();
        model.dispose();
        return { runId, status: 'KILLED', bestEpoch: state.bestEpoch, bestValDice: state.bestValDice, testDice: NaN };
      }
      const phase = phaseOf(cfg, epoch);
      if (phase !== state.phase) {
        optimizer.dispose();
        optimizer = makeOptimizer(cfg, phase);
        state.phase = phase;
      }
      const order = shuffled(trainIds, mulberry32(deriveSeed(cfg.seed, epoch)));
      let epochLoss = 0;
      gpuMemoryPeaks(true);
      for (let pos = 0; pos < order.length; pos++) {
        const c = load(order[pos]);
        const sample = drawSample(c, cfg.data, mulberry32(deriveSeed(cfg.seed, epoch, pos + 1)));
        const [nx, ny, nz] = sample.shape;
        const x = tf.tensor5d(sample.image, [1, nz, ny, nx, 1]);
        const y = tf.tidy(() => tf.oneHot(tf.tensor1d(sample.labels, 'int32'), numClasses).reshape([1, nz, ny, nx, numClasses]));
        const loss = await trainStep(model, optimizer, x, (probs) => lossFn(probs, y, c.annotated), { recompute: o.recompute });
        tf.dispose([x, y]);
        average?.update(state.step);
        // crops and volumes of varying size would otherwise grow tfjs-webgpu's exact-size buffer pool
        // without bound; buffers this step reused stay pooled for the next
        boundGpuBufferPool();
        if (!Number.isFinite(loss)) throw new NonFiniteLossError(state.step, loss);
        writer.log('train/loss', state.step, loss);
        epochLoss += loss;
        state.step++;
        o.onProgress?.({ epoch, epochs, step: state.step, totalSteps, loss, phase });
        await beat();
        // On tfjs-cpu every await above resolves as a microtask, so without this the event loop never turns
        // during training: Ctrl-C / SIGTERM handlers (which mark the run KILLED) and timers would never run.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      writer.log('train/epoch_loss', epoch, epochLoss / order.length);
      writer.log('train/lr', epoch, phase === 'rmsprop' ? cfg.schedule.rmspropLr : cfg.schedule.sgdLr);
      // webgpu: the most GPU memory its steps held at once (tensors and the buffer pool), which the
      // GPU's own limit or --gpu-memory-gb must fit (none off webgpu)
      const gpuPeak = gpuMemoryPeaks().allocated;
      if (gpuPeak > 0) writer.log('gpu/allocated_gb', epoch, gpuPeak / 1e9);
      state.epoch = epoch + 1;
      if ((epoch + 1) % cfg.validateEveryEpochs === 0 || epoch + 1 === epochs) {
        const valDice = await evaluated(async () => {
          const dice = await validate(model, validationIds.map((id) => load(id)), numClasses, cfg.evaluation, writer, epoch, beat);
          // Model selection on the validation split only (the public code chose checkpoints on the test set).
          // Without a score (no validation cases, or none with an organ annotated) there is nothing to
          // select by, and the best checkpoint follows the latest epoch.
          if (!Number.isFinite(dice) || dice > state.bestValDice || state.bestEpoch < 0) {
            state.bestValDice = Number.isFinite(dice) ? dice : state.bestValDice;
            state.bestEpoch = epoch;
            const best = await saveCheckpoint(join(runDir, 'best'), model, optimizer, state);
            await o.store.recordArtifact({ runId, kind: 'best-checkpoint', path: best.dir, sha256: best.sha256, step: epoch });
          }
          return dice;
        });
        o.onProgress?.({ epoch, epochs, step: state.step, totalSteps, loss: epochLoss / order.length, phase, valDice });
      }
      const ck = await saveCheckpoint(join(runDir, 'checkpoints', `epoch-${String(epoch + 1).padStart(5, '0')}`), model, optimizer, state, await average?.values());
      await o.store.recordArtifact({ runId, kind: 'checkpoint', path: ck.dir, sha256: ck.sha256, step: epoch + 1 });
      const pruned = pruneCheckpoints(join(runDir, 'checkpoints'), o.keepCheckpoints ?? 2);
      if (pruned.length) await o.store.removeArtifacts(runId, pruned);
      await writer.flush();
      await beat(true);
    }
    optimizer.dispose();
    average?.dispose();
    model.dispose();
    const best = await loadCheckpoint(join(runDir, 'best'), (phase) => makeOptimizer(cfg, phase));
    best.optimizer.dispose();
    model = best.model;
    const test = await testEvaluation(model, ds, load, cfg, runId, runDir, o.store, writer, beat);
    await writer.close();
    model.dispose();
    await o.store.endRun(runId, 'FINISHED');
    return { runId, status: 'FINISHED', bestEpoch: state.bestEpoch, bestValDice: state.bestValDice, testDice: test.dice, testContoursFlagged: test.contoursFlagged };
  } catch (e) {
    const err = e as Error;
    await writer.close().catch(() => undefined);
    average?.dispose();
    model.dispose();
    if (e instanceof RunEndedElsewhereError) {
      return { runId, status: 'KILLED', bestEpoch: state.bestEpoch, bestValDice: state.bestValDice, testDice: NaN, error: err.message, endedElsewhere: true };
    }
    await o.store.endRun(runId, 'FAILED', { error: `${err.message}\n${err.stack ?? ''}`, failedStep: e instanceof NonFiniteLossError ? e.step : state.step });
    return { runId, status: 'FAILED', bestEpoch: state.bestEpoch, bestValDice: state.bestValDice, testDice: NaN, error: err.message };
  }
}

/** Mean hard Dice on the validation cases, with the same clean-up as the final evaluation (so selection sees what users get). */
async function validate(
  model: AnatomyNetModel, cases: PreparedCase[], numClasses: number, evaluation: RunConfig['evaluation'], writer: MetricWriter, epoch: number,
  beat: () => Promise<void>,
): Promise<number> {
  const perOrgan: number[][] = ORGANS.map(() => []);
  for (const c of cases) {
    await beat();
    let pred = await predictLabels(model, c.image, c.shape);
    if (evaluation.largestComponent) pred = keepLargestComponents(pred, c.shape, numClasses, evaluation.componentMinShare);
    validationDice(pred, c, numClasses).forEach((d, i) => perOrgan[i].push(d));
  }
  const means = perOrgan.map(nanMean);
  ORGANS.forEach((o, i) => Number.isFinite(means[i]) && writer.log(`val/dice/${o.key}`, epoch, means[i]));
  const mean = nanMean(means);
  if (Number.isFinite(mean)) writer.log('val/dice_mean', epoch, mean);
  return mean;
}

async function testEvaluation(
  model: AnatomyNetModel,
  ds: Dataset,
  load: CaseLoader,
  cfg: RunConfig,
  runId: string,
  runDir: string,
  store: TrackingStore,
  writer: MetricWriter,
  beat: () => Promise<void>,
): Promise<{ dice: number; contoursFlagged: number }> {
  const all: number[] = [];
  let contoursFlagged = 0;
  mkdirSync(join(runDir, 'predictions'), { recursive: true });
  // how the test metrics were taken, recorded beside each row
  const { numClasses: _n, ...extra } = evaluationOptions(cfg);
  // the curator's checks on each predicted contour, as `segment` and `evaluate` run them, against the
  // organ volumes of this run's own training cases
  const trainingMl = trainingVolumes([runDir]);
  for (const id of [...ds.splits.test].sort()) {
    await beat();
    const c = load(id, true);
    const { rows, labels } = await evaluateCase(model, c, cfg);
    // The prediction on the case's published grid, for the report's overlays and for inspection.
    const predictionPath = join(runDir, 'predictions', `${id}.nii.gz`);
    const grid = sourceGrid(c);
    writeNifti(predictionPath, { data: labels, ...grid });
    await store.recordArtifact({ runId, kind: 'prediction', path: predictionPath, sha256: sha256OfFile(predictionPath) });
    const findings = contourFindings(labels, { data: c.source.hu!, ...grid }, trainingMl);
    // contourFinding: the checks that flag this organ's contour ('' when none do)
    const recorded = rows.map(({ label: _label, ...metrics }) => ({ runId, split: 'test', caseId: id, ...metrics, extra: { ...extra, contourFinding: checksFlagging(findings, metrics.organ) } }));
    contoursFlagged += recorded.filter((r) => r.extra.contourFinding).length;
    await store.recordCaseResults(recorded);
    for (const r of rows) all.push(r.dsc);
  }
  const mean = nanMean(all);
  if (Number.isFinite(mean)) writer.log('test/dice_mean', 0, mean);
  if (ds.splits.test.length) writer.log('test/contours_flagged', 0, contoursFlagged);
  return { dice: mean, contoursFlagged };
}
