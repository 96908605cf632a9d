import { ensureError } from '../core/errors.js';
import { JobStatus, isWindowClosed, totalTasks, type Job } from '../core/job.js';
import { finalizeMessage, ingestMessage } from '../core/controlMessage.js';
import type { IngestScheduling } from './ingest/IngestDeps.js';
import type { Logger } from './Logger.js';
import type { Clock, JobStore, MessageQueue } from './ports.js';
import { backlogHoldsWork } from './jobScheduling.js';
import { requeueLines, type RequeueLinesDeps } from './requeueLines.js';
import { updateJob } from './updateJob.js';

/** What the sweeper needs: the job store, the control queue, and what re-queueing lines needs. */
export interface SweepDeps extends RequeueLinesDeps {
  /** With lazy fan-out (decision 0012): a job whose backlog still holds work is waiting its turn, not stalled. */
  readonly scheduling?: Pick<IngestScheduling, 'backlogs' | 'fairShare'> | undefined;
  readonly jobs: JobStore;
  readonly controlQueue: MessageQueue;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface SweepOptions {
  /** A job with no progress for this long is looked at: longer than a crashed host's message takes to reappear. */
  readonly stallInMs: number;
}

/** `error`: looking after the job failed (logged); the sweep went on with the others and tries it again next time. */
export type SweepAction = 'healthy' | 'deferred' | 'waiting' | 'resume-ingest' | 'finalize' | 'requeued' | 'error';

export interface SweepReport {
  readonly jobs: number;
  readonly actions: Readonly<Record<string, SweepAction>>;
  readonly requeuedLines: number;
}

/**
 * The safety net for what at-least-once delivery can still lose: an ingest that died and ran out of
 * retries, a finalisation that never ran, a work message lost for good. It only acts on jobs that have
 * made no progress for `stallInMs`, and everything it does is idempotent: a line that meanwhile got
 * its outcome is skipped by the worker.
 */
export async function sweep(deps: SweepDeps, options: SweepOptions): Promise<SweepReport> {
  const now = deps.clock.nowInMs();
  const actions: Record<string, SweepAction> = {};
  let requeuedLines = 0;
  let jobs = 0;
  for await (const job of deps.jobs.listActiveJobs()) {
    jobs += 1;
    try {
      const action = await sweepJob(job, now, deps, options);
      actions[job.id] = action.kind;
      requeuedLines += action.requeued;
    } catch (thrown) {
      // One job that cannot be helped (its input gone, a store error) must not keep the others from being swept.
      const error = ensureError(thrown);
      actions[job.id] = 'error';
      deps.logger.error(
        `Sweeper: job ${job.id} could not be looked after (${error.name}: ${error.message}); the other jobs are swept on`,
      );
    }
  }
  return { jobs, actions, requeuedLines };
}

async function sweepJob(
  job: Job,
  now: number,
  deps: SweepDeps,
  options: SweepOptions,
): Promise<{ kind: SweepAction; requeued: number }> {
  const lastProgress = Math.max(job.progressAtInMs ?? 0, job.createdAtInMs, job.timestamps.cancellingAt ?? 0);
  // Lines parked in delayed messages past the window's end are not waited for: queued again now, they expire at once.
  const parkedPastWindow = job.deferral !== undefined && job.deferral.untilInMs > now && isWindowClosed(job, now);
  if (!parkedPastWindow && now - lastProgress < options.stallInMs) return { kind: 'healthy', requeued: 0 };
  if (!parkedPastWindow && job.deferral !== undefined && job.deferral.untilInMs > now)
    return { kind: 'deferred', requeued: 0 };

  const touch = () => updateJob(deps.jobs, job.id, (current) => ({ ...current, progressAtInMs: now }));
  if (!job.ingest.done) {
    const resume = ingestMessage(job.input.container, job.input.name, job.id);
    await deps.controlQueue.send([resume]);
    await touch();
    deps.logger.warn(`Sweeper: job ${job.id} stalled while reading its file; ingest resumed`);
    return { kind: 'resume-ingest', requeued: 0 };
  }
  const totals = await deps.jobs.totalsOfOutcomes(job.id);
  if (totals.succeeded + totals.failed >= totalTasks(job) || job.status === JobStatus.finalizing) {
    await deps.controlQueue.send([finalizeMessage(job.id)]);
    await touch();
    return { kind: 'finalize', requeued: 0 };
  }
  if (deps.scheduling !== undefined && (await backlogHoldsWork(deps.scheduling, job))) {
    // Its lines wait in its backlog for their share of the budget: sending them again would jump the queue.
    return { kind: 'waiting', requeued: 0 };
  }
  const recorded = new Set<number>();
  for await (const line of deps.jobs.listOutcomeLines(job.id)) recorded.add(line);
  const requeued = await requeueLines(job, (line) => (recorded.has(line) ? undefined : { prior: 0 }), deps);
  await touch();
  deps.logger.warn(
    `Sweeper: job ${job.id} had ${requeued} line(s) without an outcome and no progress; they were queued again`,
  );
  return { kind: 'requeued', requeued };
}
