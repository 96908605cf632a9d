import { isComplete, JobStatus, TERMINAL_STATUSES, totalTasks, type Job } from '../core/job.js';
import { LineErrorCode } from '../core/lineErrors.js';
import { toBatchOutputLine, type LineOutcome } from '../core/lineOutcome.js';
import type { Logger } from './Logger.js';
import type { Clock, JobStore, LedgerTotals, RollupStore, UsageLedger } from './ports.js';
import { refreshRollups } from './costRollups.js';
import { errorsBlobName, resultsBlobName, type ResultParts } from './resultParts.js';
import { updateJob } from './updateJob.js';

export interface FinalizeDeps {
  readonly jobs: JobStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly outputContainer: string;
  readonly ledger: UsageLedger;
  readonly rollups: RollupStore;
  readonly resultParts: ResultParts;
  /** Told of the job once it is final (the webhook's queueing); told again when finalisation runs for a final job. */
  readonly onFinal?: ((job: Job) => Promise<void>) | undefined;
}

const STAMPS = {
  cancelled: 'cancelledAt',
  failed: 'failedAt',
  expired: 'expiredAt',
  completed: 'completedAt',
} as const satisfies Partial<Record<JobStatus, keyof Job['timestamps']>>;

export type FinalizeResult = 'finalized' | 'not-ready' | 'already-final';

/** Lines written to a file, and of those the ones answered from the response cache. */
interface Counted {
  lines: number;
  cacheHits: number;
  cacheSavedInNanos: number;
}

async function* jsonLines(outcomes: AsyncIterable<LineOutcome>, counted: Counted): AsyncIterable<string> {
  for await (const outcome of outcomes) {
    counted.lines += 1;
    if (outcome.cached !== undefined) {
      counted.cacheHits += 1;
      counted.cacheSavedInNanos += outcome.cached.savedInNanos;
    }
    yield `${JSON.stringify(toBatchOutputLine(outcome))}\n`;
  }
}

async function* noOutcomes(): AsyncIterable<LineOutcome> {}

/**
 * Writes the output and error files and closes the job, once every line has its outcome.
 * Counts come from the outcomes themselves as the files are written, so the final numbers are exact.
 * Idempotent: running it twice rewrites the same files and leaves the same state.
 */
export async function finalizeJob(jobId: string, deps: FinalizeDeps): Promise<FinalizeResult> {
  const stored = await deps.jobs.getJob(jobId);
  if (stored === undefined) throw new Error(`Job ${jobId} does not exist`);
  if (TERMINAL_STATUSES.has(stored.job.status)) {
    // A crash between the final write and the notice below is made good by the message's redelivery.
    if (stored.job.webhook === undefined) await deps.onFinal?.(stored.job);
    return 'already-final';
  }
  if (!(await everyLineHasItsOutcome(stored.job, deps))) return 'not-ready';

  const marked = await markFinalizing(stored.job, deps);
  if (TERMINAL_STATUSES.has(marked.status)) return 'already-final';

  // The files and the ledger's sums are independent: they go on side by side.
  const [counts, { totals: spent }] = await Promise.all([
    writeFiles(jobId, marked, deps),
    // Spend is the ledger's (every billed call, repeats included), summed as the rollups are brought up to it.
    refreshRollups(jobId, deps),
  ]);
  const closing: Closing = {
    counts,
    spent,
    nowInMs: deps.clock.nowInMs(),
    output: { container: deps.outputContainer, resultsBlob: resultsBlobName(jobId), errorsBlob: errorsBlobName(jobId) },
  };
  const final = await replaceWithRetry(jobId, deps, (job) => closedJob(job, closing));
  deps.logger.info(`Job ${jobId} ${final.status}: ${counts.succeeded} succeeded, ${counts.failed} failed`);
  await deps.onFinal?.(final);
  return 'finalized';
}

/**
 * Whether the ingest is done and every request line has its outcome. The live counters move only after
 * outcomes are written, so they can lag but never lead: when they say complete, the job is. Only when they
 * do not (a worker died in between) is the exact count taken.
 */
async function everyLineHasItsOutcome(job: Job, deps: FinalizeDeps): Promise<boolean> {
  if (!job.ingest.done) return false;
  if (isComplete(job)) return true;
  const exact = await deps.jobs.totalsOfOutcomes(job.id);
  return exact.succeeded + exact.failed >= totalTasks(job);
}

/** Shows the job as finalizing (a cancelling job stays cancelling), stamped once: a repeat keeps the first time. */
async function markFinalizing(job: Job, deps: FinalizeDeps): Promise<Job> {
  const finalizingAt = job.timestamps.finalizingAt ?? deps.clock.nowInMs();
  return replaceWithRetry(job.id, deps, (current) => ({
    ...current,
    status: current.status === JobStatus.cancelling ? current.status : JobStatus.finalizing,
    timestamps: { ...current.timestamps, finalizingAt },
  }));
}

