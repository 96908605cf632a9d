import { setTimeout as sleep } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import type { BatchObject } from '../src/core/batchObject.js';
import { describeProgress, formatProgressLine, isTerminalStatus, ThroughputEstimator } from './jobProgress.js';

export {
  describeProgress,
  formatProgressLine,
  isTerminalStatus,
  ProgressPhase,
  ThroughputEstimator,
} from './jobProgress.js';
export type { FormatProgressLineOptions, JobProgress } from './jobProgress.js';
export { formatJobSummary, formatJobTable } from './jobSummary.js';
export type { FormatJobSummaryOptions } from './jobSummary.js';

/** The part of a writable stream the renderers use; `isTTY` and `columns` come from a terminal. */
export type ProgressStream = NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number };

export interface WatchJobOptions {
  /** Reads the job; undefined while the job does not exist yet. */
  readonly fetchJob: () => Promise<BatchObject | undefined>;
  readonly pollIntervalInMs?: number;
  /** Where progress goes (default: stderr, so stdout stays clean for data). */
  readonly stream?: ProgressStream;
  /** Draw a bar; by default only when the stream is a terminal. */
  readonly tty?: boolean;
  /** Without a terminal: at most one line per this interval, unless the status changes. */
  readonly plainIntervalInMs?: number;
  /** Consecutive failed polls tolerated (a restarting host) before giving up with the last error. */
  readonly maxConsecutiveFetchErrors?: number;
  /** Errors worth another poll (default: all); others end the watch at once. */
  readonly isRetryableError?: (error: unknown) => boolean;
  readonly abortSignal?: AbortSignal;
  readonly clock?: { nowInMs(): number };
  /** Waits between polls; rejects when the signal aborts. */
  readonly delay?: (ms: number, abortSignal: AbortSignal | undefined) => Promise<void>;
}

const DEFAULT_POLL_INTERVAL_IN_MS = 500;
const DEFAULT_PLAIN_INTERVAL_IN_MS = 5_000;
const DEFAULT_MAX_CONSECUTIVE_FETCH_ERRORS = 5;

const systemClock = { nowInMs: () => Date.now() };
const defaultDelay = (ms: number, abortSignal: AbortSignal | undefined): Promise<void> =>
  sleep(ms, undefined, abortSignal === undefined ? {} : { signal: abortSignal });

interface ProgressRenderer {
  update(job: BatchObject | undefined, etaInSeconds: number | undefined, nowInMs: number): void;
  stop(): void;
}

/**
 * Polls a job until it ends and shows its progress: a redrawn bar on a terminal, occasional plain
 * lines otherwise. Resolves with the job's final state; rejects if aborted.
 */
export async function watchJob(options: WatchJobOptions): Promise<BatchObject> {
  const stream = options.stream ?? process.stderr;
  const clock = options.clock ?? systemClock;
  const delay = options.delay ?? defaultDelay;
  const pollIntervalInMs = options.pollIntervalInMs ?? DEFAULT_POLL_INTERVAL_IN_MS;
  const maxErrors = options.maxConsecutiveFetchErrors ?? DEFAULT_MAX_CONSECUTIVE_FETCH_ERRORS;
  const useBar = options.tty ?? stream.isTTY === true;
  const renderer: ProgressRenderer = useBar
    ? new BarRenderer(stream)
    : new PlainRenderer(stream, options.plainIntervalInMs ?? DEFAULT_PLAIN_INTERVAL_IN_MS);
  const throughput = new ThroughputEstimator();
  let consecutiveErrors = 0;

  try {
    for (;;) {
      options.abortSignal?.throwIfAborted();
      let job: BatchObject | undefined;
      try {
        job = await options.fetchJob();
        consecutiveErrors = 0;
      } catch (error) {
        consecutiveErrors += 1;
        if (consecutiveErrors >= maxErrors || options.isRetryableError?.(error) === false) throw error;
        await delay(pollIntervalInMs, options.abortSignal);
        continue;
      }
      options.abortSignal?.throwIfAborted();
      const nowInMs = clock.nowInMs();
      let etaInSeconds: number | undefined;
      if (job !== undefined) {
        const { done, total } = describeProgress(job);
        throughput.add(nowInMs, done);
        etaInSeconds = throughput.etaInSeconds(total - done);
      }
      renderer.update(job, etaInSeconds, nowInMs);
      if (job !== undefined && isTerminalStatus(job.status)) return job;
      await delay(pollIntervalInMs, options.abortSignal);
    }
  } finally {
    renderer.stop();
  }
}

/** A single redrawn line on a terminal; cli-progress owns the cursor and the redraw rate. */
class BarRenderer implements ProgressRenderer {
  private readonly bar: cliProgress.SingleBar;
  private started = false;
  private readonly barSizeInChars: number;

  constructor(stream: ProgressStream) {
    this.barSizeInChars = Math.max(10, Math.min(30, Math.floor((stream.columns ?? 80) / 5)));
    this.bar = new cliProgress.SingleBar({
      stream,
      // The line is ours (honest percent, growing totals); cli-progress only draws it.
      format: (_options, _params, payload: { line: string }) => payload.line,
      hideCursor: true,
      // Our caller owns Ctrl-C: the library's handler would swallow it and leave the poll loop running.
      gracefulExit: false,
      clearOnComplete: false,
    });
  }

  update(job: BatchObject | undefined, etaInSeconds: number | undefined): void {
    const line = formatProgressLine(job, { barSizeInChars: this.barSizeInChars, etaInSeconds });
    if (!this.started) {
      this.bar.start(1, 0, { line });
      this.started = true;
    } else {
      this.bar.update({ line });
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}

/** Logs and CI: one plain line when something changed, throttled, and always the last state. */
class PlainRenderer implements ProgressRenderer {
  private lastPrinted: { key: string; status: string | undefined; atInMs: number } | undefined;

  constructor(
    private readonly stream: ProgressStream,
    private readonly intervalInMs: number,
  ) {}

  update(job: BatchObject | undefined, etaInSeconds: number | undefined, nowInMs: number): void {
    // The ETA moves on every poll; it alone is not a change worth a line.
    const key = formatProgressLine(job);
    const status = job?.status;
    const last = this.lastPrinted;
    if (last !== undefined && last.key === key) return;
    const statusChanged = last === undefined || last.status !== status;
    const terminal = job !== undefined && isTerminalStatus(job.status);
    if (!statusChanged && !terminal && nowInMs - last.atInMs < this.intervalInMs) return;
    this.stream.write(`${formatProgressLine(job, { etaInSeconds })}\n`);
    this.lastPrinted = { key, status, atInMs: nowInMs };
  }

  stop(): void {}
}
