/**
 * A progress bar with ETA for CLI loops, on stderr. On a TTY it redraws one line; otherwise it prints a
 * plain line at most every `intervalMs` (and the last one), so logs stay readable.
 */
export interface ProgressBar {
  /** Report `done` of `total` items (total may change, e.g. once discovery knows it). */
  update(done: number, total?: number, note?: string): void;
  /** Print a message above the bar. */
  log(message: string): void;
  /** Finish: final state and a newline. */
  finish(note?: string): void;
}

export interface ProgressOptions {
  stream?: Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean; columns?: number };
  now?: () => number;
  intervalMs?: number;
}

/** mm:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(2, '0'), ss = String(r).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** One line: `title [#####.....] 5/10 50% 00:10 elapsed, ETA 00:10 note`. ETA from the mean rate so far. */
export function formatProgress(title: string, done: number, total: number, elapsedMs: number, width = 24, note = ''): string {
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(frac * width);
  const eta = done > 0 && total > done ? ((elapsedMs / 1000) * (total - done)) / done : done >= total ? 0 : NaN;
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  return `${title} [${bar}] ${done}/${total} ${Math.round(frac * 100)}% ${formatDuration(elapsedMs / 1000)} elapsed, ETA ${formatDuration(eta)}${note ? ' ' + note : ''}`;
}

export function createProgressBar(title: string, opts: ProgressOptions = {}): ProgressBar {
  const stream = opts.stream ?? process.stderr;
  const now = opts.now ?? (() => Date.now());
  const tty = stream.isTTY === true;
  const interval = opts.intervalMs ?? 5000;
  const start = now();
  let done = 0, total = 0, note = '', lastPrint = -Infinity, drawn = false;
  const line = () => formatProgress(title, done, total, now() - start, 24, note);
  const draw = (force: boolean) => {
    if (tty) {
      const cols = stream.columns ?? 120;
      stream.write(`\r${line().slice(0, cols - 1)}\x1b[K`);
      drawn = true;
    } else if (force || now() - lastPrint >= interval) {
      stream.write(line() + '\n');
      lastPrint = now();
    }
  };
  return {
    update(d, t, n) {
      done = d;
      if (t !== undefined) total = t;
      if (n !== undefined) note = n;
      draw(false);
    },
    log(message) {
      if (tty && drawn) stream.write('\r\x1b[K');
      stream.write(message + '\n');
      if (tty && drawn) draw(false);
    },
    finish(n) {
      if (n !== undefined) note = n;
      draw(true);
      if (tty) stream.write('\n');
    },
  };
}
