import { SLOT_WAIT_REQUEUE_DELAY_IN_MS } from '../tuning.js';
import { LineErrorCode, type LineError } from '../../core/lineErrors.js';
import { failedLineOutcome, LineStatus, type LineOutcome } from '../../core/lineOutcome.js';
import type { RequestItem } from '../../core/requestMessage.js';
import type { LineResult, LineState } from './LineState.js';
import type { Halt, MessageRun } from './MessageRun.js';
import type { BudgetRefusal } from '../budgetSpend.js';
import { BudgetAction } from '../../core/spendBudgets.js';

// A line's results other than a call's own conclusion: never sent (cancelled, halted, capped) or re-queued.

export function outcomeResult(outcome: LineOutcome): LineResult {
  return { kind: 'outcome', outcome };
}

const CANCELLED: LineError = {
  code: LineErrorCode.batchCancelled,
  message: 'The batch was cancelled before this line was sent',
};

/** A line of a cancelled job, never sent in this round. */
export function cancelledOutcome(jobId: string, item: RequestItem, nowInMs: number): LineOutcome {
  return failedLineOutcome({
    jobId,
    item,
    error: CANCELLED,
    attempts: item.prior ?? 0,
    finishedAtInMs: nowInMs,
    status: LineStatus.cancelled,
  });
}

/** A line not sent because its job halted. */
export function haltedOutcome(jobId: string, item: RequestItem, halt: Halt, nowInMs: number): LineOutcome {
  // A job stopped by a budget says so on every line it did not send.
  const error: LineError =
    halt.code === LineErrorCode.budgetExceeded
      ? { code: halt.code, message: halt.message }
      : { code: LineErrorCode.batchHalted, message: `Not sent: ${halt.message}` };
  return failedLineOutcome({ jobId, item, error, attempts: item.prior ?? 0, finishedAtInMs: nowInMs });
}

/** A line not sent (again) because the job reached its spending cap. */
export function cappedResult(run: MessageRun, line: LineState): LineResult {
  const { message, deps, spend } = run;
  return outcomeResult(
    failedLineOutcome({
      jobId: message.jobId,
      item: line.item,
      error: spend.refusal,
      attempts: line.attempts,
      finishedAtInMs: deps.clock.nowInMs(),
      startedAtInMs: line.startedAtInMs,
    }),
  );
}

/**
 * A budget refused the line's call. `wait`: the line travels on in a delayed message until the period
 * ends (or the longest re-queue delay, then asks again). `stop`: it fails, and the job stops sending
 * (a halt with the budget's error, which its other lines then end with too; a retry lifts it).
 */
export function overBudgetResult(run: MessageRun, line: LineState, refusal: BudgetRefusal): LineResult {
  const { deps, message } = run;
  const now = deps.clock.nowInMs();
  if (refusal.budget.action === BudgetAction.wait) {
    const delayInMs = Math.min(Math.max(refusal.periodEndsAtInMs - now, 1000), deps.retry.maxRequeueDelayInMs);
    const until = new Date(refusal.periodEndsAtInMs).toISOString();
    return requeueResult(line, delayInMs, `${refusal.error.message.replace(/^Not sent: /, '')} (until ${until})`);
  }
  run.guard.halt ??= { ...refusal.error, atInMs: now };
  return outcomeResult(
    failedLineOutcome({
      jobId: message.jobId,
      item: line.item,
      error: refusal.error,
      attempts: line.attempts,
      finishedAtInMs: now,
      startedAtInMs: line.startedAtInMs,
    }),
  );
}

/** The line travels on in a delayed message, its attempts so far carried with it. */
export function requeueResult(line: LineState, delayInMs: number, reason: string): LineResult {
  return { kind: 'requeue', item: { ...line.item, prior: line.attempts }, delayInMs, reason };
}

/** The deployment's budget is paused for longer than a line may wait here. */
export function requeueForBudget(run: MessageRun, line: LineState, waitInMs: number): LineResult {
  return requeueResult(
    line,
    Math.min(waitInMs, run.deps.retry.maxRequeueDelayInMs),
    'the deployment budget is paused by the endpoint',
  );
}

/** The line waited longer than it may for a call slot: the instance holds more lines than its calls need. */
export function requeueForSlots(line: LineState): LineResult {
  return requeueResult(line, SLOT_WAIT_REQUEUE_DELAY_IN_MS, 'every call slot of the instance stayed taken');
}

/** A request its deployment could never serve (over the context or the tokens per minute): never sent. */
export function oversizedResult(run: MessageRun, line: LineState, error: LineError): LineResult {
  const finishedAtInMs = run.deps.clock.nowInMs();
  return outcomeResult(
    failedLineOutcome({ jobId: run.message.jobId, item: line.item, error, attempts: line.attempts, finishedAtInMs }),
  );
}
