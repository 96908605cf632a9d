import type { BatchRequest } from '../core/openai/batchRequest.js';
import { parseCompletionWindow } from '../core/openai/completionWindow.js';
import { ConflictError, ensureError } from '../core/errors.js';
import type { IngestScheduling } from './ingest/IngestDeps.js';
import { backlogAsQueue, registerWork } from './jobScheduling.js';
import { JobStatus, TERMINAL_STATUSES, type Job } from '../core/job.js';
import { isRetryableLineError, isValidationError } from '../core/lineErrors.js';
import { requireJob } from './jobQueries.js';
import type { Logger } from './Logger.js';
import type { BlobStore, Clock, JobStore, StoredJob } from './ports.js';
import { requeueLines, type RequeueLinesDeps } from './requeueLines.js';

/** What a retry of failed lines needs: the job store, and what re-queueing lines needs. */
export interface RetryFailedLinesDeps extends RequeueLinesDeps {
  readonly jobs: JobStore;
  readonly blobs: BlobStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Lazy fan-out (decision 0012): retried lines go to the job's backlog. */
  readonly scheduling?: IngestScheduling | undefined;
}

export interface RetryResult {
  readonly job: Job;
  readonly retried: number;
}

/** Reads of the job before giving up when other writers keep changing it between our read and our write. */
const MAX_ATTEMPTS = 5;

const windowLengthInMs = (request: BatchRequest): number =>
  parseCompletionWindow(request.completionWindow, { minInMs: 0, maxInMs: Number.MAX_SAFE_INTEGER });

/**
 * Sends a finished job's failed lines again (all of them, or only those whose failure a retry can
 * fix), keeping the lines that succeeded. Lines that failed validation are never resent: their input
 * is what is wrong. Attempts keep adding up per line.
 *
 * Nothing changes unless the retry can run: the job must be finished and its input blob still the
 * version the job read (else 409, and the job and its outcomes stay as they were). Reopening the job
 * is one conditional write on the ETag it was read with, so of several retries at once exactly one
 * wins; the others find the job running again and get a 409.
 */
export async function retryFailedLines(
  deps: RetryFailedLinesDeps,
  jobId: string | undefined,
  options: { retryableOnly: boolean },
): Promise<RetryResult> {
  let stored: StoredJob | undefined = await requireJob(deps.jobs, jobId);
  for (let attempt = 0; attempt < MAX_ATTEMPTS && stored !== undefined; attempt += 1) {
    const { job, etag }: StoredJob = stored;
    if (!TERMINAL_STATUSES.has(job.status)) {
      throw new ConflictError(`Job ${job.id} is ${job.status}; failed lines can be retried once it has finished`);
    }
    if (job.deletedAtInMs !== undefined || job.removed?.outcomesAtInMs !== undefined) {
      const why = job.deletedAtInMs !== undefined ? 'was deleted' : 'has outcomes past their retention period';
      throw new ConflictError(`Job ${job.id} ${why}: its outcomes are gone, so submit the file again`);
    }
    await requireInputUnchanged(job, deps);
    const attemptsByLine = await linesToRetry(job, deps, options);
    if (attemptsByLine.size === 0) {
      // Nothing to send, if the job is still as read: a concurrent retry may have taken the lines meanwhile.
      const latest: StoredJob | undefined = await deps.jobs.getJob(job.id);
      if (latest?.etag === etag) return { job, retried: 0 };
      stored = latest;
      continue;
    }

    const reopened = await deps.jobs.replaceJob(reopen(job, attemptsByLine.size, deps.clock.nowInMs()), etag);
    if (reopened === undefined) {
      // Someone wrote the job since we read it (another retry, most likely): look again.
      stored = await deps.jobs.getJob(job.id);
      continue;
    }
    // Outcomes go first, then the lines: a line is never both recorded and queued. A crash in between
    // leaves lines with neither, which the sweeper finds and queues.
    await deps.jobs.deleteOutcomes(job.id, [...attemptsByLine.keys()]);
    const retried = await requeueFailed(reopened.job, attemptsByLine, deps);
    deps.logger.info(`Job ${job.id}: ${retried} failed line(s) sent again`);
    return { job: reopened.job, retried };
  }
  throw new ConflictError(`Job ${jobId ?? ''} kept changing while its retry was prepared; try again`);
}

