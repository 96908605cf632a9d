import type { BatchObject } from '../src/core/batchObject.js';
import { TERMINAL_STATUSES, type JobStatus } from '../src/core/job.js';
import { formatCost, formatCount, formatDurationInSeconds, formatTokens } from './format.js';

/** Where a job is, as far as a person watching it cares. */
export const ProgressPhase = {
  /** The file is uploaded but the ingest function has not created the job yet. */
  waiting: 'waiting',
  /** The file is still being read: the total is still growing. */
  reading: 'reading',
  running: 'running',
  finalizing: 'finalizing',
  cancelling: 'cancelling',
  ended: 'ended',
} as const;
export type ProgressPhase = (typeof ProgressPhase)[keyof typeof ProgressPhase];

/** A job that is not over never shows as full, even when every line has an outcome. */
const MAX_UNFINISHED_FRACTION = 0.99;

export interface JobProgress {
  readonly phase: ProgressPhase;
  readonly status: JobStatus | undefined;
  /** Lines with an outcome (succeeded or failed, invalid lines included). */
  readonly done: number;
  /** Lines that will get an outcome; still growing while the phase is `reading`. */
  readonly total: number;
  /** 0..1 once the total is known; stays below 1 until the job has ended. */
  readonly fraction: number | undefined;
}

export function isTerminalStatus(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export function describeProgress(job: BatchObject | undefined): JobProgress {
  if (job === undefined)
    return { phase: ProgressPhase.waiting, status: undefined, done: 0, total: 0, fraction: undefined };
  const done = job.request_counts.completed + job.request_counts.failed;
  const total = job.request_counts.total;
  const base = { status: job.status, done, total };
  if (isTerminalStatus(job.status)) {
    return { ...base, phase: ProgressPhase.ended, fraction: total > 0 ? Math.min(1, done / total) : undefined };
  }
  const unfinished = total > 0 ? Math.min(MAX_UNFINISHED_FRACTION, done / total) : undefined;
  if (job.status === 'cancelling')
    return { ...base, phase: ProgressPhase.cancelling, fraction: job.ingest.done ? unfinished : undefined };
  if (!job.ingest.done) return { ...base, phase: ProgressPhase.reading, fraction: undefined };
  if (job.status === 'finalizing') return { ...base, phase: ProgressPhase.finalizing, fraction: unfinished };
  return { ...base, phase: ProgressPhase.running, fraction: unfinished };
}

export interface FormatProgressLineOptions {
  /** Width of the drawn bar; 0 (the default) draws none, as for logs. */
  readonly barSizeInChars?: number;
  /** Estimated time left, shown while lines are being processed. */
  readonly etaInSeconds?: number | undefined;
}

const SEPARATOR = ' | ';

/** One line describing the job now: the text of the TTY bar and of each plain log line. */
export function formatProgressLine(job: BatchObject | undefined, options: FormatProgressLineOptions = {}): string {
  const progress = describeProgress(job);
  const barSize = options.barSizeInChars ?? 0;
  const bar = barSize > 0 ? `${drawBar(progress.fraction, barSize)} ` : '';
  if (job === undefined) return `${bar}waiting for the ingest function to pick up the file…`;

  const parts: string[] = [];
  if (progress.phase === ProgressPhase.reading) {
    parts.push(`reading file… ${formatCount(job.ingest.lines_read)} lines read`);
  } else {
    const ratio = `${formatCount(progress.done)}/${formatCount(progress.total)}`;
    parts.push(progress.fraction === undefined ? ratio : `${formatPercent(progress.fraction)} ${ratio}`);
  }
  const invalid = job.ingest.invalid_lines > 0 ? ` (${formatCount(job.ingest.invalid_lines)} invalid)` : '';
  parts.push(
    `ok ${formatCount(job.request_counts.completed)} · failed ${formatCount(job.request_counts.failed)}${invalid}`,
  );
  parts.push(`tokens ${formatTokens(job.usage.input_tokens)} in / ${formatTokens(job.usage.output_tokens)} out`);
  parts.push(formatCost(job.cost));
  const note = phaseNote(progress.phase, options.etaInSeconds);
  if (note !== undefined) parts.push(note);
  parts.push(job.status);
  return bar + parts.join(SEPARATOR);
}

function phaseNote(phase: ProgressPhase, etaInSeconds: number | undefined): string | undefined {
  switch (phase) {
    case ProgressPhase.running:
      return `ETA ${etaInSeconds === undefined ? '-' : formatDurationInSeconds(etaInSeconds)}`;
    case ProgressPhase.finalizing:
      return 'writing output files…';
    case ProgressPhase.cancelling:
      return 'cancelling…';
    default:
      return undefined;
  }
}

/** Floors, so 99.9% never reads as 100%. */
export function formatPercent(fraction: number): string {
  return `${Math.floor(fraction * 100)}%`;
}

function drawBar(fraction: number | undefined, width: number): string {
  const filled = fraction === undefined ? 0 : Math.floor(fraction * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

/**
 * Lines per second over a recent window of polls, for the ETA. Measured on the watcher's own clock,
 * so the server's clock and the time before the watch started do not skew it.
 */
export class ThroughputEstimator {
  private samples: { atInMs: number; done: number }[] = [];

  constructor(private readonly windowInMs = 60_000) {}

  add(atInMs: number, done: number): void {
    const last = this.samples[this.samples.length - 1];
    // A count that went backwards means a different job or a reset: start over.
    if (last !== undefined && done < last.done) this.samples = [];
    this.samples.push({ atInMs, done });
    // Keep one sample older than the window as the anchor of the rate.
    while (this.samples.length > 2 && this.samples[1]!.atInMs <= atInMs - this.windowInMs) this.samples.shift();
  }

  /** Seconds until `remaining` more lines are done at the recent rate; undefined until there is a rate. */
  etaInSeconds(remaining: number): number | undefined {
    if (remaining <= 0) return 0;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined || last.atInMs <= first.atInMs) return undefined;
    const perMs = (last.done - first.done) / (last.atInMs - first.atInMs);
    return perMs > 0 ? remaining / perMs / 1000 : undefined;
  }
}
