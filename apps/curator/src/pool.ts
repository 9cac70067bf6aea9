/**
 * Child-process pools for the curator's per-case work (curate, synth): one task at a time per worker,
 * replies over IPC. The workers run a TypeScript file with this process's loader (tsx), registering tsx
 * explicitly where the parent has none (e.g. a test runner). A worker that dies fails its task and is
 * replaced; so is one still on its task after the pool's time limit (a reader looping on a damaged file).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CaseOutcome, CaseTask } from '@anatomynet/curation';

export interface ProcessPool<Task, Reply> {
  /** Resolves with the worker's reply; rejects with {@link WorkerExitError} if the worker dies or is stopped first. */
  run(task: Task): Promise<Reply>;
  close(): Promise<void>;
}

export class WorkerExitError extends Error {
  /** @param timedOut the pool stopped the worker: its task ran past the time limit. */
  constructor(readonly how: string, readonly timedOut = false) {
    super(`worker process exited (${how})`);
    this.name = 'WorkerExitError';
  }
}

/**
 * @param taskTimeoutS seconds a task may take before its worker is killed and the task fails (0: no limit).
 */
export function createProcessPool<Task, Reply>(file: string, size: number, env: NodeJS.ProcessEnv = {}, taskTimeoutS = 0): ProcessPool<Task, Reply> {
  const execArgv = process.execArgv.some((a) => a.includes('tsx')) || !file.endsWith('.ts') ? process.execArgv : [...process.execArgv, '--import', 'tsx'];
  const idle: ChildProcess[] = [];
  const waiting: ((w: ChildProcess) => void)[] = [];
  const all = new Set<ChildProcess>();
  const spawn = () => {
    const w = fork(file, [], { execArgv, env: { ...process.env, ...env }, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    all.add(w);
    w.on('exit', () => all.delete(w));
    return w;
  };
  for (let i = 0; i < size; i++) idle.push(spawn());
  const acquire = () => new Promise<ChildProcess>((res) => { const w = idle.pop(); if (w) res(w); else waiting.push(res); });
  const release = (w: ChildProcess) => { const next = waiting.shift(); if (next) next(w); else idle.push(w); };

  return {
    async run(task) {
      const w = await acquire();
      return new Promise<Reply>((resolve, reject) => {
        let stopped = false;
        const timer = taskTimeoutS > 0 ? setTimeout(() => { stopped = true; w.kill('SIGKILL'); }, taskTimeoutS * 1000) : undefined;
        const onMessage = (m: Reply) => { cleanup(); release(w); resolve(m); };
        const onExit = (code: number | null, signal: string | null) => {
          cleanup();
          release(spawn());
          reject(stopped ? new WorkerExitError(`stopped after ${taskTimeoutS} s`, true) : new WorkerExitError(signal ?? `code ${code}`));
        };
        const cleanup = () => { clearTimeout(timer); w.off('message', onMessage); w.off('exit', onExit); };
        w.on('message', onMessage);
        w.on('exit', onExit);
        w.send(task as object);
      });
    },
    async close() {
      await Promise.all([...all].map((w) => new Promise<void>((res) => { w.once('exit', () => res()); w.disconnect(); })));
    },
  };
}

export interface CasePool {
  run(task: CaseTask): Promise<CaseOutcome>;
  close(): Promise<void>;
}

/**
 * Curates cases in child processes (worker.ts); a worker that dies, or takes more than `caseTimeoutS`
 * seconds (0: no limit), fails only its case.
 */
export function createCasePool(size: number, caseTimeoutS = 0): CasePool {
  const pool = createProcessPool<CaseTask, CaseOutcome>(fileURLToPath(new URL('./worker.ts', import.meta.url)), size, {}, caseTimeoutS);
  return {
    run: (task) =>
      pool.run(task).catch((e: WorkerExitError) => ({
        ok: false,
        caseId: task.caseId,
        reason: e.timedOut
          ? `stopped after ${caseTimeoutS} s (--case-timeout): a reader may be stuck on a damaged file of this case; check its files, or give more time`
          : `${e.message} while curating this case`,
      })),
    close: () => pool.close(),
  };
}
