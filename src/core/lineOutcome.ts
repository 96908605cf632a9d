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
}

/** A line of an OpenAI-Batch-style output or error file. */
export interface BatchOutputLine {
  readonly id: string;
  readonly custom_id: string;
  readonly response: LineOutcome['response'];
  readonly error: { readonly code: string; readonly message: string } | null;
}

export function toBatchOutputLine(outcome: LineOutcome): BatchOutputLine {
  return {
    id: `batch_req_${outcome.jobId}_${outcome.line}`,
    custom_id: outcome.customId,
    response: outcome.response,
    error: outcome.error === null ? null : { code: outcome.error.code, message: outcome.error.message },
  };
}
