export interface RetryPolicy {
  /** Attempts for a line before a retryable failure (5xx, timeout, network) becomes final. 429s do not count. */
  readonly maxAttempts: number;
  readonly baseDelayInMs: number;
  readonly maxDelayInMs: number;
  /** Waits longer than this are not slept inside a function: the request is re-queued with a delay. */
  readonly maxInlineWaitInMs: number;
  /** A server that asks for a longer wait than this (e.g. a daily quota) is capped to it, and the wait is surfaced. */
  readonly maxRequeueDelayInMs: number;
}

/** What one call to the endpoint came to, reduced to what retry decisions need. */
export type CallOutcome =
  | { readonly kind: 'response'; readonly status: number; readonly retryAfterInMs: number | undefined }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'network'; readonly message: string }
  /** A 2xx that was not a usable completion: a failure like a lost answer. */
  | { readonly kind: 'malformed' };

export type RetryDecision =
  | { readonly action: 'done' }
  | { readonly action: 'fail' }
  | { readonly action: 'retry'; readonly delayInMs: number; readonly throttled: boolean }
  | {
      readonly action: 'requeue';
      readonly delayInMs: number;
      readonly throttled: boolean;
      readonly requestedDelayInMs: number;
    };

const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 409, 425, 429, 500, 502, 503, 504]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status) || status >= 500;
}

/**
 * Decides what to do after a call. `failedAttempts` counts earlier non-throttled failures of this line;
 * `random` in [0, 1) adds jitter so that many workers do not retry in step.
 */
export function decideRetry(
  outcome: CallOutcome,
  failedAttempts: number,
  policy: RetryPolicy,
  random: number,
): RetryDecision {
  if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) return { action: 'done' };
  if (outcome.kind === 'response' && !isRetryableStatus(outcome.status)) return { action: 'fail' };

  const throttled = outcome.kind === 'response' && outcome.status === 429;
  if (!throttled && failedAttempts + 1 >= policy.maxAttempts) return { action: 'fail' };

  const serverDelay = outcome.kind === 'response' ? outcome.retryAfterInMs : undefined;
  const backoff = Math.min(policy.maxDelayInMs, policy.baseDelayInMs * 2 ** failedAttempts);
  const jittered = Math.round(backoff * (0.5 + random / 2));
  const requested = serverDelay ?? jittered;
  const delayInMs = Math.min(requested, policy.maxRequeueDelayInMs);
  if (delayInMs > policy.maxInlineWaitInMs) {
    return { action: 'requeue', delayInMs, throttled, requestedDelayInMs: requested };
  }
  return { action: 'retry', delayInMs, throttled };
}

/** Reads `retry-after-ms`, then `retry-after` (seconds or an HTTP date), as Azure sends them. */
export function parseRetryAfterInMs(
  headers: Readonly<Record<string, string | undefined>>,
  nowInMs: number,
): number | undefined {
  const ms = headers['retry-after-ms'];
  if (ms !== undefined && ms.trim() !== '') {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return Math.ceil(value);
  }
  const after = headers['retry-after'];
  if (after === undefined || after.trim() === '') return undefined;
  const seconds = Number(after);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowInMs);
}
