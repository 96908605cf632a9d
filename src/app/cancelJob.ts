import { ConflictError } from '../core/errors.js';
import { JobStatus, type Job } from '../core/job.js';
import { finalizeMessage } from '../core/controlMessage.js';
import { requireJob } from './jobQueries.js';
import { withdrawJob } from './jobScheduling.js';
import type { Clock, FairShareStore, JobStore, MessageQueue } from './ports.js';
import { updateJob } from './updateJob.js';

/** What cancelling a job needs. */
export interface CancelJobDeps {
  readonly jobs: JobStore;
  readonly controlQueue: MessageQueue;
  readonly clock: Clock;
  /** With lazy fan-out (decision 0012): the job stops being fed at once and its backlog is drained for its outcomes. */
  readonly fairShare?: FairShareStore | undefined;
}

/** Final statuses other than `cancelled`: there is nothing left to cancel. */
const isClosed = (status: JobStatus): boolean =>
  status === JobStatus.completed || status === JobStatus.failed || status === JobStatus.expired;

/**
 * Cancels a job: it becomes `cancelling`; lines not yet sent get a `batch_cancelled` outcome when
 * their message comes up (a cancelled job's backlog is fed out first, uncharged), lines in flight finish and are kept, and finalisation writes the partial
 * output and makes it `cancelled`. Cancelling twice is harmless.
 */
export async function cancelJob(deps: CancelJobDeps, jobId: string | undefined): Promise<Job> {
  const { job } = await requireJob(deps.jobs, jobId);
  if (isClosed(job.status)) {
    throw new ConflictError(`Job ${job.id} is already ${job.status}`);
  }
  const stored = await updateJob(deps.jobs, job.id, (current) => {
    if (current.status === JobStatus.cancelling || current.status === JobStatus.cancelled) return undefined;
    if (isClosed(current.status)) return undefined;
    return {
      ...current,
      status: JobStatus.cancelling,
      timestamps: { ...current.timestamps, cancellingAt: deps.clock.nowInMs() },
    };
  });
  if (isClosed(stored.job.status)) {
    throw new ConflictError(`Job ${job.id} is already ${stored.job.status}`);
  }
  if (deps.fairShare !== undefined) await withdrawJob(deps.fairShare, stored.job);
  // Every line may already have its outcome: finalisation turns `cancelling` into `cancelled`.
  await deps.controlQueue.send([finalizeMessage(job.id)]);
  return stored.job;
}
