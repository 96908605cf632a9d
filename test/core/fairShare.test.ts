import { describe, expect, it } from 'vitest';
import {
  addWork,
  EMPTY_FAIR_SHARE,
  etaAtInMs,
  leadTarget,
  leave,
  markCancelling,
  measuredShare,
  planFeeds,
  markExhausted,
  addPendingFeed,
  livePendingFeeds,
  stalePendingFeeds,
  renewPendingFeed,
  removePendingFeed,
  setWeight,
  queuedTimeInMs,
  type FairShareState,
} from '../../src/core/fairShare.js';

const TPM = 60_000; // 1,000 tokens a second
const PER_MESSAGE = 100;

function withJob(state: FairShareState, id: string, weight: number, messages: number, deadlineAtInMs?: number) {
  return addWork(state, id, {
    weight,
    ingest: { messages, tokens: messages * PER_MESSAGE },
    ...(deadlineAtInMs === undefined ? {} : { deadlineAtInMs }),
  });
}

/** Feeds `seconds` of the deployment's rate (10 messages of 100 tokens a second); counts the picks per job. */
function run(state: FairShareState, seconds: number, startInMs = 0) {
  const counts: Record<string, number> = {};
  let current = state;
  for (let s = 0; s < seconds; s += 1) {
    const plan = planFeeds(current, 10, { nowInMs: startInMs + s * 1000, tokensPerMinute: TPM });
    current = plan.state;
    for (const pick of plan.picks) counts[pick.jobId] = (counts[pick.jobId] ?? 0) + 1;
  }
  return { state: current, counts };
}

