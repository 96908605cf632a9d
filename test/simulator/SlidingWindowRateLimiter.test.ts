import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMIT_SETTINGS, type LimitSettings } from '../../dev/simulator/settings.js';
import { SimulatorLog, SimulatorOutcome } from '../../dev/simulator/SimulatorLog.js';
import { RejectionReason, SlidingWindowRateLimiter } from '../../dev/simulator/SlidingWindowRateLimiter.js';

function limiterWith(changes: Partial<LimitSettings>): SlidingWindowRateLimiter {
  return new SlidingWindowRateLimiter({ ...DEFAULT_LIMIT_SETTINGS, ...changes });
}

const T0 = 1_700_000_000_000;

describe('SlidingWindowRateLimiter', () => {
  it('turns per-minute limits into per-window capacities', () => {
    const limiter = limiterWith({});
    expect(limiter.requestCapacity).toBe(166); // 1,000 RPM over 10 s windows
    expect(limiter.tokenCapacity).toBe(200_000);
    expect(limiterWith({ requestWindowInMs: 1_000 }).requestCapacity).toBe(16);
    expect(limiterWith({ tokensPerMinute: 60_000, tokenWindowInMs: 10_000 }).tokenCapacity).toBe(10_000);
    expect(limiterWith({ requestsPerMinute: 1, requestWindowInMs: 1_000 }).requestCapacity).toBe(1);
  });

  it('rejects the request beyond the window capacity with the time until a slot frees', () => {
    const limiter = limiterWith({ requestsPerMinute: 30, countRejectedRequests: false }); // 5 per 10 s
    for (let i = 0; i < 5; i += 1) {
      expect(limiter.tryAdmit(10, T0 + i * 1_000).admitted).toBe(true);
    }
    const rejected = limiter.tryAdmit(10, T0 + 4_500);
    expect(rejected).toMatchObject({ admitted: false, reason: RejectionReason.requests, retryAfterInMs: 5_500 });
    expect(limiter.tryAdmit(10, T0 + 9_999).admitted).toBe(false);
    expect(limiter.tryAdmit(10, T0 + 10_000).admitted).toBe(true);
  });

  it('counts rejected requests in the window, and the retry time accounts for that', () => {
    const limiter = limiterWith({ requestsPerMinute: 30 });
    for (let i = 0; i < 5; i += 1) {
      limiter.tryAdmit(10, T0 + i * 1_000);
    }
    const rejected = limiter.tryAdmit(10, T0 + 4_500);
    // The rejection itself holds a slot until T0 + 14.5 s, so the second-oldest admitted one must leave.
    expect(rejected).toMatchObject({ admitted: false, retryAfterInMs: 6_500, remainingRequests: -1 });
    expect(limiter.tryAdmit(10, T0 + 4_500 + 6_500).admitted).toBe(true);
  });

  it('does not count rejected requests when told not to', () => {
    const limiter = limiterWith({ requestsPerMinute: 6, countRejectedRequests: false }); // 1 per 10 s
    expect(limiter.tryAdmit(1, T0).admitted).toBe(true);
    for (let i = 1; i <= 3; i += 1) {
      expect(limiter.tryAdmit(1, T0 + i)).toMatchObject({ admitted: false, retryAfterInMs: 10_000 - i });
    }
    expect(limiter.tryAdmit(1, T0 + 10_000).admitted).toBe(true);
  });

  it('charges tokens at admission and rejects when the estimate does not fit', () => {
    const limiter = limiterWith({ tokensPerMinute: 1_000, countRejectedRequests: false });
    expect(limiter.tryAdmit(600, T0)).toMatchObject({ admitted: true, remainingTokens: 400 });
    expect(limiter.tryAdmit(300, T0 + 20_000)).toMatchObject({ admitted: true, remainingTokens: 100 });
    // 500 more fits only once the first 600 leave the window, at T0 + 60 s.
    expect(limiter.tryAdmit(500, T0 + 30_000)).toMatchObject({
      admitted: false,
      reason: RejectionReason.tokens,
      retryAfterInMs: 30_000,
      remainingTokens: 100,
    });
    expect(limiter.tryAdmit(100, T0 + 30_000).admitted).toBe(true);
    expect(limiter.snapshot(T0 + 30_000).remainingTokens).toBe(0);
    expect(limiter.tryAdmit(500, T0 + 60_000)).toMatchObject({ admitted: true, remainingTokens: 100 });
  });

  it('waits for as many old entries as the new estimate needs', () => {
    const limiter = limiterWith({ tokensPerMinute: 1_000, countRejectedRequests: false });
    limiter.tryAdmit(400, T0);
    limiter.tryAdmit(400, T0 + 10_000);
    limiter.tryAdmit(200, T0 + 20_000);
    // 600 needs the first two gone (leaving 200 in the window): T0 + 70 s.
    expect(limiter.tryAdmit(600, T0 + 25_000)).toMatchObject({ admitted: false, retryAfterInMs: 45_000 });
    expect(limiter.tryAdmit(600, T0 + 69_999).admitted).toBe(false);
    expect(limiter.tryAdmit(600, T0 + 70_000).admitted).toBe(true);
  });

  it('reports a request larger than a whole token window as such', () => {
    const limiter = limiterWith({ tokensPerMinute: 1_000 });
    expect(limiter.tryAdmit(1_001, T0)).toMatchObject({
      admitted: false,
      reason: RejectionReason.tokensBeyondWindowCapacity,
      retryAfterInMs: 60_000,
    });
  });

  it('applies new settings to the traffic already seen', () => {
    const limiter = limiterWith({ requestsPerMinute: 60, countRejectedRequests: false }); // 10 per 10 s
    for (let i = 0; i < 5; i += 1) {
      expect(limiter.tryAdmit(1, T0).admitted).toBe(true);
    }
    limiter.settings = { ...limiter.settings, requestsPerMinute: 30 }; // 5 per 10 s
    expect(limiter.tryAdmit(1, T0 + 1)).toMatchObject({ admitted: false, retryAfterInMs: 9_999 });
  });
});

