import type { BatchRequest } from '../core/openai/batchRequest.js';
import { parseCompletionWindow } from '../core/openai/completionWindow.js';
import { ConflictError } from '../core/errors.js';
import { JobStatus, TERMINAL_STATUSES, type Job } from '../core/job.js';
import { isRetryableLineError, isValidationError } from '../core/lineErrors.js';
import type { IngestDeps } from './ingestBlob.js';
import { requireJob } from './jobQueries.js';
import { requeueLines } from './requeueLines.js';
import { updateJob } from './updateJob.js';

export interface RetryResult {
  readonly job: Job;
  readonly retried: number;
}

const windowLengthInMs = (request: BatchRequest): number => parseCompletionWindow(request.completionWindow, { minInMs: 0, maxInMs: Number.MAX_SAFE_INTEGER });

/**
 * Sends a finished job's failed lines again (all of them, or only those whose failure a retry can
 * fix), keeping the lines that succeeded. Lines that failed validation are never resent: their input
 * is what is wrong. Attempts keep adding up per line.
 */
export async function retryFailedLines(deps: IngestDeps, jobId: string | undefined, options: { retryableOnly: boolean }): Promise<RetryResult> {
  const { job } = await requireJob(deps.jobs, jobId);
  if (!TERMINAL_STATUSES.has(job.status)) {
    throw new ConflictError(`Job ${job.id} is ${job.status}; failed lines can be retried once it has finished`);
  }
  const attemptsByLine = new Map<number, number>();
  for await (const outcome of deps.jobs.listOutcomes(job.id, { status: 'not_succeeded' })) {
    const code = outcome.error?.code ?? '';
    if (isValidationError(code)) continue;
    // A 5xx (or 429) that outlasted the retries says nothing against the line, whatever code its body named.
    const status = outcome.response?.status_code ?? 0;
    if (options.retryableOnly && !isRetryableLineError(code) && status < 500 && status !== 429) continue;
    attemptsByLine.set(outcome.line, outcome.attempts);
  }
  if (attemptsByLine.size === 0) return { job, retried: 0 };

  const now = deps.clock.nowInMs();
  const reopened = await updateJob(deps.jobs, job.id, (current) => {
    const { completedAt: _c, failedAt: _f, cancelledAt: _x, finalizingAt: _z, cancellingAt: _y, expiredAt: _e, ...timestamps } = current.timestamps;
    const request = current.batchRequest;
    return {
      ...current,
      // A retry runs in a new window of the same length, from now.
      batchRequest: request === undefined ? undefined : { ...request, expiresAtInMs: now + windowLengthInMs(request) },
      windowClosedAtInMs: undefined,
      status: JobStatus.inProgress,
      halt: undefined,
      jobError: undefined,
      deferral: undefined,
      retries: (current.retries ?? 0) + 1,
      progressAtInMs: now,
      counts: { succeeded: current.counts.succeeded, failed: current.counts.failed - attemptsByLine.size },
      timestamps: { ...timestamps, inProgressAt: current.timestamps.inProgressAt ?? now },
    };
  });
  // Outcomes go first, then the lines: a line is never both recorded and queued. A crash in between
  // leaves lines with neither, which the sweeper finds and queues.
  await deps.jobs.deleteOutcomes(job.id, [...attemptsByLine.keys()]);
  const retried = await requeueLines(reopened.job, (line) => {
    const prior = attemptsByLine.get(line);
    return prior === undefined ? undefined : { prior };
  }, deps);
  deps.logger.info(`Job ${job.id}: ${retried} failed line(s) sent again`);
  return { job: reopened.job, retried };
}
