import { describe, expect, it } from 'vitest';
import {
  budgetRatePerSecond,
  DEFAULT_IN_FLIGHT_SIZER_OPTIONS,
  InFlightSizer,
  InFlightSizerOptionsError,
  memoryCeiling,
  wantedCalls,
  wantedMessages,
} from '../../src/core/InFlightSizer.js';

const T0 = 1_700_000_000_000;
const sizer = (ceilings: Record<string, number> = {}, overrides: object = {}) =>
  new InFlightSizer({ ...DEFAULT_IN_FLIGHT_SIZER_OPTIONS, ceilings, ...overrides });

function observeAll(target: InFlightSizer, latencies: readonly number[], atInMs = T0): void {
  for (const latency of latencies) target.observe(latency, atInMs);
}

describe('budgetRatePerSecond', () => {
  it('is the binding limit of the share, in calls per second', () => {
    expect(
      budgetRatePerSecond({ requestsPerMinute: 1_200, tokensPerMinute: 1_000_000, tokensPerCall: 100, share: 1 }),
    ).toBe(20);
    // 200,000 TPM at 1,000 tokens a call is 3.33 calls/s: tokens bind.
    expect(
      budgetRatePerSecond({ requestsPerMinute: 1_000, tokensPerMinute: 200_000, tokensPerCall: 1_000, share: 0.5 }),
    ).toBeCloseTo(5 / 3, 10);
  });
});

describe('InFlightSizer', () => {
  it("sizes by rate x latency x headroom (Little's law), for the chosen percentile of recent latencies", () => {
    const s = sizer();
    // 100 calls of 1..100 x 100 ms: p90 is 9,000 ms.
    observeAll(
      s,
      Array.from({ length: 100 }, (_, i) => (i + 1) * 100),
    );
    expect(s.latencyEstimateInMs(T0)).toBe(9_000);
    // 20 calls/s x 9 s x 1.25 = 225 calls; 16 requests per message: 15 messages + 1 ready.
    expect(s.size({ ratePerSecond: 20, requestsPerMessage: 16 }, T0)).toEqual({
      calls: 225,
      messages: 16,
      latencyInMs: 9_000,
      wantedCalls: 225,
      limitedBy: null,
    });
  });

  it('keeps a small footprint for a fast endpoint', () => {
    const s = sizer({ operator: 64 });
    observeAll(s, Array(50).fill(50));
    const size = s.size({ ratePerSecond: 20, requestsPerMessage: 16 }, T0);
    // 20 x 0.05 x 1.25 = 1.25 calls wanted: the minimum of 4 applies, one message (+1) feeds them.
    expect(size).toMatchObject({ calls: 4, messages: 2, limitedBy: null });
    expect(size.wantedCalls).toBeCloseTo(1.25, 10);
  });

  it('grows with the latency the endpoint shows', () => {
    const s = sizer({ operator: 1_000 });
    const rate = { ratePerSecond: 20, requestsPerMessage: 32 };
    const sizes = [50, 2_000, 8_000, 30_000].map((latency, i) => {
      const at = T0 + i * 10 * 60_000;
      observeAll(s, Array(200).fill(latency), at);
      return s.size(rate, at).calls;
    });
    expect(sizes).toEqual([4, 50, 200, 750]);
  });

  it('is cut by the lowest ceiling and says which', () => {
    const s = sizer({ operator: 500, memory: memoryCeiling(256 * 1024 ** 2, 1024 ** 2), sockets: 300 });
    observeAll(s, Array(10).fill(30_000));
    expect(s.size({ ratePerSecond: 20, requestsPerMessage: 32 }, T0)).toMatchObject({
      calls: 256,
      messages: 9,
      limitedBy: 'memory',
      wantedCalls: 750,
    });
  });

  it('starts from the initial latency, and a call still under way counts as at least its age', () => {
    const s = sizer({}, { initialLatencyInMs: 1_000 });
    expect(s.size({ ratePerSecond: 20, requestsPerMessage: 16 }, T0)).toMatchObject({ calls: 25, latencyInMs: 1_000 });
    // No call has finished yet, but one has been running for 12 s: the endpoint is at least that slow.
    expect(s.size({ ratePerSecond: 20, requestsPerMessage: 16, oldestInFlightAgeInMs: 12_000 }, T0)).toMatchObject({
      calls: 300,
      latencyInMs: 12_000,
    });
  });

  it('forgets samples past their age and keeps only the newest ones', () => {
    const s = sizer({}, { sampleSize: 10, sampleMaxAgeInMs: 60_000 });
    observeAll(s, Array(10).fill(20_000), T0);
    observeAll(s, Array(5).fill(100), T0 + 30_000);
    // The ring holds 5 old and 5 new: p90 still sees the slow ones.
    expect(s.latencyEstimateInMs(T0 + 30_000)).toBe(20_000);
    // A minute later the slow ones have aged out.
    expect(s.latencyEstimateInMs(T0 + 61_000)).toBe(100);
    observeAll(s, Array(10).fill(300), T0 + 62_000);
    expect(s.latencyEstimateInMs(T0 + 62_000)).toBe(300);
    expect(s.latencyEstimateInMs(T0 + 200_000)).toBeUndefined();
  });

  it('refuses unusable options, naming them', () => {
    expect(() => sizer({}, { headroom: 0.5 })).toThrow(InFlightSizerOptionsError);
    expect(() => sizer({}, { percentile: 0 })).toThrow(/percentile/);
    expect(() => sizer({ operator: 0 })).toThrow(/ceilings.operator/);
  });
});

describe('wantedCalls and wantedMessages', () => {
  it("are Little's law with headroom, and the messages that carry those calls plus one ready", () => {
    // 20 calls/s at a 50 s 90th percentile x 1.25: 1,250 calls; 32 lines a message: 40 messages + 1.
    expect(wantedCalls(20, 50_000, 1.25)).toBe(1_250);
    expect(wantedMessages(1_250, 32)).toBe(41);
    // Split over 4 instances: 313 calls each, 10 + 1 messages.
    expect(wantedMessages(Math.ceil(wantedCalls(5, 50_000, 1.25)), 32)).toBe(11);
    expect(wantedMessages(4, 32)).toBe(2);
    expect(wantedCalls(-1, 1_000, 1.25)).toBe(0);
    expect(wantedMessages(0, 0)).toBe(1);
  });
});
