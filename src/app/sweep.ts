import { JobStatus, isWindowClosed, totalTasks, type Job } from '../core/job.js';
import type { ControlMessage } from './controlMessages.js';
import type { IngestDeps } from './ingestBlob.js';
import { requeueLines } from './requeueLines.js';
import { updateJob } from './updateJob.js';

export interface SweepOptions {
  /** A job with no progress for this long is looked at: longer than a crashed host's message takes to reappear. */
  readonly stallInMs: number;
}

export type SweepAction = 'healthy' | 'deferred' | 'resume-ingest' | 'finalize' | 'requeued';

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
export async function sweep(deps: IngestDeps, options: SweepOptions): Promise<SweepReport> {
  const now = deps.clock.nowInMs();
  const actions: Record<string, SweepAction> = {};
  let requeuedLines = 0;
  let jobs = 0;
  for await (const job of deps.jobs.listActiveJobs()) {
    jobs += 1;
    const action = await sweepJob(job, now, deps, options);
    actions[job.id] = action.kind;
    requeuedLines += action.requeued;
  }
  return { jobs, actions, requeuedLines };
}

async function sweepJob(job: Job, now: number, deps: IngestDeps, options: SweepOptions): Promise<{ kind: SweepAction; requeued: number }> {
  const lastProgress = Math.max(job.progressAtInMs ?? 0, job.createdAtInMs, job.timestamps.cancellingAt ?? 0);
  // Lines parked in delayed messages past the window's end are not waited for: queued again now, they expire at once.
  const parkedPastWindow = job.deferral !== undefined && job.deferral.untilInMs > now && isWindowClosed(job, now);
  if (!parkedPastWindow && now - lastProgress < options.stallInMs) return { kind: 'healthy', requeued: 0 };
  if (!parkedPastWindow && job.deferral !== undefined && job.deferral.untilInMs > now) return { kind: 'deferred', requeued: 0 };

  const touch = () => updateJob(deps.jobs, job.id, (current) => ({ ...current, progressAtInMs: now }));
  if (!job.ingest.done) {
    const resume: ControlMessage = { v: 1, kind: 'ingest', container: job.input.container, name: job.input.name };
    await deps.controlQueue.send([resume]);
    await touch();
    deps.logger.warn(`Sweeper: job ${job.id} stalled while reading its file; ingest resumed`);
    return { kind: 'resume-ingest', requeued: 0 };
  }
  const totals = await deps.jobs.totalsOfOutcomes(job.id);
  if (totals.succeeded + totals.failed >= totalTasks(job) || job.status === JobStatus.finalizing) {
    const finalize: ControlMessage = { v: 1, kind: 'finalize', jobId: job.id };
    await deps.controlQueue.send([finalize]);
    await touch();
    return { kind: 'finalize', requeued: 0 };
  }
  const recorded = new Set<number>();
  for await (const line of deps.jobs.listOutcomeLines(job.id)) recorded.add(line);
  const requeued = await requeueLines(job, (line) => (recorded.has(line) ? undefined : { prior: 0 }), deps);
  await touch();
  deps.logger.warn(`Sweeper: job ${job.id} had ${requeued} line(s) without an outcome and no progress; they were queued again`);
  return { kind: 'requeued', requeued };
}
