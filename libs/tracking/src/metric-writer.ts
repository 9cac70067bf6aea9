/** A buffered metric writer: queues points and writes them every N rows, every T ms, and on close. */
import type { MetricPoint, MetricWriter, MetricWriterOptions } from './types.js';

export class BufferedMetricWriter implements MetricWriter {
  private buffer: MetricPoint[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private lastError: unknown;
  private readonly maxRows: number;
  private readonly maxDelayMs: number;

  /**
   * @param runId the run every point belongs to.
   * @param write writes one batch (one transaction in the SQLite store).
   */
  constructor(
    private readonly runId: string,
    private readonly write: (points: readonly MetricPoint[]) => Promise<void>,
    private readonly options: MetricWriterOptions = {},
  ) {
    this.maxRows = options.maxRows ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 2000;
    if (!(Number.isInteger(this.maxRows) && this.maxRows >= 1)) throw new RangeError(`metricWriter: maxRows ${this.maxRows} must be a positive integer`);
    if (!(this.maxDelayMs >= 0)) throw new RangeError(`metricWriter: maxDelayMs ${this.maxDelayMs} must be >= 0`);
  }

  get pending(): number {
    return this.buffer.length;
  }

  log(key: string, step: number, value: number, time = Date.now()): void {
    if (this.closed) throw new Error(`metricWriter for run ${this.runId}: log("${key}") after close`);
    this.buffer.push({ runId: this.runId, key, step, value, time });
    if (this.buffer.length >= this.maxRows) {
      void this.flush().catch((err) => this.report(err));
    } else if (!this.timer) {
      // Deliberately not unref'd: a process that forgets close() still writes its last rows before exiting.
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush().catch((err) => this.report(err));
      }, this.maxDelayMs);
    }
  }

  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length > 0) {
      try {
        await this.write(batch);
      } catch (err) {
        // Keep the rows for the next try, ahead of newer ones.
        this.buffer = batch.concat(this.buffer);
        throw err;
      }
    }
    if (this.lastError !== undefined) {
      const err = this.lastError;
      this.lastError = undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
  }

  private report(err: unknown): void {
    if (this.options.onError) this.options.onError(err);
    else this.lastError = err;
  }
}
