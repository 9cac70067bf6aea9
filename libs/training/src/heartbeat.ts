import type { TrackingStore } from '@anatomynet/tracking';

/** Another process ended the run (e.g. `trainer status --stale-minutes` marked it KILLED): this one stops. */
export class RunEndedElsewhereError extends Error {
  constructor(readonly runId: string) {
    super(`run ${runId} was marked ended by another process`);
    this.name = 'RunEndedElsewhereError';
  }
}

/**
 * A run's heartbeat, beaten at most once per `intervalMs` while it works (each step, each evaluated case)
 * and whenever `force` asks. A whole-volume epoch on a CPU, or a test evaluation, can take hours; a
 * heartbeat only at epoch ends made a live run look dead to `grid`'s silent-worker hint and to
 * `status --stale-minutes`, which would then mark it KILLED.
 */
export function runHeartbeat(store: Pick<TrackingStore, 'heartbeat'>, runId: string, intervalMs = 60_000, now: () => number = Date.now) {
  let last = now();
  return async (force = false): Promise<void> => {
    const t = now();
    if (!force && t - last < intervalMs) return;
    last = t;
    if (!(await store.heartbeat(runId, t))) throw new RunEndedElsewhereError(runId);
  };
}
