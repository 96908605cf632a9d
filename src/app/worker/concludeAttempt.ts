import { LineErrorCode, type LineError } from '../../core/lineErrors.js';
import { failedLineOutcome, succeededLineOutcome } from '../../core/lineOutcome.js';
import { decideRetry, type CallOutcome, type RetryDecision } from '../../core/retryPolicy.js';
import {
  AuthenticationError,
  ConnectionError,
  EndpointHttpError,
  NotFoundError,
  TimeoutError,
  type ChatCallError,
  type ChatCompletionResult,
} from '../ports.js';
import { outcomeResult, requeueResult } from './lineResults.js';
import type { LineResult, LineState } from './LineState.js';
import type { MessageRun } from './MessageRun.js';

/** After an answer: the line's result, or another attempt here after `sleepInMs` (none for a throttled one). */
export type NextStep = LineResult | { readonly kind: 'retry'; readonly sleepInMs: number | undefined };

/** A completion: the line succeeded. Unused reserved tokens go back to the budget if so configured. */
export function concludeSuccess(
  run: MessageRun,
  line: LineState,
  result: ChatCompletionResult,
  costInNanos: number,
  nowInMs: number,
): LineResult {
  const { message, deployment, deps } = run;
  const { usage } = result;
  // A call that succeeded after a halt was set shows the deployment serves us again.
  if (deployment.limiter.halt !== undefined) deployment.limiter.resumeSending(nowInMs - result.latencyInMs);
  if (deps.returnUnusedTokens) {
    deployment.limiter.refundTokens(Math.max(0, (line.reservedTokens ?? 0) - usage.totalTokens));
  }
  return outcomeResult(
    succeededLineOutcome({
      jobId: message.jobId,
      item: line.item,
      response: { status_code: result.status, request_id: result.requestId, body: result.completion },
      usage: {
        prompt_tokens: usage.promptTokens,
        completion_tokens: usage.completionTokens,
        total_tokens: usage.totalTokens,
      },
      costInNanos,
      attempts: line.attempts,
      startedAtInMs: line.startedAtInMs,
      finishedAtInMs: nowInMs,
      latencyInMs: result.latencyInMs,
    }),
  );
}

/** A failed call: what the retry policy makes of it (`decideRetry`, fed from the error's type). */
export function decideAfterFailure(run: MessageRun, line: LineState, error: ChatCallError): RetryDecision {
  return decideRetry(callOutcomeOf(error), line.failedAttempts, run.deps.retry, run.deps.random());
}

/** A failed call and the decision about it: the line fails, travels on in a delayed message, or tries again here. */
export function concludeFailure(
  run: MessageRun,
  line: LineState,
  error: ChatCallError,
  decision: RetryDecision,
  nowInMs: number,
): NextStep {
  if (decision.action === 'fail' || decision.action === 'done') return failedResult(run, line, error, nowInMs);
  if (!decision.throttled) line.failedAttempts += 1;
  if (decision.action === 'requeue') {
    const reason = decision.throttled
      ? `the endpoint asked to retry after ${Math.round(decision.requestedDelayInMs / 1000)} s`
      : 'backing off after repeated failures';
    return requeueResult(line, decision.delayInMs, reason);
  }
  return { kind: 'retry', sleepInMs: decision.throttled ? undefined : decision.delayInMs };
}

/**
 * The line's final failure. An HTTP error keeps the endpoint's answer and code; a call that got no usable
 * answer ends as `retries_exhausted`. A 401/403/404 halts the job: no later line can do better.
 */
function failedResult(run: MessageRun, line: LineState, error: ChatCallError, nowInMs: number): LineResult {
  const { message } = run;
  const attemptError: LineError = { code: error.code, message: error.message };
  haltOnRefusal(run, error, nowInMs);
  const http = error instanceof EndpointHttpError;
  const finalError: LineError = http
    ? attemptError
    : { code: LineErrorCode.retriesExhausted, message: `${attemptError.message} (after ${line.attempts} attempts)` };
  const response = http
    ? { status_code: error.status, request_id: error.response.requestId, body: error.response.body }
    : null;
  return outcomeResult(
    failedLineOutcome({
      jobId: message.jobId,
      item: line.item,
      error: finalError,
      attempts: line.attempts,
      response,
      finishedAtInMs: nowInMs,
      startedAtInMs: line.startedAtInMs,
    }),
  );
}

/**
 * A 401/403/404 halts the job and every job of the deployment started before it: in this process at
 * once (noted as soon as the answer is in, before the ledger is settled), in the others at their next
 * budget claim.
 */
export function haltOnRefusal(run: MessageRun, error: ChatCallError, nowInMs: number): void {
  const { guard, deployment } = run;
  if (!(error instanceof AuthenticationError || error instanceof NotFoundError) || guard.halt !== undefined) return;
  guard.halt = {
    code: LineErrorCode.deploymentRejected,
    message:
      `The endpoint answered HTTP ${error.status} (${error.code}: ${error.message}); ` +
      'check PHI3_ENDPOINT and PHI3_API_KEY, then retry the failed lines (POST /retry?retryable_only=true): ' +
      "the deployment's running jobs stop too; a retried or new job tries again and its first success lifts the halt",
    atInMs: nowInMs,
  };
  deployment.limiter.haltSending(guard.halt);
}

/** The failure as the retry policy reads it. */
export function callOutcomeOf(error: ChatCallError): CallOutcome {
  if (error instanceof EndpointHttpError) {
    return { kind: 'response', status: error.status, retryAfterInMs: error.retryAfterInMs };
  }
  if (error instanceof TimeoutError) return { kind: 'timeout' };
  if (error instanceof ConnectionError) return { kind: 'network', message: error.message };
  return { kind: 'malformed' };
}
