import { isWindowClosed } from '../../core/job.js';
import { failedLineOutcome } from '../../core/lineOutcome.js';
import { expireLines } from '../expireLines.js';
import type { RequestItem } from '../../core/requestMessage.js';
import { costInNanos, priceFor, utcDay } from '../../core/pricing.js';
import type { RetryDecision } from '../../core/retryPolicy.js';
import { ChatCallError, TimeoutError } from '../ports.js';
import {
  concludeFailure,
  concludeSuccess,
  decideAfterFailure,
  haltOnRefusal,
  type NextStep,
} from './concludeAttempt.js';
import {
  cappedResult,
  haltedOutcome,
  outcomeResult,
  overBudgetResult,
  oversizedResult,
  requeueForBudget,
  requeueForSlots,
} from './lineResults.js';
import { startLine, type LineResult, type LineState } from './LineState.js';
import { haltBeforeCall, type MessageRun } from './MessageRun.js';
import type { LineBody } from './readLineBodies.js';
import { sendAttempt, type Sending } from './sendAttempt.js';
import { feedBudget, settleCall } from './settleCall.js';

/**
 * Runs one line to its result: attempt → settle → conclude, again while the retry policy says so here.
 * Every way out is a recorded outcome or a re-queue; the ledger is settled before either.
 */
export async function runLine(run: MessageRun, item: RequestItem, body: LineBody): Promise<LineResult> {
  const { message, deps } = run;
  if (!('messages' in body)) {
    return outcomeResult(
      failedLineOutcome({ jobId: message.jobId, item, error: body, attempts: 0, finishedAtInMs: deps.clock.nowInMs() }),
    );
  }
  const line = startLine(item, body, deps.defaultMaxTokens);
  for (;;) {
    const stop = stopBeforeSending(run, line);
    if (stop !== undefined) return stop;
    if (isWindowClosed(run.job, deps.clock.nowInMs())) return expiredResult(run, line);
    const sending = await sendAttempt(run, line);
    if (sending.kind === 'halted')
      return outcomeResult(haltedOutcome(message.jobId, line.item, sending.halt, deps.clock.nowInMs()));
    if (sending.kind === 'capped') return cappedResult(run, line);
    if (sending.kind === 'overBudget') return overBudgetResult(run, line, sending.refusal);
    if (sending.kind === 'oversized') return oversizedResult(run, line, sending.error);
    if (sending.kind === 'paused') return requeueForBudget(run, line, sending.waitInMs);
    if (sending.kind === 'noSlot') return requeueForSlots(line);
    const next = await settleAttempt(run, line, sending);
    if (next.kind !== 'retry') return next;
    if (next.sleepInMs !== undefined) await deps.sleep(next.sleepInMs);
  }
}

/**
 * Before each attempt: a halted job, a reached cap, or a pause longer than a line may wait (known
 * before anything is written).
 */
export function stopBeforeSending(run: MessageRun, line: LineState): LineResult | undefined {
  const { message, deployment, deps, spend } = run;
  const now = deps.clock.nowInMs();
  const halt = haltBeforeCall(run);
  if (halt !== undefined) return outcomeResult(haltedOutcome(message.jobId, line.item, halt, now));
  if (spend.stopped) return cappedResult(run, line);
  const pausedForInMs = deployment.limiter.pausedUntilInMs - now;
  if (pausedForInMs > deps.retry.maxInlineWaitInMs) return requeueForBudget(run, line, pausedForInMs);
  return undefined;
}

/** An answered attempt: counted, fed back to the budget, settled in the ledger, then concluded. */
export async function settleAttempt(
  run: MessageRun,
  line: LineState,
  sending: Extract<Sending, { kind: 'answered' }>,
): Promise<NextStep> {
  const { deployment, deps } = run;
  const { answer } = sending;
  const now = deps.clock.nowInMs();
  line.startedAtInMs ??= now - answer.latencyInMs;
  line.attempts += 1;
  feedBudget(deployment.limiter, answer, now, deps.retry);
  if (!(answer instanceof ChatCallError)) {
    const costInNanos = await settleCall(run, sending, answer, now);
    return concludeSuccess(run, line, answer, costInNanos, now);
  }
  const decision = boundedAfterTimeout(run, line, answer, decideAfterFailure(run, line, answer));
  haltOnRefusal(run, answer, now);
  await settleCall(run, sending, answer, now);
  return concludeFailure(run, line, answer, decision, now);
}

/**
 * A call our time limit cut off was most likely generated and billed (it stays billed-unconfirmed):
 * the line tries again only while its timed-out attempts, each at its worst case (prompt + max_tokens
 * at the deployment's prices), fit what a line may spend unseen (`timedOutAttemptsAllowed`).
 */
export function boundedAfterTimeout(
  run: MessageRun,
  line: LineState,
  answer: ChatCallError,
  decision: RetryDecision,
): RetryDecision {
  if (!(answer instanceof TimeoutError)) return decision;
  line.timedOutAttempts += 1;
  if (decision.action !== 'retry' && decision.action !== 'requeue') return decision;
  const { deployment, deps } = run;
  const price = priceFor(deps.prices, deployment.model, utcDay(deps.clock.nowInMs()));
  const maxTokens = line.body.max_tokens as number;
  const promptTokens = (line.reservedTokens ?? maxTokens) - maxTokens;
  const worstCase = price === undefined ? 0 : costInNanos(price, promptTokens, maxTokens);
  const allowed = deps.calls.timedOutAttemptsAllowed(worstCase, deps.retry.maxAttempts);
  return line.timedOutAttempts < allowed ? decision : { action: 'fail' };
}

/** The job's completion window closed while the line waited for its (next) call: it is not sent. */
async function expiredResult(run: MessageRun, line: LineState): Promise<LineResult> {
  const [outcome] = await expireLines(run.job, [{ ...line.item, prior: line.attempts }], run.deps);
  return outcomeResult(outcome!);
}
