import { describe, expect, it } from 'vitest';
import { decideRetry, parseRetryAfterInMs, type RetryPolicy } from '../../src/core/retryPolicy.js';

const policy: RetryPolicy = {
  maxAttempts: 3,
  baseDelayInMs: 100,
  maxDelayInMs: 1000,
  maxInlineWaitInMs: 5000,
  maxRequeueDelayInMs: 3_600_000,
};
const response = (status: number, retryAfterInMs?: number) => ({ kind: 'response' as const, status, retryAfterInMs });

describe('decideRetry', () => {
  it('is done on 2xx and fails at once on a non-retryable 4xx', () => {
    expect(decideRetry(response(200), 0, policy, 0)).toEqual({ action: 'done' });
    for (const status of [400, 401, 403, 404, 422])
      expect(decideRetry(response(status), 0, policy, 0)).toEqual({ action: 'fail' });
  });

  it('backs off exponentially on 5xx and timeouts, then gives up after maxAttempts', () => {
    expect(decideRetry(response(500), 0, policy, 1)).toEqual({ action: 'retry', delayInMs: 100, throttled: false });
    expect(decideRetry({ kind: 'timeout' }, 1, policy, 1)).toEqual({
      action: 'retry',
      delayInMs: 200,
      throttled: false,
    });
    expect(decideRetry({ kind: 'network', message: 'reset' }, 2, policy, 1)).toEqual({ action: 'fail' });
  });

  it('honours retry-after on 429 and never gives up on throttling', () => {
    expect(decideRetry(response(429, 1500), 99, policy, 0)).toEqual({
      action: 'retry',
      delayInMs: 1500,
      throttled: true,
    });
  });

  it('re-queues instead of sleeping through a long wait, capping a daily-quota wait', () => {
    expect(decideRetry(response(429, 86_400_000), 0, policy, 0)).toEqual({
      action: 'requeue',
      delayInMs: 3_600_000,
      throttled: true,
      requestedDelayInMs: 86_400_000,
    });
  });
});

describe('parseRetryAfterInMs', () => {
  it('prefers retry-after-ms, then seconds, then an HTTP date', () => {
    expect(parseRetryAfterInMs({ 'retry-after-ms': '250', 'retry-after': '9' }, 0)).toBe(250);
    expect(parseRetryAfterInMs({ 'retry-after': '2' }, 0)).toBe(2000);
    expect(parseRetryAfterInMs({ 'retry-after': new Date(10_000).toUTCString() }, 4_000)).toBe(6_000);
    expect(parseRetryAfterInMs({ 'retry-after': 'soon' }, 0)).toBeUndefined();
    expect(parseRetryAfterInMs({}, 0)).toBeUndefined();
  });
});
