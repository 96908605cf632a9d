import type { TokenUsage } from './chat.js';
import type { LineError } from './lineErrors.js';

export const LineStatus = { succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled' } as const;
export type LineStatus = (typeof LineStatus)[keyof typeof LineStatus];

/** The one outcome of one line of a job. */
export interface LineOutcome {
  readonly jobId: string;
  readonly line: number;
  readonly customId: string;
  readonly status: LineStatus;
  /** The endpoint's answer (a non-2xx one too), or null when no call produced one. */
  readonly response: { readonly status_code: number; readonly request_id: string; readonly body: unknown } | null;
  readonly error: LineError | null;
  readonly usage: TokenUsage | null;
  readonly costInNanos: number;
  /** Calls made for this line, throttled ones included. */
  readonly attempts: number;
  readonly startedAtInMs: number | null;
  readonly finishedAtInMs: number;
  readonly latencyInMs: number | null;
  /** Answered from the response cache (no call, nothing billed): what the stored answer's call cost. */
  readonly cached?: { readonly savedInNanos: number; readonly storedAtInMs: number } | undefined;
}

/** The line an outcome is for: its number in the file and its custom_id. */
export interface OutcomeLine {
  readonly line: number;
  readonly id: string;
}

/** A line that ended without success: never sent (cancelled, halted, capped, invalid) or refused. */
export function failedLineOutcome(failure: {
  readonly jobId: string;
  readonly item: OutcomeLine;
  readonly error: LineError;
  readonly attempts: number;
  readonly finishedAtInMs: number;
  /** The endpoint's last answer, when one came. */
  readonly response?: LineOutcome['response'];
  readonly status?: typeof LineStatus.failed | typeof LineStatus.cancelled;
  readonly startedAtInMs?: number | null;
}): LineOutcome {
  return {
    jobId: failure.jobId,
    line: failure.item.line,
    customId: failure.item.id,
    status: failure.status ?? LineStatus.failed,
    response: failure.response ?? null,
    error: failure.error,
    usage: null,
    costInNanos: 0,
    attempts: failure.attempts,
    startedAtInMs: failure.startedAtInMs ?? null,
    finishedAtInMs: failure.finishedAtInMs,
    latencyInMs: null,
  };
}

/** A line the endpoint answered with a billed completion. */
export function succeededLineOutcome(success: {
  readonly jobId: string;
  readonly item: OutcomeLine;
  readonly response: NonNullable<LineOutcome['response']>;
  readonly usage: TokenUsage;
  readonly costInNanos: number;
  readonly attempts: number;
  readonly startedAtInMs: number | null;
  readonly finishedAtInMs: number;
  readonly latencyInMs: number;
}): LineOutcome {
  const { jobId, item, response, usage, costInNanos, attempts, startedAtInMs, finishedAtInMs, latencyInMs } = success;
  return {
    jobId,
    line: item.line,
    customId: item.id,
    status: LineStatus.succeeded,
    response,
    error: null,
    usage,
    costInNanos,
    attempts,
    startedAtInMs,
    finishedAtInMs,
    latencyInMs,
  };
}

/** A line of an OpenAI-Batch-style output or error file. */
export interface BatchOutputLine {
  readonly id: string;
  readonly custom_id: string;
  readonly response: LineOutcome['response'];
  readonly error: { readonly code: string; readonly message: string } | null;
  /** Present (true) only on a line answered from the response cache: OpenAI's shape is otherwise unchanged. */
  readonly cached?: true;
}

export function toBatchOutputLine(outcome: LineOutcome): BatchOutputLine {
  return {
    id: `batch_req_${outcome.jobId}_${outcome.line}`,
    custom_id: outcome.customId,
    response: outcome.response,
    error: outcome.error === null ? null : { code: outcome.error.code, message: outcome.error.message },
    ...(outcome.cached === undefined ? {} : { cached: true as const }),
  };
}

export interface OutcomeTotals {
  readonly succeeded: number;
  readonly failed: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly costInNanos: number;
  /** Lines answered from the response cache, and what their stored answers' calls cost. */
  readonly cacheHits?: number;
  readonly cacheSavedInNanos?: number;
}

export function totalsOf(outcomes: readonly LineOutcome[]): OutcomeTotals {
  let succeeded = 0;
  let promptTokens = 0;
  let completionTokens = 0;
  let costInNanos = 0;
  let cacheHits = 0;
  let cacheSavedInNanos = 0;
  for (const o of outcomes) {
    if (o.status === LineStatus.succeeded) succeeded += 1;
    if (o.cached !== undefined) {
      cacheHits += 1;
      cacheSavedInNanos += o.cached.savedInNanos;
    }
    promptTokens += o.usage?.prompt_tokens ?? 0;
    completionTokens += o.usage?.completion_tokens ?? 0;
    costInNanos += o.costInNanos;
  }
  return {
    succeeded,
    failed: outcomes.length - succeeded,
    promptTokens,
    completionTokens,
    costInNanos,
    // Present only when there were hits: most totals have none.
    ...(cacheHits === 0 ? {} : { cacheHits, cacheSavedInNanos }),
  };
}
