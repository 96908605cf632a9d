import { ensureError } from '../../core/errors.js';
import { registerWork } from '../jobScheduling.js';
import { INGEST_MAX_SEND_BATCHES_IN_FLIGHT } from '../tuning.js';
import { updateJob } from '../updateJob.js';
import type { IngestDeps } from './IngestDeps.js';
import type { IngestRun } from './IngestRun.js';
import { cancelledLineOutcome } from './ingestOutcomes.js';

export type SendDeps = Pick<IngestDeps, 'jobs' | 'requestQueue' | 'clock' | 'scheduling' | 'logger'>;

/** Workers read the deployment from the job: it is recorded before any message can reach one. */
export async function pinDeployment(run: IngestRun, deps: Pick<IngestDeps, 'jobs'>): Promise<void> {
  const chosen = run.deployment;
  if (run.job.deployment !== '' || chosen === undefined) return;
  await updateJob(deps.jobs, run.job.id, (current) => ({ ...current, deployment: chosen.name, model: chosen.model }));
  run.job = { ...run.job, deployment: chosen.name };
}

/**
 * Hands the outgoing messages to the queue, skipping those an earlier run of this chunk sent. Up to
 * INGEST_MAX_SEND_BATCHES_IN_FLIGHT batches are left under way while reading goes on; past that, this
 * waits for the oldest (the ingest's back-pressure). A cancelled job's messages are never sent: each of
 * their lines gets its outcome instead.
 */
export async function dispatch(run: IngestRun, deps: SendDeps): Promise<void> {
  const { outgoing } = run;
  if (outgoing.length > 0) await pinDeployment(run, deps);
  const batch = outgoing.filter((m) => m.seq >= run.alreadySent);
  if (outgoing.length > 0) run.messagesSent = Math.max(run.messagesSent, outgoing[outgoing.length - 1]!.seq + 1);
  run.outgoing = [];
  if (batch.length === 0) return;
  if (run.cancelled) {
    for (const message of batch) {
      for (const item of message.items) {
        run.directOutcomes.push(cancelledLineOutcome(run.job.id, item.line, item.id, deps.clock.nowInMs()));
      }
    }
    return;
  }
  const { scheduling } = deps;
  const sending =
    scheduling === undefined ? deps.requestQueue.send(batch) : scheduling.backlogs.send(run.job.id, batch);
  // Awaited in turn below or at the checkpoint; until then a failure must not count as unhandled
  // (that ends the process).
  sending.catch(() => undefined);
  run.inFlight.push(sending);
  if (scheduling !== undefined && !run.scheduled) {
    // The job's first messages are in its backlog: it starts competing for the budget now, not at a checkpoint.
    await settleSends(run);
    await scheduleWork(run, deps);
  }
  if (run.inFlight.length >= INGEST_MAX_SEND_BATCHES_IN_FLIGHT) await run.inFlight.shift();
}

/**
 * Tells the deployment's fair sharing how much of the job's work is in its backlog (every send is
 * settled), and feeds the work queue. A failed feed is only logged: the next one (a worker's, the timer's) makes up for it.
 */
export async function scheduleWork(run: IngestRun, deps: Pick<IngestDeps, 'scheduling' | 'logger'>): Promise<void> {
  const { scheduling } = deps;
  if (scheduling === undefined || run.job.deployment === '' || run.messagesSent === 0) return;
  const { estimatedPromptTokens, maxCompletionTokens } = run.tally;
  const ingest = { messages: run.messagesSent, tokens: estimatedPromptTokens + maxCompletionTokens };
  await registerWork(scheduling.fairShare, run.job, { ingest });
  run.scheduled = true;
  await scheduling.feed(run.job.deployment).catch((error: unknown) => {
    deps.logger.warn(
      `Job ${run.job.id}: feeding the work queue failed (${ensureError(error).message}); the next feed makes up for it`,
    );
  });
}

/** Waits for every send under way; the first failure among them is thrown. */
export async function settleSends(run: IngestRun): Promise<void> {
  await Promise.all(run.inFlight.splice(0));
}
