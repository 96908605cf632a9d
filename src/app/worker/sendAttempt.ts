import type { LineError } from '../../core/lineErrors.js';
import { utcDay } from '../../core/pricing.js';
import { requestSizeError } from '../../core/requestLimits.js';
import { requestLimitsOf } from '../deployments.js';
import { weightOf } from '../jobScheduling.js';
import { MAX_SLOT_WAIT_IN_MS } from '../tuning.js';
import { ChatCallError, LedgerState, type ChatCompletionResult, type LedgerEntry } from '../ports.js';
import type { BudgetHold, BudgetRefusal } from '../budgetSpend.js';
import { worstCaseCostInNanos, type SpendReservation } from '../jobSpend.js';
import type { LineState } from './LineState.js';
import { haltBeforeCall, type Halt, type MessageRun } from './MessageRun.js';

/** The endpoint's answer to one call: a billed completion, or the typed error for what went wrong. */
export type ChatAnswer = ChatCompletionResult | ChatCallError;

/** A call admitted to the endpoint: held against the cap and written ahead to the ledger. */
export interface AdmittedCall {
  readonly reservation: SpendReservation;
  /** Held against the budgets that apply to the job. */
  readonly budgetHold: BudgetHold;
  /** The ledger entry written ahead, state `sent`. */
  readonly sent: LedgerEntry;
}

/** How a call's turn ended: never sent (the cap, a pause), or sent and answered. */
export type Sending =
  | { readonly kind: 'capped' }
  /** A daily or monthly budget would be passed: the line stops or waits, as the budget says. */
  | { readonly kind: 'overBudget'; readonly refusal: BudgetRefusal }
  /** The job or its deployment halted while the line waited for its slot (see `haltOf`). */
  | { readonly kind: 'halted'; readonly halt: Halt }
  | { readonly kind: 'paused'; readonly waitInMs: number }
  /** Every call slot stayed taken longer than a line may wait: the line goes back to the queue. */
  | { readonly kind: 'noSlot' }
  /** The request could never be served (over the context or the tokens per minute): refused before the budget. */
  | { readonly kind: 'oversized'; readonly error: LineError }
  | ({ readonly kind: 'answered'; readonly answer: ChatAnswer } & AdmittedCall);

type Admission =
  | Exclude<Sending, { kind: 'answered' | 'oversized' | 'halted' | 'noSlot' }>
  | ({ readonly kind: 'admitted' } & AdmittedCall);

/**
 * One call for the line. A slot covers it from its reservation and write-ahead to its answer: what is
 * held against the cap is bounded by the slots, not by the lines waiting. Fewer still may be written
 * ahead and wait for the budget at once: a crash leaves those unconfirmed though they were never sent.
 */
export function sendAttempt(run: MessageRun, line: LineState): Promise<Sending> {
  const { deployment, deps } = run;
  const waitLimit = { afterInMs: MAX_SLOT_WAIT_IN_MS, value: (): Sending => ({ kind: 'noSlot' }) };
  // The feeder's weight for the message carries a deadline boost the job's priority does not.
  const turn = { key: run.message.jobId, weight: run.message.weight ?? weightOf(run.job) };
  return deps.callSlots(
    async (): Promise<Sending> => {
      const halt = haltBeforeCall(run);
      if (halt !== undefined) return { kind: 'halted', halt };
      const maxTokens = line.body.max_tokens as number;
      line.reservedTokens ??= deployment.tokenCounter.countChatPrompt(line.body.messages) + maxTokens;
      const size = {
        promptTokens: line.reservedTokens - maxTokens,
        maxTokens,
        maxTokensDefaulted: line.maxTokensDefaulted,
      };
      const oversized = requestSizeError(size, requestLimitsOf(deployment));
      if (oversized !== undefined) return { kind: 'oversized', error: oversized };
      const admission = await deps.admissionSlots(deployment.name, () => admit(run, line, line.reservedTokens!));
      if (admission.kind !== 'admitted') return admission;
      const { reservation, budgetHold, sent } = admission;
      run.service?.firstCall();
      const limits = deps.calls.callLimits(deployment.name, maxTokens, line.timedOutAttempts);
      deps.calls.admitted(deployment.name, line.reservedTokens);
      const ended = deps.calls.started(deployment.name);
      let answer: ChatAnswer;
      try {
        answer = await deployment.chat.complete(line.body, {
          customId: line.item.id,
          callId: sent.id,
          ...limits,
        });
      } catch (error) {
        // The endpoint's failures are answers; anything else (an abort, a bug) propagates.
        if (!(error instanceof ChatCallError)) {
          ended(undefined);
          throw error;
        }
        answer = error;
      }
      ended(answer);
      return { kind: 'answered', reservation, budgetHold, sent, answer };
    },
    waitLimit,
    turn,
  );
}

/**
 * A call's way to the endpoint: held against the spending cap, written ahead to the ledger, then the
 * budget taken last, right before the request leaves (the write-ahead takes as long as the store does):
 * the endpoint then sees requests at the pace the budget grants them, not in bunches.
 */
export async function admit(run: MessageRun, line: LineState, reservedTokens: number): Promise<Admission> {
  const { deployment, deps, spend, budgets } = run;
  // Held against the job's spending cap and the budgets until the answer is billed or not.
  const reservation = await spend.reserve(deployment, line.body);
  if (reservation === undefined) return { kind: 'capped' };
  const budgetHold = await holdAgainstBudgets(run, line);
  if (!('holds' in budgetHold)) {
    spend.release(reservation);
    return { kind: 'overBudget', refusal: budgetHold };
  }
  const sent = sentEntry(run, line, reservedTokens, deps.clock.nowInMs());
  await spend.open(sent);
  const budget = { requests: 1, tokens: reservedTokens };
  const admission = await deployment.limiter.acquire(budget, { maxWaitInMs: deps.retry.maxInlineWaitInMs });
  if (!admission.granted) {
    await spend.notBilled(reservation, sent);
    budgets.release(budgetHold);
    return { kind: 'paused', waitInMs: admission.waitInMs };
  }
  return { kind: 'admitted', reservation, budgetHold, sent };
}

/** The call's worst case held against every budget that applies to the job (none: nothing written). */
async function holdAgainstBudgets(run: MessageRun, line: LineState): Promise<BudgetHold | BudgetRefusal> {
  const { budgets, deployment, deps } = run;
  if (!budgets.active) return { holds: [] };
  const now = deps.clock.nowInMs();
  return budgets.reserve(worstCaseCostInNanos(deps.prices, deployment, line.body, now), now);
}

/** The ledger entry written before the request leaves: state `sent`, nothing known of the answer yet. */
function sentEntry(run: MessageRun, line: LineState, reservedTokens: number, openedAtInMs: number): LedgerEntry {
  const { message, deployment, deps } = run;
  return {
    id: deps.newCallId(),
    jobId: message.jobId,
    line: line.item.line,
    attempt: line.attempts + 1,
    deployment: deployment.name,
    model: deployment.model,
    state: LedgerState.sent,
    httpStatus: 0,
    requestId: '',
    promptTokens: 0,
    completionTokens: 0,
    reservedTokens,
    atInMs: openedAtInMs,
    day: utcDay(openedAtInMs),
    inputPerMillion: 0,
    outputPerMillion: 0,
    currency: 'USD',
    costInNanos: 0,
    ...(run.job.tags === undefined ? {} : { tags: run.job.tags }),
  };
}