describe('SlidingWindowRateLimiter properties', () => {
  const arrivals = fc.array(fc.tuple(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 1, max: 400 })), {
    maxLength: 150,
  });
  const limitsFor = (countRejectedRequests: boolean): Partial<LimitSettings> => ({
    requestsPerMinute: 30, // 5 per 10 s
    tokensPerMinute: 1_000,
    countRejectedRequests,
  });

  it('never admits more requests or tokens than a window holds', () => {
    fc.assert(
      fc.property(arrivals, fc.boolean(), (sequence, countRejectedRequests) => {
        const limiter = limiterWith(limitsFor(countRejectedRequests));
        const log = new SimulatorLog();
        let now = T0;
        for (const [gapInMs, tokens] of sequence) {
          now += gapInMs;
          const decision = limiter.tryAdmit(tokens, now);
          log.append({
            atInMs: now,
            status: decision.admitted ? 200 : 429,
            outcome: decision.admitted ? SimulatorOutcome.completed : SimulatorOutcome.rateLimited,
            requestId: String(now),
            promptTokens: tokens,
            maxTokens: null,
            admittedTokens: decision.admitted ? tokens : 0,
            completionTokens: 0,
            requestHash: null,
          });
        }
        expect(log.maxInAnyWindow({ windowInMs: 10_000, metric: 'requests', statuses: [200] })).toBeLessThanOrEqual(5);
        expect(log.maxInAnyWindow({ windowInMs: 60_000, metric: 'tokens' })).toBeLessThanOrEqual(1_000);
      }),
    );
  });

  it('admits a rejected request retried at the advertised time when nothing else arrives', () => {
    fc.assert(
      fc.property(arrivals, fc.boolean(), (sequence, countRejectedRequests) => {
        const limiter = limiterWith(limitsFor(countRejectedRequests));
        let now = T0;
        for (const [gapInMs, tokens] of sequence) {
          now += gapInMs;
          const decision = limiter.tryAdmit(tokens, now);
          if (!decision.admitted) {
            expect(decision.retryAfterInMs).toBeGreaterThan(0);
            expect(limiter.tryAdmit(tokens, now + decision.retryAfterInMs).admitted).toBe(true);
            return;
          }
        }
      }),
    );
  });
});
