import { isComplete, JobStatus, TERMINAL_STATUSES, totalTasks, type Job } from '../core/job.js';
import { LineErrorCode } from '../core/lineErrors.js';
import { toBatchOutputLine, type LineOutcome } from '../core/lineOutcome.js';
import type { Logger } from './Logger.js';
import type { Clock, JobStore, RollupStore, UsageLedger } from './ports.js';
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

async function* jsonLines(outcomes: AsyncIterable<LineOutcome>, counted: { lines: number }): AsyncIterable<string> {
  for await (const outcome of outcomes) {
    counted.lines += 1;
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
  if (!stored.job.ingest.done) return 'not-ready';
  // The live counters move only after outcomes are written, so they can lag but never lead: when they
  // say complete, the job is. Only when they do not (a worker died in between) is the exact count taken.
  if (!isComplete(stored.job)) {
    const exact = await deps.jobs.totalsOfOutcomes(jobId);
    if (exact.succeeded + exact.failed < totalTasks(stored.job)) return 'not-ready';
  }

  const finalizingAt = stored.job.timestamps.finalizingAt ?? deps.clock.nowInMs();
  const marked = await replaceWithRetry(jobId, deps, (job) => ({
    ...job,
    status: job.status === JobStatus.cancelling ? job.status : JobStatus.finalizing,
    timestamps: { ...job.timestamps, finalizingAt },
  }));
  if (TERMINAL_STATUSES.has(marked.status)) return 'already-final';

  const resultsBlob = resultsBlobName(jobId);
  const errorsBlob = errorsBlobName(jobId);
  // The files and the ledger's sums are independent: they go on side by side.
  const [totals, { totals: spent }] = await Promise.all([
    writeFiles(jobId, marked, deps),
    // Spend is the ledger's (every billed call, repeats included), summed as the rollups are brought up to it.
    refreshRollups(jobId, deps),
  ]);
  const now = deps.clock.nowInMs();
  const final = await replaceWithRetry(jobId, deps, (job) => {
    const noRequests = job.ingest.requests === 0;
    // Input deleted or replaced before it was read to its end: what was read is finished, the job failed.
    const inputLost = job.jobError?.code === LineErrorCode.inputChanged;
    const status =
      job.status === JobStatus.cancelling
        ? JobStatus.cancelled
        : noRequests || job.halt !== undefined || inputLost
          ? JobStatus.failed
          : job.windowClosedAtInMs !== undefined
            ? JobStatus.expired
            : JobStatus.completed;
    const stamp = STAMPS[status];
    return {
      ...job,
      status,
      counts: { succeeded: totals.succeeded, failed: totals.failed },
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
      jobError: noRequests
        ? {
            code: job.ingest.invalid === 0 ? 'empty_batch' : LineErrorCode.invalidRequest,
            message:
              job.ingest.invalid === 0
                ? `The file has no request lines (${job.ingest.linesRead} blank lines)`
                : `The file has no valid request line: all ${job.ingest.invalid} lines failed validation`,
          }
        : job.halt !== undefined
          ? { code: job.halt.code, message: job.halt.message }
          : job.jobError,
      timestamps: { ...job.timestamps, [stamp]: now },
      output: { container: deps.outputContainer, resultsBlob, errorsBlob },
    };
  });
  deps.logger.info(`Job ${jobId} ${final.status}: ${totals.succeeded} succeeded, ${totals.failed} failed`);
  await deps.onFinal?.(final);
  return 'finalized';
}

/**
 * Writes the output and error files; returns the lines in each. Complete live counters are exact (see
 * above): when the parts staged as lines finished hold exactly those lines, committing them is the
 * whole write. Otherwise (a part was never staged; a retried job, whose earlier error lines are stale)
 * the files are written from the outcomes themselves, counted as they are written.
 */
async function writeFiles(jobId: string, job: Job, deps: FinalizeDeps): Promise<{ succeeded: number; failed: number }> {
  const known = isComplete(job) ? job.counts : undefined;
  if (known !== undefined && (job.retries ?? 0) === 0 && (await deps.resultParts.commit(jobId, known))) {
    return { succeeded: known.succeeded, failed: known.failed };
  }
  const succeeded = { lines: 0 };
  const failed = { lines: 0 };
  // A file the complete counters say is empty needs no listing.
  const outcomes = (status: 'succeeded' | 'not_succeeded', expected: number | undefined): AsyncIterable<LineOutcome> =>
    expected === 0 ? noOutcomes() : deps.jobs.listOutcomes(jobId, { status });
  await Promise.all([
    deps.resultParts.writeWhole(resultsBlobName(jobId), jsonLines(outcomes('succeeded', known?.succeeded), succeeded)),
    deps.resultParts.writeWhole(errorsBlobName(jobId), jsonLines(outcomes('not_succeeded', known?.failed), failed)),
  ]);
  return { succeeded: succeeded.lines, failed: failed.lines };
}

async function replaceWithRetry(jobId: string, deps: FinalizeDeps, change: (job: Job) => Job): Promise<Job> {
  const stored = await updateJob(deps.jobs, jobId, (job) =>
    TERMINAL_STATUSES.has(job.status) ? undefined : change(job),
  );
  return stored.job;
}
