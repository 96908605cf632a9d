import { ConflictError } from '../core/errors.js';
import { TERMINAL_STATUSES, type Job } from '../core/job.js';
import { requireJob } from './jobQueries.js';
import type { Clock } from './ports.js';
import { removeJobData, type RemoveJobDataDeps } from './removeJobData.js';
import { updateJob } from './updateJob.js';

export interface DeleteJobDeps extends RemoveJobDataDeps {
  readonly clock: Clock;
}

/**
 * `DELETE /api/jobs/{id}`: removes a finished job's line outcomes and files, and keeps the job as a
 * tombstone (its id, tags, counts and cost) so that cost reports, which keep its ledger entries and
 * rollups, still name it. The tombstone is written first, so that no retry can reopen the job while
 * its data goes; deleting again finishes a deletion that was cut short.
 */
export async function deleteJob(deps: DeleteJobDeps, jobId: string | undefined): Promise<Job> {
  const { job } = await requireJob(deps.jobs, jobId);
  const now = deps.clock.nowInMs();
  const marked = await updateJob(deps.jobs, job.id, (current) =>
    !TERMINAL_STATUSES.has(current.status) || current.deletedAtInMs !== undefined
      ? undefined
      : { ...current, deletedAtInMs: now },
  );
  if (!TERMINAL_STATUSES.has(marked.job.status)) {
    throw new ConflictError(`Job ${job.id} is ${marked.job.status}; cancel it first, then delete it once it has ended`);
  }
  await removeJobData(job.id, ['outcomes', 'files'], deps);
  const removed = await updateJob(deps.jobs, job.id, (current) => ({
    ...current,
    removed: {
      outcomesAtInMs: current.removed?.outcomesAtInMs ?? now,
      filesAtInMs: current.removed?.filesAtInMs ?? now,
    },
  }));
  return removed.job;
}
