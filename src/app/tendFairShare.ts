import {
  hasWork,
  leave,
  removePendingFeed,
  renewPendingFeed,
  stalePendingFeeds,
  type FairShareJob,
  type FairShareState,
} from '../core/fairShare.js';
import { JobStatus, TERMINAL_STATUSES, type Job } from '../core/job.js';
import { feedWork, readRange, resentPayload, type FeedDeps, type FeedReport } from './feedWork.js';
import { deadlineOf, registerWork, weightOf, withdrawJob } from './jobScheduling.js';
import type { JobStore } from './ports.js';
import { FEED_LEASE_IN_MS, FEED_READ_BYTES } from './tuning.js';

/** What the feeder's timer needs: the feeder's deps and the jobs. */
export interface TendDeps extends FeedDeps {
  readonly jobs: JobStore;
}

export interface TendReport extends FeedReport {
  readonly jobs: number;
  /** Jobs that left (finished, cancelled and drained, or gone) and whose backlogs were deleted. */
  readonly left: number;
  /** Messages of feeds whose feeder died, sent again. */
  readonly resent: number;
}

/**
 * The timer's pass over a deployment's fair sharing, the safety net under the feeds the ingest and the
 * workers trigger: feeds a feeder left behind are sent again; jobs that ended leave and their backlogs
 * are deleted; a cancelled job is withdrawn; a changed priority or window is taken up; messages in a
 * backlog beyond what the state counts (a resumed ingest's repeats) are scheduled. Then it feeds.
 */
export async function tendFairShare(deps: TendDeps, deployment: string): Promise<TendReport> {
  const resent = await resendStaleFeeds(deps, deployment);
  const state = await deps.fairShare.read(deployment);
  let left = 0;
  for (const [jobId, entry] of Object.entries(state.jobs)) {
    if (await tendJob(jobId, entry, state, deployment, deps)) left += 1;
  }
  const report = await feedWork(deps, deployment);
  return { ...report, jobs: Object.keys(state.jobs).length, left, resent };
}

/** Each stale feed is taken over with a conditional write (one re-sender), sent again, then cleared. */
async function resendStaleFeeds(deps: TendDeps, deployment: string): Promise<number> {
  const stale = stalePendingFeeds(await deps.fairShare.read(deployment), deps.clock.nowInMs());
  let resent = 0;
  for (const { id } of stale) {
    const feed = await deps.fairShare.update(deployment, (state) => {
      const nowInMs = deps.clock.nowInMs();
      const renewed = renewPendingFeed(state, id, nowInMs + FEED_LEASE_IN_MS, nowInMs);
      return { state: renewed.state, result: renewed.feed };
    });
    if (feed === undefined) continue;
    for (const range of feed.ranges ?? []) {
      const payloads = await readRange(deps.backlogs, range);
      if (payloads.length > 0) await deps.requestQueue.send(payloads.map(resentPayload));
      resent += payloads.length;
    }
    await deps.fairShare.update(deployment, (state) => ({
      state: removePendingFeed(state, id, deps.clock.nowInMs()),
      result: undefined,
    }));
    deps.logger.info(`Feeder: a feed left behind (${feed.messages} message(s)) was sent again`);
  }
  return resent;
}

/** Looks after one job of the state; true if it left. */
async function tendJob(
  jobId: string,
  entry: FairShareJob,
  state: FairShareState,
  deployment: string,
  deps: TendDeps,
): Promise<boolean> {
  const job = (await deps.jobs.getJob(jobId))?.job;
  if (job === undefined || TERMINAL_STATUSES.has(job.status) || job.deployment !== deployment) {
    await dropJob(jobId, deployment, deps);
    return true;
  }
  if (job.status === JobStatus.cancelling) {
    if (entry.cancelling !== true) await withdrawJob(deps.fairShare, job);
    else if (
      job.ingest.done &&
      !pendingFor(state, jobId) &&
      (await deps.backlogs.length(jobId)) <= (entry.offset ?? 0)
    ) {
      await dropJob(jobId, deployment, deps);
      return true;
    }
    return false;
  }
  if (entry.weight !== weightOf(job) || entry.deadlineAtInMs !== deadlineOf(job))
    await registerWork(deps.fairShare, job, {});
  if (!hasWork(entry) && job.ingest.done) await scheduleUncounted(job, entry, deps);
  return false;
}

function pendingFor(state: FairShareState, jobId: string): boolean {
  return state.pendingFeeds.some((f) => (f.ranges ?? []).some((r) => r.jobId === jobId));
}

/**
 * Messages past the job's offset that the state does not count once the ingest is done (a resumed
 * ingest appended some again, or a feeder counted short) are scheduled: the job must not stop with work in its backlog.
 * Counting more than there is only lasts until a feed reads the backlog to its end.
 */
async function scheduleUncounted(job: Job, entry: FairShareJob, deps: TendDeps): Promise<void> {
  const offset = entry.offset ?? 0;
  const read = await deps.backlogs.read(job.id, offset, FEED_READ_BYTES);
  const count = read.messages.length;
  if (count === 0) return;
  const queued = entry.ingestMessages + entry.extraMessages;
  const perMessage = queued === 0 ? 0 : (entry.ingestTokens + entry.extraTokens) / queued;
  await registerWork(deps.fairShare, job, { extra: { messages: count, tokens: Math.ceil(count * perMessage) } });
  deps.logger.info(`Feeder: job ${job.id} has ${count} uncounted message(s) in its backlog past ${offset}; scheduled`);
}

async function dropJob(jobId: string, deployment: string, deps: TendDeps): Promise<void> {
  await deps.backlogs.drop(jobId);
  await deps.fairShare.update(deployment, (state) => ({ state: leave(state, jobId), result: undefined }));
}
