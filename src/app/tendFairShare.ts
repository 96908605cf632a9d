import { backlogOf, hasWork, leave, type FairShareJob } from '../core/fairShare.js';
import { JobStatus, TERMINAL_STATUSES, type Job } from '../core/job.js';
import { feedWork, type FeedDeps, type FeedReport } from './feedWork.js';
import { deadlineOf, registerWork, weightOf, withdrawJob } from './jobScheduling.js';
import type { JobStore } from './ports.js';

/** What the feeder's timer needs: the feeder's deps and the jobs. */
export interface TendDeps extends FeedDeps {
  readonly jobs: JobStore;
}

export interface TendReport extends FeedReport {
  readonly jobs: number;
  /** Jobs that left (finished, cancelled and drained, or gone) and whose backlogs were deleted. */
  readonly left: number;
}

/**
 * The timer's pass over a deployment's fair sharing, the safety net under the feeds the ingest and the
 * workers trigger: jobs that ended leave and their backlogs are deleted; a cancelled job is withdrawn; a
 * changed priority or window is taken up; messages back in a backlog after a feeder died (or counted
 * short) are scheduled again. Then it feeds.
 */
export async function tendFairShare(deps: TendDeps, deployment: string): Promise<TendReport> {
  const state = await deps.fairShare.read(deployment);
  let left = 0;
  for (const [jobId, entry] of Object.entries(state.jobs)) {
    if (await tendJob(jobId, entry, deployment, deps)) left += 1;
  }
  const report = await feedWork(deps, deployment);
  return { ...report, jobs: Object.keys(state.jobs).length, left };
}

/** Looks after one job of the state; true if it left. */
async function tendJob(jobId: string, entry: FairShareJob, deployment: string, deps: TendDeps): Promise<boolean> {
  const job = (await deps.jobs.getJob(jobId))?.job;
  if (job === undefined || TERMINAL_STATUSES.has(job.status) || job.deployment !== deployment) {
    await dropJob(jobId, deployment, deps);
    return true;
  }
  if (job.status === JobStatus.cancelling) {
    if (entry.cancelling !== true) await withdrawJob(deps.fairShare, job);
    else if (job.ingest.done && (await deps.backlogs.approximateCount(jobId)) === 0) {
      await dropJob(jobId, deployment, deps);
      return true;
    }
    return false;
  }
  if (entry.weight !== weightOf(job) || entry.deadlineAtInMs !== deadlineOf(job))
    await registerWork(deps.fairShare, job, {});
  if (!hasWork(entry)) await rescheduleLeftovers(job, entry, deps);
  return false;
}

/** Messages in a backlog the state counts as empty (a feeder died holding them, or counted short) are scheduled again. */
async function rescheduleLeftovers(job: Job, entry: FairShareJob, deps: TendDeps): Promise<void> {
  const count = await deps.backlogs.approximateCount(job.id);
  if (count === 0) return;
  const queued = entry.ingestMessages + entry.extraMessages;
  const perMessage = queued === 0 ? 0 : (entry.ingestTokens + entry.extraTokens) / queued;
  await registerWork(deps.fairShare, job, { extra: { messages: count, tokens: Math.ceil(count * perMessage) } });
  deps.logger.info(
    `Feeder: job ${job.id} has ${count} message(s) back in its backlog (${backlogOf(entry).messages} counted); scheduled again`,
  );
}

async function dropJob(jobId: string, deployment: string, deps: TendDeps): Promise<void> {
  await deps.backlogs.drop(jobId);
  await deps.fairShare.update(deployment, (state) => ({ state: leave(state, jobId), result: undefined }));
}
