import { costInNanos, priceFor, utcDay } from '../../core/pricing.js';
import type { RetryPolicy } from '../../core/retryPolicy.js';
import { ChatCallError, EndpointHttpError, LedgerState, RateLimitedError, type ChatUsage } from '../ports.js';
import type { Deployment } from '../deployments.js';
import type { MessageRun } from './MessageRun.js';
import type { AdmittedCall, ChatAnswer } from './sendAttempt.js';

interface BilledAnswer {
  readonly usage: ChatUsage;
  readonly status: number;
  readonly requestId: string;
}

/** The answer if it reported usage (a completion, or an error answer that did): the call was billed. */
export function billedAnswer(answer: ChatAnswer): BilledAnswer | undefined {
  if (answer instanceof EndpointHttpError) {
    return answer.usage === undefined
      ? undefined
      : { usage: answer.usage, status: answer.status, requestId: answer.response.requestId };
  }
  if (answer instanceof ChatCallError) return undefined;
  return answer;
}

/**
 * Settles the call's ledger entry and reservation from its answer; returns its cost. Billed (usage
 * reported): the entry settled before the outcome, so a crash after this cannot hide the spend. An answer
 * that shows no billing (an HTTP error, a connection never made): the entry goes. Otherwise (no answer,
 * a malformed one) the call may have been billed: the entry stays `sent` (unconfirmed).
 */
export async function settleCall(
  run: MessageRun,
  call: AdmittedCall,
  answer: ChatAnswer,
  nowInMs: number,
): Promise<number> {
  const { deployment, deps, spend, budgets } = run;
  const billed = billedAnswer(answer);
  if (billed !== undefined) {
    const { usage } = billed;
    const day = utcDay(nowInMs);
    const price = priceFor(deps.prices, deployment.model, day);
    const cost = price === undefined ? 0 : costInNanos(price, usage.promptTokens, usage.completionTokens);
    await spend.bill(call.reservation, {
      ...call.sent,
      state: LedgerState.billed,
      httpStatus: billed.status,
      requestId: billed.requestId,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      atInMs: nowInMs,
      day,
      inputPerMillion: price?.inputPerMillion ?? 0,
      outputPerMillion: price?.outputPerMillion ?? 0,
      currency: price?.currency ?? 'USD',
      costInNanos: cost,
    });
    budgets.bill(call.budgetHold, cost, day);
    return cost;
  }
  if (answer instanceof ChatCallError && !answer.mayHaveBilled) {
    await spend.notBilled(call.reservation, call.sent);
    budgets.release(call.budgetHold);
  }
  // No answer: the call may have been billed, so what it holds against the budgets stays held.
  else spend.unconfirmed();
  return 0;
}

/**
 * What the answer tells the deployment's budget: the endpoint's remaining counts, and a 429's pause.
 * A daily quota's "retry after 86400 s" pauses the deployment for at most the re-queue cap: then it is
 * probed again.
 */
export function feedBudget(
  limiter: Deployment['limiter'],
  answer: ChatAnswer,
  nowInMs: number,
  retry: RetryPolicy,
): void {
  const rateLimit = answer.rateLimit;
  if (rateLimit !== undefined) {
    limiter.correct({ requests: rateLimit.remainingRequests, tokens: rateLimit.remainingTokens });
  }
  if (answer instanceof RateLimitedError) {
    limiter.pauseUntil(nowInMs + Math.min(answer.retryAfterInMs ?? retry.baseDelayInMs, retry.maxRequeueDelayInMs));
  }
}