/** What finalisation found, for the job's final record. */
interface Closing {
  readonly counts: LineCounts;
  readonly spent: LedgerTotals;
  readonly nowInMs: number;
  readonly output: NonNullable<Job['output']>;
}

interface LineCounts {
  readonly succeeded: number;
  readonly failed: number;
  /** Counted from the outcomes when the files were written from them; else the job's live counters stand. */
  readonly cache?: { readonly hits: number; readonly savedInNanos: number };
}

/** The job in its final state: status and its stamp, exact counts, the ledger's spend, the files. */
function closedJob(job: Job, closing: Closing): Job {
  const { counts, spent } = closing;
  const status = finalStatusOf(job);
  return {
    ...job,
    status,
    counts: { succeeded: counts.succeeded, failed: counts.failed },
    ...exactCacheCounts(job, counts),
    usage: {
      promptTokens: spent.promptTokens,
      completionTokens: spent.completionTokens,
      costInNanos: spent.costInNanos,
    },
    spend: {
      ...job.spend,
      committed: spent.costInNanos,
      reserved: 0,
      calls: spent.calls,
      unconfirmedCalls: spent.unconfirmedCalls,
    },
    jobError: finalJobErrorOf(job),
    timestamps: { ...job.timestamps, [STAMPS[status]]: closing.nowInMs },
    finishedAtInMs: closing.nowInMs,
    output: closing.output,
  };
}

/**
 * The cache counters move with the line counts in one write, so complete live counts mean exact cache
 * counts; when the files were written from the outcomes, their count replaces them.
 */
function exactCacheCounts(job: Job, counts: LineCounts): Pick<Job, 'cacheHits' | 'cacheSavedInNanos'> {
  const cache = counts.cache;
  if (cache === undefined || (cache.hits === 0 && job.cacheHits === undefined)) return {};
  return { cacheHits: cache.hits, cacheSavedInNanos: cache.savedInNanos };
}

function finalStatusOf(job: Job): keyof typeof STAMPS {
  if (job.status === JobStatus.cancelling) return JobStatus.cancelled;
  // Input deleted or replaced before it was read to its end: what was read is finished, the job failed.
  const inputLost = job.jobError?.code === LineErrorCode.inputChanged;
  if (job.ingest.requests === 0 || job.halt !== undefined || inputLost) return JobStatus.failed;
  return job.windowClosedAtInMs !== undefined ? JobStatus.expired : JobStatus.completed;
}

/** A file without a request line fails whole; a halted job fails with its halt's reason. */
function finalJobErrorOf(job: Job): Job['jobError'] {
  if (job.jobError?.code === LineErrorCode.invalidTags) return job.jobError;
  if (job.ingest.requests === 0) {
    return job.ingest.invalid === 0
      ? { code: 'empty_batch', message: `The file has no request lines (${job.ingest.linesRead} blank lines)` }
      : {
          code: LineErrorCode.invalidRequest,
          message: `The file has no valid request line: all ${job.ingest.invalid} lines failed validation`,
        };
  }
  if (job.halt !== undefined) return { code: job.halt.code, message: job.halt.message };
  return job.jobError;
}

/**
 * Writes the output and error files; returns the lines in each. Complete live counters are exact (see
 * above): when the parts staged as lines finished hold exactly those lines, committing them is the
 * whole write. Otherwise (a part was never staged; a retried job, whose earlier error lines are stale)
 * the files are written from the outcomes themselves, counted as they are written.
 */
async function writeFiles(jobId: string, job: Job, deps: FinalizeDeps): Promise<LineCounts> {
  const known = isComplete(job) ? job.counts : undefined;
  if (known !== undefined && (job.retries ?? 0) === 0 && (await deps.resultParts.commit(jobId, known))) {
    return { succeeded: known.succeeded, failed: known.failed };
  }
  const succeeded: Counted = { lines: 0, cacheHits: 0, cacheSavedInNanos: 0 };
  const failed: Counted = { lines: 0, cacheHits: 0, cacheSavedInNanos: 0 };
  // A file the complete counters say is empty needs no listing.
  const outcomes = (status: 'succeeded' | 'not_succeeded', expected: number | undefined): AsyncIterable<LineOutcome> =>
    expected === 0 ? noOutcomes() : deps.jobs.listOutcomes(jobId, { status });
  await Promise.all([
    deps.resultParts.writeWhole(resultsBlobName(jobId), jsonLines(outcomes('succeeded', known?.succeeded), succeeded)),
    deps.resultParts.writeWhole(errorsBlobName(jobId), jsonLines(outcomes('not_succeeded', known?.failed), failed)),
  ]);
  const cache = { hits: succeeded.cacheHits, savedInNanos: succeeded.cacheSavedInNanos };
  return { succeeded: succeeded.lines, failed: failed.lines, cache };
}

async function replaceWithRetry(jobId: string, deps: FinalizeDeps, change: (job: Job) => Job): Promise<Job> {
  const stored = await updateJob(deps.jobs, jobId, (job) =>
    TERMINAL_STATUSES.has(job.status) ? undefined : change(job),
  );
  return stored.job;
}
