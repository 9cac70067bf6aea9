/**
 * Run cases in child processes (one per worker): each worker takes a CaseTask, curates it and sends
 * back the CaseOutcome. The workers start with this process's execArgv, so a run under tsx forks
 * TypeScript workers. A worker that dies fails its case and is replaced.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CaseOutcome, CaseTask } from '@anatomynet/curation';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

export interface CasePool {
  run(task: CaseTask): Promise<CaseOutcome>;
  close(): Promise<void>;
}

export function createCasePool(size: number): CasePool {
  const idle: ChildProcess[] = [];
  const waiting: ((w: ChildProcess) => void)[] = [];
  const all = new Set<ChildProcess>();
  const spawn = () => {
    const w = fork(WORKER, [], { execArgv: process.execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
      return new Promise<CaseOutcome>((resolve) => {
        const onMessage = (m: CaseOutcome) => { cleanup(); release(w); resolve(m); };
        const onExit = (code: number | null, signal: string | null) => {
          cleanup();
          release(spawn());
          resolve({ ok: false, caseId: task.caseId, reason: `worker process exited (${signal ?? `code ${code}`}) while curating this case` });
        };
        const cleanup = () => { w.off('message', onMessage); w.off('exit', onExit); };
        w.on('message', onMessage);
        w.on('exit', onExit);
        w.send(task);
      });
    },
    async close() {
      await Promise.all([...all].map((w) => new Promise<void>((res) => { w.once('exit', () => res()); w.disconnect(); })));
    },
  };
}
