import { ensureError } from '../core/errors.js';
import { TERMINAL_STATUSES, type Job, type JobData } from '../core/job.js';
import type { Logger } from './Logger.js';
import type { Clock } from './ports.js';
import { removeJobData, type RemoveJobDataDeps } from './removeJobData.js';
import { updateJob } from './updateJob.js';

const DAY_IN_MS = 86_400_000;

/** How long a finished job's data is kept, in days; undefined = for ever. */
export interface RetentionPeriods {
  readonly outcomesDays: number | undefined;
  readonly filesDays: number | undefined;
}

export interface RetentionDeps extends RemoveJobDataDeps {
  readonly clock: Clock;
  readonly logger: Logger;
}

/** Jobs whose outcomes / files were removed by this pass. */
export interface RetentionReport {
  readonly outcomes: number;
  readonly files: number;
}

/**
 * Removes the outcomes and files of jobs that finished longer ago than their retention period (the
 * sweeper's timer calls it). Cosmos TTL and the Blob lifecycle rule do the same in Azure, counted from
 * each item's last write; this pass counts from the job's end, so nothing of a running job goes, and
 * it works where TTL does not (the local stand-in). The job is marked first, so a retry cannot reopen
 * it meanwhile; if the removal is cut short, TTL and the lifecycle rule remove the rest.
 */
export async function applyRetention(periods: RetentionPeriods, deps: RetentionDeps): Promise<RetentionReport> {
  return {
    outcomes: await expire('outcomes', periods.outcomesDays, deps),
    files: await expire('files', periods.filesDays, deps),
  };
}

async function expire(data: JobData, days: number | undefined, deps: RetentionDeps): Promise<number> {
  if (days === undefined) return 0;
  const now = deps.clock.nowInMs();
  let expired = 0;
  for await (const job of deps.jobs.listFinishedBefore(now - days * DAY_IN_MS, data)) {
    try {
      const marked = await updateJob(deps.jobs, job.id, (current) => markRemoved(current, data, now, days));
      if (marked.job.removed?.[data === 'outcomes' ? 'outcomesAtInMs' : 'filesAtInMs'] !== now) continue;
      await removeJobData(job.id, [data], deps);
      expired += 1;
    } catch (thrown) {
      deps.logger.warn(`Retention: job ${job.id}: ${data} not removed now: ${ensureError(thrown).message}`);
    }
  }
  if (expired > 0)
    deps.logger.info(`Retention: the ${data} of ${expired} job(s) finished over ${days} days ago removed`);
  return expired;
}

/** The job marked as having lost `data` now, unless it was reopened (a retry) or is marked already. */
function markRemoved(job: Job, data: JobData, now: number, days: number): Job | undefined {
  if (!TERMINAL_STATUSES.has(job.status)) return undefined;
  if (job.finishedAtInMs === undefined || job.finishedAtInMs >= now - days * DAY_IN_MS) return undefined;
  const field = data === 'outcomes' ? 'outcomesAtInMs' : 'filesAtInMs';
  if (job.removed?.[field] !== undefined) return undefined;
  return { ...job, removed: { ...job.removed, [field]: now } };
}
