import { describe, expect, it } from 'vitest';
import { admissionSlotsFor, PacedBudget } from '../../src/core/PacedBudget.js';

/** Drives the budget with a fake clock: take whenever granted, else jump to when it says. */
function admissions(
  budget: PacedBudget,
  cost: { requests: number; tokens: number },
  untilInMs: number,
  startInMs = 0,
): number[] {
  const times: number[] = [];
  let now = startInMs;
  while (now <= untilInMs) {
    const result = budget.tryTake(cost, now);
    if (result.granted) times.push(now);
    else now += result.waitInMs;
  }
  return times;
}

function maxInWindow(times: number[], windowInMs: number, weight = 1): number {
  let max = 0;
  let start = 0;
  for (let end = 0; end < times.length; end += 1) {
    while (times[end]! - times[start]! >= windowInMs) start += 1;
    max = Math.max(max, (end - start + 1) * weight);
  }
  return max;
}

describe('PacedBudget', () => {
  it('spreads requests evenly: no 1 s or 10 s window over its share of the per-minute limit', () => {
    const budget = new PacedBudget({ limits: { requestsPerMinute: 600, tokensPerMinute: 1e9 }, utilization: 1 }, 0);
    const times = admissions(budget, { requests: 1, tokens: 1 }, 60_000);
    expect(times.length).toBeGreaterThanOrEqual(600);
    expect(times.length).toBeLessThanOrEqual(601);
    expect(maxInWindow(times, 1_000)).toBeLessThanOrEqual(11);
    expect(maxInWindow(times, 10_000)).toBeLessThanOrEqual(101);
  });

  it('binds on tokens when requests are large, within one request of the limit per minute', () => {
    const budget = new PacedBudget({ limits: { requestsPerMinute: 1000, tokensPerMinute: 10_000 }, utilization: 1 }, 0);
    const times = admissions(budget, { requests: 1, tokens: 1000 }, 120_000);
    expect(maxInWindow(times, 60_000, 1000)).toBeLessThanOrEqual(10_000 + 1000);
  });

  it('paces at the utilisation share of the limit', () => {
    const budget = new PacedBudget({ limits: { requestsPerMinute: 1000, tokensPerMinute: 1e9 }, utilization: 0.5 }, 0);
    expect(admissions(budget, { requests: 1, tokens: 1 }, 59_999).length).toBe(500);
  });

  it('holds everything during a pause the server asked for', () => {
    const budget = new PacedBudget({ limits: { requestsPerMinute: 600, tokensPerMinute: 1e9 }, utilization: 1 }, 0);
    budget.pauseUntil(5_000);
    expect(budget.tryTake({ requests: 1, tokens: 1 }, 1_000)).toEqual({ granted: false, waitInMs: 4_000 });
    expect(budget.tryTake({ requests: 1, tokens: 1 }, 5_000)).toEqual({ granted: true });
  });

  it('slows down for negative remaining-tokens headers, and never speeds up for positive ones', () => {
    const budget = new PacedBudget({ limits: { requestsPerMinute: 6000, tokensPerMinute: 60_000 }, utilization: 1 }, 0);
    budget.correct({ tokens: 5_000 }, 0);
    expect(budget.tryTake({ requests: 1, tokens: 1 }, 0)).toEqual({ granted: true });
    budget.correct({ tokens: -2_000 }, 0);
    const result = budget.tryTake({ requests: 1, tokens: 1 }, 0);
    expect(result).toEqual({ granted: false, waitInMs: 2_000 });
  });

  it('returns unused tokens when asked to', () => {
    const budget = new PacedBudget(
      { limits: { requestsPerMinute: 60_000, tokensPerMinute: 60_000 }, utilization: 1 },
      0,
    );
    expect(budget.tryTake({ requests: 1, tokens: 1000 }, 0).granted).toBe(true);
    budget.refundTokens(900, 0);
    expect(budget.tryTake({ requests: 1, tokens: 1 }, 100)).toEqual({ granted: true });
  });
});

describe('admissionSlotsFor', () => {
  it("is half a second of the deployment's requests, at least 4, never more than the call slots", () => {
    expect(admissionSlotsFor(1_000, 64)).toBe(9);
    expect(admissionSlotsFor(3_000, 64)).toBe(25);
    expect(admissionSlotsFor(60, 64)).toBe(4);
    expect(admissionSlotsFor(20_000, 64)).toBe(64);
    expect(admissionSlotsFor(1_000, 2)).toBe(2);
  });
});
