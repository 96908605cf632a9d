import { describe, expect, it } from 'vitest';
import { InMemoryBudgetStore } from '../../src/adapters/memory/InMemoryBudgetStore.js';
import { silentLogger } from '../../src/app/Logger.js';
import { SharedRateLimiter } from '../../src/app/SharedRateLimiter.js';
import { PacedBudget } from '../../src/core/PacedBudget.js';
import { claimSlice, costInMs, debtInMs, delaySchedule, scheduleRates } from '../../src/core/SliceSchedule.js';

const HOUR = 3_600_000;
const limits = { requestsPerMinute: 1000, tokensPerMinute: 200_000 };
const rates = scheduleRates(limits, 0.98);

/** Timers that never fire on their own: the tests only look at what the budget decided. */
const idleTimers = { setTimeout: () => 0, clearTimeout: () => undefined };

describe('the budget never lets one header or one request hold the deployment for more than a window', () => {
  it('a remaining-tokens header of -999999999 is at most one window of debt', () => {
    expect(debtInMs({ tokens: -999_999_999 }, rates)).toBe(60_000);
    expect(debtInMs({ requests: -1e12 }, rates)).toBe(60_000);
    // Debt within the limit is taken as it is.
    expect(debtInMs({ tokens: -3_267 }, rates)).toBeCloseTo(1_000, 0);
    const now = 1_000_000;
    expect(delaySchedule({ cursorInMs: now, pausedUntilInMs: 0 }, 306_000_000, now).cursorInMs).toBe(now + 60_000);
  });

  it('a cursor stored far in the future heals when it is next read', () => {
    const now = 10 * HOUR;
    const stuck = { cursorInMs: now + 85 * HOUR, pausedUntilInMs: 0 };
    const { slice, state } = claimSlice(stuck, 1_000, now);
    expect(slice.startInMs).toBe(now + 60_000);
    expect(state.cursorInMs).toBe(now + 61_000);
    // A pause the server asked for is kept: the cursor may lie a window past its end, not more.
    const paused = claimSlice({ cursorInMs: now + 85 * HOUR, pausedUntilInMs: now + HOUR }, 1_000, now);
    expect(paused.slice.startInMs).toBe(now + HOUR + 60_000);
  });

  it('one request costs at most one window of the timeline, however many tokens it asks for', () => {
    expect(
      costInMs(
        { requests: 1, tokens: 131_072 },
        scheduleRates({ requestsPerMinute: 1000, tokensPerMinute: 100_000 }, 1),
      ),
    ).toBe(60_000);
    const budget = new PacedBudget({ limits, utilization: 1 }, 0);
    expect(budget.tryTake({ requests: 1, tokens: 1e12 }, 0)).toEqual({ granted: true });
    const next = budget.tryTake({ requests: 1, tokens: 1 }, 0);
    expect(next.granted).toBe(false);
    expect(next.granted ? 0 : next.waitInMs).toBeLessThanOrEqual(60_000);
  });

  it('the per-process budget takes at most a window of debt from a header', () => {
    const budget = new PacedBudget({ limits, utilization: 1 }, 0);
    budget.correct({ tokens: -999_999_999 }, 0);
    const result = budget.tryTake({ requests: 1, tokens: 1 }, 0);
    expect(result).toEqual({ granted: false, waitInMs: 60_000 });
  });

  it('the shared budget writes at most a window of debt to the store, and a stored 85-hour cursor heals', async () => {
    const store = new InMemoryBudgetStore();
    const clock = {
      now: 5 * HOUR,
      nowInMs() {
        return this.now;
      },
    };
    const limiter = new SharedRateLimiter({
      deploymentId: 'd',
      rates,
      sliceInMs: 1_000,
      store,
      clock,
      timers: idleTimers,
      logger: silentLogger,
    });
    limiter.correct({ tokens: -999_999_999 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(store.stateOf('d').cursorInMs).toBe(clock.now + 60_000);

    // A cursor left 85 hours ahead (by a bug, or written before the bound) does not stall the deployment: the next claim
    // starts a window from now at most (the caller, who waits 30 s at most, is told how long).
    await store.update('d', () => ({
      state: { cursorInMs: clock.now + 85 * HOUR, pausedUntilInMs: 0 },
      result: undefined,
    }));
    const fresh = new SharedRateLimiter({
      deploymentId: 'd',
      rates,
      sliceInMs: 1_000,
      store,
      clock,
      timers: idleTimers,
      logger: silentLogger,
    });
    const result = await fresh.acquire({ requests: 1, tokens: 100 }, { maxWaitInMs: 30_000 });
    expect(result.granted).toBe(false);
    expect(result.granted ? 0 : result.waitInMs).toBeLessThanOrEqual(60_000);
    expect(store.stateOf('d').cursorInMs).toBeLessThan(clock.now + 62_000);
  });
});
