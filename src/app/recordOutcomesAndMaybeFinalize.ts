import { finalizeMessage } from '../core/controlMessage.js';
import { ensureError } from '../core/errors.js';
import { isComplete } from '../core/job.js';
import { totalsOf, type LineOutcome } from '../core/lineOutcome.js';
import type { Logger } from './Logger.js';
import type { Clock, JobStore, MessageQueue } from './ports.js';
import type { ResultParts } from './resultParts.js';

export interface RecordOutcomesDeps {
  readonly jobs: JobStore;
  readonly controlQueue: MessageQueue;
  readonly clock: Clock;
  readonly resultParts: ResultParts;
  /** Finalises a job right away, in the invocation that recorded its last outcome. */
  readonly finalizeInline?: ((jobId: string) => Promise<unknown>) | undefined;
  readonly logger: Logger;
}

/** When the job is finalised inline, the queued finalisation is a backup: it shows only after this long. */
export const FINALIZE_BACKUP_DELAY_IN_MS = 60_000;

/**
 * Records outcomes, stages the output lines of the new ones for the job's files, adds them to the job's
 * counters, and has the job finalised when it is complete. The counters move last: when they say
 * complete, every counted line's output is staged. Finalisation is queued first, so it happens even if
 * this process dies; with `finalizeInline` it is also done here and now, and the queued one, shown a
 * minute later, finds the job final. Returns how many outcomes this call created.
 */
export async function recordOutcomesAndMaybeFinalize(
  jobId: string,
  outcomes: readonly LineOutcome[],
  deps: RecordOutcomesDeps,
): Promise<number> {
  if (outcomes.length === 0) return 0;
  const created = await deps.jobs.recordOutcomes(outcomes);
  if (created.length === 0) return 0;
  await deps.resultParts.stage(jobId, created, deps.logger);
  const updated = await deps.jobs.addToJobCounters(jobId, totalsOf(created), deps.clock.nowInMs());
  if (isComplete(updated.job)) await finalize(jobId, deps);
  return created.length;
}

async function finalize(jobId: string, deps: RecordOutcomesDeps): Promise<void> {
  const inline = deps.finalizeInline;
  await deps.controlQueue.send(
    [finalizeMessage(jobId)],
    inline === undefined ? {} : { visibilityDelayInMs: FINALIZE_BACKUP_DELAY_IN_MS },
  );
  if (inline === undefined) return;
  try {
    await inline(jobId);
  } catch (error) {
    deps.logger.warn(
      `Job ${jobId}: finalising at once failed (${ensureError(error).message}); the queued finalisation will do it`,
    );
  }
}