describe('weighted fair sharing', () => {
  it('gives jobs of one weight equal shares', () => {
    let state = withJob(EMPTY_FAIR_SHARE, 'a', 4, 10_000);
    state = withJob(state, 'b', 4, 10_000);
    state = withJob(state, 'c', 4, 10_000);
    const { counts } = run(state, 60);
    expect(counts).toEqual({ a: 200, b: 200, c: 200 });
  });

  it('shares in proportion to the weights', () => {
    let state = withJob(EMPTY_FAIR_SHARE, 'high', 32, 10_000);
    state = withJob(state, 'normal', 4, 10_000);
    const { counts } = run(state, 36);
    expect(counts['high']).toBe(320);
    expect(counts['normal']).toBe(40);
  });

  it('keeps a low job moving next to a high one: its minimum share is 1/33', () => {
    let state = withJob(EMPTY_FAIR_SHARE, 'low', 1, 10_000);
    state = withJob(state, 'high', 32, 10_000);
    const { counts } = run(state, 66);
    expect(counts['low']).toBe(20);
    expect(counts['high']).toBe(640);
  });

  it('gives a finished job’s share to the others', () => {
    let state = withJob(EMPTY_FAIR_SHARE, 'short', 4, 50);
    state = withJob(state, 'b', 4, 10_000);
    state = withJob(state, 'c', 4, 10_000);
    const first = run(state, 15);
    expect(first.counts).toEqual({ short: 50, b: 50, c: 50 });
    const then = run(leave(first.state, 'short'), 10, 15_000);
    expect(then.counts).toEqual({ b: 50, c: 50 });
  });

  it('lets a new job in at the current virtual time, with no credit for the time it was not there', () => {
    const alone = run(withJob(EMPTY_FAIR_SHARE, 'old', 4, 10_000), 100);
    expect(alone.counts).toEqual({ old: 1000 });
    const joined = run(withJob(alone.state, 'new', 4, 10_000), 10, 100_000);
    // The old job's last pick was charged ahead of the join: one message apart at most.
    expect(Math.abs(joined.counts['old']! - joined.counts['new']!)).toBeLessThanOrEqual(2);
    expect(joined.counts['old']! + joined.counts['new']!).toBe(100);
  });

  it('stops feeding a cancelled job at once; the others share its part', () => {
    let state = withJob(EMPTY_FAIR_SHARE, 'a', 4, 10_000);
    state = withJob(state, 'b', 4, 10_000);
    const before = run(state, 5);
    expect(before.counts).toEqual({ a: 25, b: 25 });
    const after = run(markCancelling(before.state, 'a'), 5, 5_000);
    expect(after.counts).toEqual({ b: 50 });
  });

  it('applies a priority change from the next pick', () => {
    let state = withJob(EMPTY_FAIR_SHARE, 'a', 4, 10_000);
    state = withJob(state, 'b', 4, 10_000);
    const before = run(state, 10);
    expect(before.counts).toEqual({ a: 50, b: 50 });
    const after = run(setWeight(before.state, 'a', 36), 10, 10_000);
    expect(after.counts['a']).toBeGreaterThanOrEqual(89);
    expect(after.counts['b']).toBeLessThanOrEqual(11);
  });

  it('gives a job behind its completion window the share it needs', () => {
    // 36,000 tokens fed 10 s before a window closing at 70 s need 60% of 1,000 tokens/s; two equal
    // jobs would give it 50%.
    let state = withJob(EMPTY_FAIR_SHARE, 'window', 4, 360, 70_000);
    state = withJob(state, 'other', 4, 10_000);
    const { counts } = run(state, 10);
    expect(counts['window']).toBeGreaterThanOrEqual(59);
    expect(counts['window']).toBeLessThanOrEqual(61);
  });

  it('caps the boost so the others keep half their weighted share', () => {
    // Needs the whole deployment; the other job keeps half of its 50%.
    let state = withJob(EMPTY_FAIR_SHARE, 'window', 4, 600, 60_000);
    state = withJob(state, 'other', 4, 10_000);
    const { counts } = run(state, 10);
    expect(counts).toEqual({ window: 75, other: 25 });
  });

  it('aims the boost earlier by the time the work queue’s messages take to be answered', () => {
    // 30,000 tokens beside an equal job are fed in 60 s: in time for a window closing at 90 s with 10 s
    // to spare, too late when 30 s of messages wait ahead of the last one fed. Then it needs 60%.
    let state = withJob(EMPTY_FAIR_SHARE, 'window', 4, 300, 90_000);
    state = withJob(state, 'other', 4, 10_000);
    const picks = (queuedInMs?: number) =>
      planFeeds(state, 10, { nowInMs: 0, tokensPerMinute: TPM, queuedInMs }).picks.filter((p) => p.jobId === 'window')
        .length;
    expect(picks()).toBe(5);
    expect(picks(30_000)).toBe(6);
    expect(
      queuedTimeInMs({
        outstanding: 10,
        requestsPerMessage: 8,
        tokensPerMinute: 60_000,
        tokensPerRequest: 100,
        latencyInMs: 2_000,
      }),
    ).toBeCloseTo(10 * 8 * 100 + 2_000, 6);
  });

  // At 1/33 the low job's 1,000,000 tokens would take 33,000 s; but the high job's 10,000 tokens are fed
  // within the first 11 s, and then the low job has the whole rate: it is fed in 1,010 s.
  it.each([
    [1_500_000, 'fed in time, not boosted', { high: 29, low: 1 }],
    // Capped at about half: the high job keeps half of its 32/33.
    [1_000_000, 'fed too late even so, boosted', { high: 15, low: 15 }],
  ])('a low job beside a short high one, its window closing at %i ms: %s', (closesAtInMs, _case, expected) => {
    let state = withJob(EMPTY_FAIR_SHARE, 'low', 1, 10_000, closesAtInMs);
    state = withJob(state, 'high', 32, 100);
    expect(run(state, 3).counts).toEqual(expected);
  });

  it('reckons the ETA with the others’ backlogs: a job ahead of it leaves its share once fed', () => {
    let state = withJob(EMPTY_FAIR_SHARE, 'low', 1, 10_000);
    state = withJob(state, 'high', 32, 100);
    const context = { nowInMs: 0, tokensPerMinute: TPM };
    // The high job's 10,000 tokens, then the low job's 1,000,000 at the whole 1,000 tokens/s.
    expect(etaAtInMs(state, 'low', context)).toBeCloseTo(1_010_000, 3);
    // The high job: its 10,000 tokens at 32/33 of the rate.
    expect(etaAtInMs(state, 'high', context)).toBeCloseTo(10_312.5, 3);
  });

  it('picks a job no more often than its backlog was read to hold', () => {
    let state = withJob(EMPTY_FAIR_SHARE, 'a', 4, 10);
    state = withJob(state, 'b', 4, 10);
    const plan = planFeeds(
      state,
      6,
      { nowInMs: 0, tokensPerMinute: TPM },
      new Map([
        ['a', 1],
        ['b', 10],
      ]),
    );
    expect(plan.picks.filter((p) => p.jobId === 'a')).toHaveLength(1);
    expect(plan.picks).toHaveLength(6);
  });

  it('counts a backlog read to its end as empty until more work is added', () => {
    const state = withJob(EMPTY_FAIR_SHARE, 'a', 4, 3);
    const plan = planFeeds(state, 1, { nowInMs: 0, tokensPerMinute: TPM });
    const empty = markExhausted(plan.state, 'a');
    expect(planFeeds(empty, 5, { nowInMs: 0, tokensPerMinute: TPM }).picks).toEqual([]);
    const more = addWork(empty, 'a', { weight: 4, extra: { messages: 1, tokens: 100 } });
    expect(planFeeds(more, 5, { nowInMs: 0, tokensPerMinute: TPM }).picks).toEqual([{ jobId: 'a', tokens: 100 }]);
  });

  it('keeps a feed whose feeder died until it is sent again, and lets one re-sender take it', () => {
    const feed = { id: 'f', messages: 2, untilInMs: 1_000, ranges: [{ jobId: 'a', from: 0, to: 20 }] };
    const state = addPendingFeed(EMPTY_FAIR_SHARE, feed, 0);
    const later = addPendingFeed(state, { id: 'g', messages: 1, untilInMs: 9_000 }, 2_000);
    expect(later.pendingFeeds.map((f) => f.id)).toEqual(['f', 'g']);
    expect(livePendingFeeds(later, 2_000).map((f) => f.id)).toEqual(['g']);
    expect(stalePendingFeeds(later, 2_000).map((f) => f.id)).toEqual(['f']);
    const taken = renewPendingFeed(later, 'f', 32_000, 2_000);
    expect(taken.feed?.untilInMs).toBe(32_000);
    expect(renewPendingFeed(taken.state, 'f', 62_000, 3_000).feed).toBeUndefined();
    expect(stalePendingFeeds(removePendingFeed(taken.state, 'f', 40_000), 40_000)).toEqual([]);
  });

  it('measures the share over the last minute and reckons the ETA at the given share', () => {
    let state = withJob(EMPTY_FAIR_SHARE, 'a', 4, 10_000);
    state = withJob(state, 'b', 4, 10_000);
    const { state: after } = run(state, 60);
    const context = { nowInMs: 59_000, tokensPerMinute: TPM };
    expect(measuredShare(after.jobs['a']!, context)).toBeCloseTo(0.5, 2);
    // 9,700 messages of 100 tokens at 500 tokens/s.
    expect(etaAtInMs(after, 'a', context)).toBeCloseTo(59_000 + 1_940_000, 3);
  });

  it('sizes the lead from the rate, the latency and the messages’ size', () => {
    const lead = (latencyInMs: number) =>
      leadTarget({
        requestsPerMinute: 1_000,
        tokensPerMinute: 200_000,
        tokensPerRequest: 500,
        latencyInMs,
        requestsPerMessage: 16,
        marginInMs: 2_000,
        minimumMessages: 4,
      });
    // 1,000 RPM bounded by 400 requests/min of tokens: 6.7/s × (8 s × 1.25 + 2 s) = 80 requests = 5 messages.
    expect(lead(8_000)).toBe(5);
    expect(lead(100)).toBe(4);
  });
});
