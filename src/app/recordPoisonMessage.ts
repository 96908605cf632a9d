import { LineErrorCode, type LineError } from '../core/lineErrors.js';
import { failedLineOutcome, type LineOutcome } from '../core/lineOutcome.js';
import { parseRequestMessage } from '../core/requestMessage.js';
import type { Logger } from './Logger.js';
import type { Clock, JobStore, MessageQueue } from './ports.js';
import { recordOutcomesAndMaybeFinalize } from './recordOutcomesAndMaybeFinalize.js';
import type { ResultParts } from './resultParts.js';

const POISONED: LineError = {
  code: LineErrorCode.poisonMessage,
  message: 'Processing this line failed repeatedly (the work message went to the poison queue); it can be retried',
};

/** What recording a poison message needs: the job store, and what recording outcomes (and finalising) needs. */
export interface RecordPoisonMessageDeps {
  readonly jobs: JobStore;
  readonly controlQueue: MessageQueue;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly resultParts: ResultParts;
}

/**
 * A work message that failed `maxDequeueCount` times: its lines that still have no outcome fail
 * with `poison_message`, so the job can still finish and the lines can be retried later.
 */
export async function recordPoisonMessage(payload: unknown, deps: RecordPoisonMessageDeps): Promise<number> {
  const parsed = parseRequestMessage(payload);
  if (!parsed.ok) {
    // Not attributable to any job: the poison queue keeps nothing further, so say it loudly.
    const shown = JSON.stringify(payload).slice(0, 500);
    deps.logger.error(`A poison message that is not a work message was dropped: ${parsed.error}: ${shown}`);
    return 0;
  }
  const message = parsed.value;
  const lines = message.items.map((i) => i.line);
  const done = await deps.jobs.linesWithOutcome(message.jobId, lines);
  const now = deps.clock.nowInMs();
  const outcomes: LineOutcome[] = message.items
    .filter((item) => !done.has(item.line))
    .map((item) =>
      failedLineOutcome({
        jobId: message.jobId,
        item,
        error: POISONED,
        attempts: item.prior ?? 0,
        finishedAtInMs: now,
      }),
    );
  const recorded = await recordOutcomesAndMaybeFinalize(message.jobId, outcomes, deps);
  deps.logger.warn(
    `Job ${message.jobId}: poison message ${message.seq}: ${recorded} line(s) failed with poison_message`,
  );
  return recorded;
}
