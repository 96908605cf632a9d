import type { Job } from '../core/job.js';
import { LineErrorCode } from '../core/lineErrors.js';
import { failedLineOutcome, type LineOutcome } from '../core/lineOutcome.js';
import type { RequestItem } from '../core/requestMessage.js';
import type { Clock, JobStore } from './ports.js';
import { updateJob } from './updateJob.js';

/**
 * The job's completion window closed before these lines were sent: each ends as `batch_expired` (its
 * attempts so far kept), and the job notes when its window was found closed, which makes finalisation
 * end it as `expired`. What finished before is kept.
 */
export async function expireLines(
  job: Job,
  items: readonly RequestItem[],
  deps: { jobs: JobStore; clock: Clock },
): Promise<LineOutcome[]> {
  const now = deps.clock.nowInMs();
  if (job.windowClosedAtInMs === undefined) {
    await updateJob(deps.jobs, job.id, (current) =>
      current.windowClosedAtInMs === undefined ? { ...current, windowClosedAtInMs: now } : undefined,
    );
  }
  const error = { code: LineErrorCode.batchExpired, message: 'The completion window closed before this line was sent' };
  return items.map((item) =>
    failedLineOutcome({ jobId: job.id, item, error: { ...error }, attempts: item.prior ?? 0, finishedAtInMs: now }),
  );
}