/**
 * The lines go to the job's backlog, fed fairly like its first run's (decision 0012), or straight to the
 * work queue without lazy fan-out.
 */
async function requeueFailed(job: Job, attemptsByLine: ReadonlyMap<number, number>, deps: RetryFailedLinesDeps) {
  const select = (line: number) => {
    const prior = attemptsByLine.get(line);
    return prior === undefined ? undefined : { prior };
  };
  const { scheduling } = deps;
  if (scheduling === undefined) return requeueLines(job, select, deps);
  const backlog = backlogAsQueue(scheduling.backlogs, job.id);
  const retried = await requeueLines(job, select, { ...deps, requestQueue: backlog });
  const perLine =
    job.ingest.requests === 0
      ? 0
      : (job.ingest.estimatedPromptTokens + job.ingest.maxCompletionTokens) / job.ingest.requests;
  await registerWork(scheduling.fairShare, job, {
    extra: { messages: backlog.sent, tokens: Math.ceil(retried * perLine) },
  });
  await scheduling.feed(job.deployment).catch((error: unknown) => {
    deps.logger.warn(
      `Job ${job.id}: feeding the work queue failed (${ensureError(error).message}); the next feed makes up for it`,
    );
  });
  return retried;
}

/** The failed lines are read back from the version of the input the job read: it must still be there. */
async function requireInputUnchanged(job: Job, deps: Pick<RetryFailedLinesDeps, 'blobs'>): Promise<void> {
  const { container, name, etag } = job.input;
  const properties = await deps.blobs.getProperties(container, name);
  if (properties === undefined) {
    throw new ConflictError(
      `Job ${job.id}: its input ${container}/${name} has been deleted, so its failed lines cannot be read again`,
    );
  }
  if (properties.etag !== etag) {
    throw new ConflictError(
      `Job ${job.id}: its input ${container}/${name} has been replaced since the job read it, so its failed lines cannot be read again; ` +
        'the new file is a job of its own',
    );
  }
}

/** Answers that refuse the deployment's key or address, not the line. */
const DEPLOYMENT_REFUSED: ReadonlySet<number> = new Set([401, 403, 404]);

/** The failed lines a retry sends again, with how many calls each already had. */
async function linesToRetry(
  job: Job,
  deps: Pick<RetryFailedLinesDeps, 'jobs'>,
  options: { retryableOnly: boolean },
): Promise<Map<number, number>> {
  const attemptsByLine = new Map<number, number>();
  for await (const outcome of deps.jobs.listOutcomes(job.id, { status: 'not_succeeded' })) {
    const code = outcome.error?.code ?? '';
    if (isValidationError(code)) continue;
    // A 5xx (or 429) that outlasted the retries says nothing against the line, whatever code its body named;
    // nor does the 401/403/404 that halted the job (a wrong key or address: fixed, the line can succeed).
    const status = outcome.response?.status_code ?? 0;
    const lineNotAtFault = status >= 500 || status === 429 || DEPLOYMENT_REFUSED.has(status);
    if (options.retryableOnly && !isRetryableLineError(code) && !lineNotAtFault) continue;
    attemptsByLine.set(outcome.line, outcome.attempts);
  }
  return attemptsByLine;
}

function reopen(job: Job, lines: number, nowInMs: number): Job {
  const {
    completedAt: _c,
    failedAt: _f,
    cancelledAt: _x,
    finalizingAt: _z,
    cancellingAt: _y,
    expiredAt: _e,
    ...timestamps
  } = job.timestamps;
  const request = job.batchRequest;
  return {
    ...job,
    // A retry runs in a new window of the same length, from now.
    batchRequest:
      request === undefined ? undefined : { ...request, expiresAtInMs: nowInMs + windowLengthInMs(request) },
    windowClosedAtInMs: undefined,
    status: JobStatus.inProgress,
    halt: undefined,
    reopenedAtInMs: nowInMs,
    jobError: undefined,
    deferral: undefined,
    retries: (job.retries ?? 0) + 1,
    progressAtInMs: nowInMs,
    counts: { succeeded: job.counts.succeeded, failed: job.counts.failed - lines },
    timestamps: { ...timestamps, inProgressAt: job.timestamps.inProgressAt ?? nowInMs },
  };
}
