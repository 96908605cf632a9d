import { addWork, markCancelling, setWeight } from '../core/fairShare.js';
import type { Job } from '../core/job.js';
import { DEFAULT_PRIORITY } from '../core/priority.js';
import type { Backlogs, FairShareStore, MessageQueue } from './ports.js';

/** The job's weight in its deployment's fair sharing. */
export function weightOf(job: Job): number {
  return job.priority?.weight ?? DEFAULT_PRIORITY.weight;
}

/** The end of the job's completion window, when it has one: the deadline boost reckons with it. */
export function deadlineOf(job: Job): number | undefined {
  return job.batchRequest?.expiresAtInMs;
}

/**
 * Tells the job's deployment's fair sharing about work in the job's backlog: the ingest's totals so far
 * (absolute, so a repeat is harmless), or work added on top (retried lines).
 */
export async function registerWork(
  fairShare: FairShareStore,
  job: Job,
  work: {
    readonly ingest?: { readonly messages: number; readonly tokens: number };
    readonly extra?: { readonly messages: number; readonly tokens: number };
  },
): Promise<void> {
  await fairShare.update(job.deployment, (state) => ({
    state: addWork(state, job.id, { weight: weightOf(job), deadlineAtInMs: deadlineOf(job), ...work }),
    result: undefined,
  }));
}

/** A priority change: the job's next pick is made at its new weight. */
export async function reweighJob(fairShare: FairShareStore, job: Job): Promise<void> {
  await fairShare.update(job.deployment, (state) => ({
    state: setWeight(state, job.id, weightOf(job)),
    result: undefined,
  }));
}

/** A cancelled job stops competing at once; its backlog is drained for its lines' `batch_cancelled` outcomes. */
export async function withdrawJob(fairShare: FairShareStore, job: Job): Promise<void> {
  if (job.deployment === '') return;
  await fairShare.update(job.deployment, (state) => ({ state: markCancelling(state, job.id), result: undefined }));
}

/** The job's backlog as a queue to send to, counting what was sent. */
export function backlogAsQueue(backlogs: Backlogs, jobId: string): MessageQueue & { readonly sent: number } {
  let sent = 0;
  return {
    get sent() {
      return sent;
    },
    send: async (payloads) => {
      await backlogs.send(jobId, payloads);
      sent += payloads.length;
    },
    ensureExists: async () => undefined,
  };
}

/** Whether the job's backlog still holds work not yet in the work queue (its lines wait their turn). */
export async function backlogHoldsWork(
  scheduling: { readonly backlogs: Backlogs; readonly fairShare: FairShareStore },
  job: Job,
): Promise<boolean> {
  const state = await scheduling.fairShare.read(job.deployment);
  if (state.pendingFeeds.some((f) => (f.ranges ?? []).some((r) => r.jobId === job.id))) return true;
  return (await scheduling.backlogs.length(job.id)) > (state.jobs[job.id]?.offset ?? 0);
}
