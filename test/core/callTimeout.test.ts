import { describe, expect, it } from 'vitest';
import {
  callTimeLimitInMs,
  DEFAULT_CALL_TIME_LIMIT_OPTIONS,
  GenerationSpeed,
  mayRetryAfterTimeout,
  streamTimeLimits,
  timedOutAttemptsAllowed,
  shouldStream,
  StreamMode,
} from '../../src/core/callTimeout.js';

const T0 = 1_700_000_000_000;
const options = { margin: 2, floorTokensPerSecond: 5, maxFirstTokenInMs: 30_000, minimumInMs: 30_000 };

describe('GenerationSpeed', () => {
  it('separates the time to first token from the per-token time', () => {
    const speed = new GenerationSpeed();
    // 800 ms to first token, 40 ms per token (25 tokens/s).
    for (const tokens of [10, 50, 100, 200, 400, 800]) speed.observe(tokens, 800 + 40 * tokens, T0);
    const estimate = speed.estimate(T0);
    expect(estimate?.firstTokenInMs).toBeCloseTo(800, 6);
    expect(estimate?.perTokenInMs).toBeCloseTo(40, 6);
    expect(estimate?.firstTokenAtMostInMs).toBeCloseTo(800, 6);
  });

  it('takes the whole time as per-token time when all answers are about as long', () => {
    const speed = new GenerationSpeed();
    for (let i = 0; i < 10; i += 1) speed.observe(100, 1_000 + i * 100, T0);
    // The slowest 90%: 1,800 ms for 100 tokens; the first token came within the slowest 90% of answers.
    expect(speed.estimate(T0)).toEqual({
      firstTokenInMs: 0,
      perTokenInMs: 18,
      firstTokenAtMostInMs: 1_800,
      samples: 10,
    });
    // A stream's first chunk then gets 2 x 1,800 ms, not the idle minimum alone (with a first token
    // planned for 2 s at least; by default it is 30 s).
    expect(
      streamTimeLimits(speed.estimate(T0), { ...options, maxFirstTokenInMs: 2_000, minimumIdleInMs: 1_000 })
        .firstChunkInMs,
    ).toBe(3_600);
  });

  it('gives no estimate from too few or too old calls', () => {
    const speed = new GenerationSpeed({ sampleSize: 50, sampleMaxAgeInMs: 60_000, minimumSamples: 5 });
    for (let i = 0; i < 4; i += 1) speed.observe(100, 1_000, T0);
    expect(speed.estimate(T0)).toBeUndefined();
    speed.observe(100, 1_000, T0);
    expect(speed.estimate(T0)).toBeDefined();
    expect(speed.estimate(T0 + 61_000)).toBeUndefined();
  });
});

describe('callTimeLimitInMs', () => {
  const medium = { firstTokenInMs: 1_000, perTokenInMs: 40, samples: 50 };

  it('follows max_tokens at the measured speed, with the margin', () => {
    // 2 x (1 s + 4,000 x 40 ms) = 322 s: a 4,000-token answer at 25 tokens/s is not cut off at 60 s.
    expect(callTimeLimitInMs(4_000, medium, options)).toBe(322_000);
    expect(callTimeLimitInMs(1_000, medium, options)).toBe(82_000);
  });

  it('is never shorter than the minimum', () => {
    expect(callTimeLimitInMs(10, { firstTokenInMs: 50, perTokenInMs: 2, samples: 50 }, options)).toBe(30_000);
  });

  it('plans for the floor speed before any measurement, and never waits longer than that', () => {
    // 30 s + 1,000 tokens at 5 tokens/s.
    expect(callTimeLimitInMs(1_000, undefined, options)).toBe(230_000);
    expect(callTimeLimitInMs(1_000, { firstTokenInMs: 5_000, perTokenInMs: 500, samples: 50 }, options)).toBe(230_000);
  });

  it("doubles after each timeout of the same line, up to the floor speed's limit", () => {
    expect(callTimeLimitInMs(1_000, medium, options, 1)).toBe(164_000);
    expect(callTimeLimitInMs(1_000, medium, options, 2)).toBe(230_000);
  });

  it('uses sensible defaults', () => {
    expect(callTimeLimitInMs(100, undefined)).toBe(DEFAULT_CALL_TIME_LIMIT_OPTIONS.maxFirstTokenInMs + 20_000);
  });
});

