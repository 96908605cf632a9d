import type { RequestItem, RequestMessage } from '../../core/requestMessage.js';
import { updateJob } from '../updateJob.js';
import type { WorkerDeps } from './WorkerDeps.js';

/** A line that travels on in a delayed message: how long it waits, and why. */
export interface DeferredLine {
  readonly item: RequestItem;
  readonly delayInMs: number;
  readonly reason: string;
}

/**
 * Sends the lines on in one delayed message (the longest wait any of them needs), and says on the job
 * why it waits, which keeps the sweeper from taking the wait for a stall.
 */
export async function deferLines(
  message: RequestMessage,
  requeue: readonly DeferredLine[],
  deps: Pick<WorkerDeps, 'requestQueue' | 'jobs' | 'clock' | 'logger'>,
): Promise<void> {
  const delayInMs = Math.max(...requeue.map((r) => r.delayInMs));
  // Not a first send: a crash after sending it and before this delivery ends would deliver its lines twice.
  const { firstSend: _firstSend, ...rest } = message;
  const next: RequestMessage = { ...rest, items: requeue.map((r) => r.item) };
  await deps.requestQueue.send([next], { visibilityDelayInMs: delayInMs });
  const untilInMs = deps.clock.nowInMs() + delayInMs;
  const reason = requeue[0]!.reason;
  await updateJob(deps.jobs, message.jobId, (job) =>
    job.deferral !== undefined && job.deferral.untilInMs >= untilInMs
      ? undefined
      : { ...job, deferral: { untilInMs, reason } },
  );
  deps.logger.warn(
    `Job ${message.jobId}: ${requeue.length} line(s) re-queued for ${Math.round(delayInMs / 1000)} s: ${reason}`,
  );
}