describe('streamTimeLimits', () => {
  it('waits for the first token, then only for the next chunk', () => {
    const limits = streamTimeLimits(
      { firstTokenInMs: 8_000, perTokenInMs: 40, samples: 50 },
      { ...options, minimumIdleInMs: 5_000 },
    );
    expect(limits).toEqual({ firstChunkInMs: 30_000, idleInMs: 5_000 });
    // Measured slower than planned: 2 x 20 s.
    expect(
      streamTimeLimits(
        { firstTokenInMs: 20_000, perTokenInMs: 40, samples: 50 },
        { ...options, minimumIdleInMs: 5_000 },
      ).firstChunkInMs,
    ).toBe(40_000);
    const slow = streamTimeLimits(
      { firstTokenInMs: 100, perTokenInMs: 90, samples: 50 },
      { ...options, minimumIdleInMs: 1_000 },
    );
    // 8 tokens at 2 x 90 ms = 1,440 ms; the first chunk gets the 30 s planned for a first token: the
    // first answers measured are the fastest.
    expect(slow).toEqual({ firstChunkInMs: 30_000, idleInMs: 1_440 });
    // Slower than the floor speed (5 tokens/s) counts as stalled: 8 x 200 ms.
    expect(
      streamTimeLimits({ firstTokenInMs: 100, perTokenInMs: 900, samples: 50 }, { ...options, minimumIdleInMs: 1_000 })
        .idleInMs,
    ).toBe(1_600);
    // Before any measurement, and at most: 2 x the 30 s allowed for the first token.
    expect(streamTimeLimits(undefined, { ...options, minimumIdleInMs: 1_000 })).toEqual({
      firstChunkInMs: 60_000,
      idleInMs: 1_600,
    });
    expect(
      streamTimeLimits(
        { firstTokenInMs: 45_000, perTokenInMs: 900, samples: 50 },
        { ...options, minimumIdleInMs: 1_000 },
      ),
    ).toEqual({
      firstChunkInMs: 60_000,
      idleInMs: 1_600,
    });
  });
});

describe('retries after a timeout', () => {
  it("allows as many timed-out attempts as fit the unconfirmed-spend limit, at least one, at most the policy's", () => {
    const budget = { worstCaseAttemptInNanos: 3_000_000, unconfirmedSpendLimitInNanos: 10_000_000, maxAttempts: 5 };
    expect(timedOutAttemptsAllowed(budget)).toBe(3);
    expect([1, 2, 3].map((n) => mayRetryAfterTimeout(n, budget))).toEqual([true, true, false]);
    expect(timedOutAttemptsAllowed({ ...budget, unconfirmedSpendLimitInNanos: 1 })).toBe(1);
    expect(mayRetryAfterTimeout(1, { ...budget, unconfirmedSpendLimitInNanos: 1 })).toBe(false);
    expect(timedOutAttemptsAllowed({ ...budget, unconfirmedSpendLimitInNanos: 1e12 })).toBe(5);
    expect(timedOutAttemptsAllowed({ ...budget, worstCaseAttemptInNanos: 0 })).toBe(5);
  });
});

describe('shouldStream', () => {
  const measured = (firstTokenInMs: number, perTokenInMs: number) => ({ firstTokenInMs, perTokenInMs, samples: 20 });

  it('auto: streams what an unstreamed limit could cut, keeps plain calls for a deployment measured fast', () => {
    // Not measured yet: the limit would be a guess.
    expect(shouldStream(StreamMode.auto, 100, undefined)).toBe(true);
    // 40 tokens/s: 2 x (0.5 s + 100 x 25 ms) = 6 s; 4 x 6 s fits the 30 s limit.
    expect(shouldStream(StreamMode.auto, 100, measured(500, 25))).toBe(false);
    // First answers of ~9 s (the fast ones of a 30 s deployment): 2 x 100 x 170 ms = 34 s, 4 x that is over its 34 s limit.
    expect(shouldStream(StreamMode.auto, 100, measured(0, 170))).toBe(true);
    // 1.8 tokens/s (a 30 s answer of ~55 tokens): 2 x (6 s + 100 x 440 ms) = 100 s reaches the 50 s cap.
    expect(shouldStream(StreamMode.auto, 100, measured(6_000, 440))).toBe(true);
    // A line whose call timed out before: its limit proved too short.
    expect(shouldStream(StreamMode.auto, 100, measured(500, 25), undefined, 1)).toBe(true);
  });

  it('always and never override the measurement', () => {
    expect(shouldStream(StreamMode.always, 100, measured(500, 25))).toBe(true);
    expect(shouldStream(StreamMode.never, 100, undefined)).toBe(false);
    expect(shouldStream(StreamMode.never, 100, measured(6_000, 440), undefined, 3)).toBe(false);
  });
});
