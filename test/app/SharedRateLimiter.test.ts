import { describe, expect, it } from 'vitest';
import { InMemoryBudgetStore } from '../../src/adapters/memory/InMemoryBudgetStore.js';
import { silentLogger } from '../../src/app/Logger.js';
import type { BudgetStore } from '../../src/app/ports.js';
import { SharedRateLimiter } from '../../src/app/SharedRateLimiter.js';
import { scheduleRates } from '../../src/core/SliceSchedule.js';

/** A virtual clock with timers: time jumps to the next timer; promises settle in between. */
class VirtualTime {
  now = 0;
  #timers: Array<{ at: number; callback: () => void; id: number }> = [];
  #nextId = 0;
  readonly clock = { nowInMs: () => this.now };
  readonly timers = {
    setTimeout: (callback: () => void, delayInMs: number) => {
      const id = this.#nextId++;
      this.#timers.push({ at: this.now + delayInMs, callback, id });
      return id;
    },
    clearTimeout: (handle: unknown) => {
      this.#timers = this.#timers.filter((t) => t.id !== handle);
    },
  };

  async settle(): Promise<void> {
    for (let i = 0; i < 20; i += 1) await Promise.resolve();
  }

  /** Runs timers in order until none is due before `untilInMs`. */
  async runUntil(untilInMs: number): Promise<void> {
    await this.settle();
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.#timers[0];
      if (next === undefined || next.at > untilInMs) break;
      this.#timers.shift();
      this.now = Math.max(this.now, next.at);
      next.callback();
      await this.settle();
    }
    this.now = Math.max(this.now, untilInMs);
  }
}

/** A limiter (1 s slices) whose store answers every update `delayInMs` of virtual time late, applied on arrival. */
function limiterOnSlowStore(
  requestsPerMinute: number,
  delayInMs: number,
): { time: VirtualTime; limiter: SharedRateLimiter } {
  const time = new VirtualTime();
  const inner = new InMemoryBudgetStore();
  const store: BudgetStore = {
    update: (deploymentId, change) =>
      new Promise((resolve, reject) => {
        time.timers.setTimeout(() => void inner.update(deploymentId, change).then(resolve, reject), delayInMs);
      }),
  };
  const rates = scheduleRates({ requestsPerMinute, tokensPerMinute: 1e9 }, 1);
  const limiter = new SharedRateLimiter({
    deploymentId: 'd',
    rates,
    sliceInMs: 1000,
    store,
    clock: time.clock,
    timers: time.timers,
    logger: silentLogger,
  });
  return { time, limiter };
}

function maxInWindow(times: number[], windowInMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end += 1) {
    while (sorted[end]! - sorted[start]! >= windowInMs) start += 1;
    max = Math.max(max, end - start + 1);
  }
  return max;
}

describe('SharedRateLimiter', () => {
  it('three instances sharing one store stay within the deployment pace, and the store is hit once per slice', async () => {
    const time = new VirtualTime();
    const store = new InMemoryBudgetStore();
    const rates = scheduleRates({ requestsPerMinute: 600, tokensPerMinute: 1e9 }, 1);
    const instances = [0, 1, 2].map(
      () =>
        new SharedRateLimiter({
          deploymentId: 'd',
          rates,
          sliceInMs: 1000,
          store,
          clock: time.clock,
          timers: time.timers,
          logger: silentLogger,
        }),
    );
    const admitted: number[] = [];
    // Each instance has far more work than the budget allows in a minute.
    for (const limiter of instances) {
      for (let i = 0; i < 400; i += 1) {
        void limiter.acquire({ requests: 1, tokens: 1 }, { maxWaitInMs: 1e9 }).then((r) => {
          if (r.granted) admitted.push(time.now);
        });
      }
    }
    await time.runUntil(60_000);
    // 600 RPM: about 600 in the minute, at most 10 in any second, 100 in any 10 s (+1 at a boundary).
    expect(admitted.length).toBeGreaterThanOrEqual(590);
    expect(admitted.length).toBeLessThanOrEqual(601);
    expect(maxInWindow(admitted, 1_000)).toBeLessThanOrEqual(11);
    expect(maxInWindow(admitted, 10_000)).toBeLessThanOrEqual(101);
    expect(store.updates).toBeLessThanOrEqual(65);
  });

  it('a 429 seen by one instance pauses the others at their next slice', async () => {
    const time = new VirtualTime();
    const store = new InMemoryBudgetStore();
    const rates = scheduleRates({ requestsPerMinute: 600, tokensPerMinute: 1e9 }, 1);
    const make = () =>
      new SharedRateLimiter({
        deploymentId: 'd',
        rates,
        sliceInMs: 500,
        store,
        clock: time.clock,
        timers: time.timers,
        logger: silentLogger,
      });
    const a = make();
    const b = make();
    a.pauseUntil(20_000);
    await time.settle();
    const admittedAt: number[] = [];
    void b.acquire({ requests: 1, tokens: 1 }, { maxWaitInMs: 1e9 }).then(() => admittedAt.push(time.now));
    await time.runUntil(30_000);
    expect(admittedAt).toEqual([20_000]);
    expect(store.stateOf('d').pausedUntilInMs).toBe(20_000);
  });

  it('does not wait through a pause longer than the caller accepts', async () => {
    const time = new VirtualTime();
    const store = new InMemoryBudgetStore();
    const limiter = new SharedRateLimiter({
      deploymentId: 'd',
      rates: scheduleRates({ requestsPerMinute: 600, tokensPerMinute: 1e9 }, 1),
      sliceInMs: 1000,
      store,
      clock: time.clock,
      timers: time.timers,
      logger: silentLogger,
    });
    limiter.pauseUntil(86_400_000);
    const result = await limiter.acquire({ requests: 1, tokens: 1 }, { maxWaitInMs: 30_000 });
    expect(result).toEqual({ granted: false, waitInMs: 86_400_000 });
  });

  it('negative remaining tokens from the server delay the shared schedule', async () => {
    const time = new VirtualTime();
    const store = new InMemoryBudgetStore();
    const rates = scheduleRates({ requestsPerMinute: 6000, tokensPerMinute: 60_000 }, 1);
    const limiter = new SharedRateLimiter({
      deploymentId: 'd',
      rates,
      sliceInMs: 1000,
      store,
      clock: time.clock,
      timers: time.timers,
      logger: silentLogger,
    });
    time.now = 1_000;
    limiter.correct({ tokens: -5_000 });
    await time.settle();
    expect(store.stateOf('d').cursorInMs).toBe(6_000);
    limiter.correct({ tokens: 10 });
    await time.settle();
    expect(store.stateOf('d').cursorInMs).toBe(6_000);
  });

  it('claims the next slice while the held one still runs, so a slow store costs no capacity', async () => {
    // Every claim takes 300 ms to come back, far longer than the limiter may catch up on.
    const { time, limiter } = limiterOnSlowStore(600, 300);
    const admitted: number[] = [];
    for (let i = 0; i < 2_000; i += 1) {
      void limiter.acquire({ requests: 1, tokens: 1 }, { maxWaitInMs: 1e9 }).then((r) => {
        if (r.granted) admitted.push(time.now);
      });
    }
    await time.runUntil(60_300);
    // The first claim's round trip is the only pause: 600 RPM for the minute after it.
    expect(admitted.length).toBeGreaterThanOrEqual(599);
    expect(maxInWindow(admitted, 10_000)).toBeLessThanOrEqual(101);
  });

  it('with a slow store, a few callers at a time still get the full rate: claims cover at least two round trips', async () => {
    // 6,000 RPM: one request per 10 ms; ten callers, each asking again as soon as it is granted.
    const { time, limiter } = limiterOnSlowStore(6_000, 300);
    const admitted: number[] = [];
    const caller = async (): Promise<void> => {
      while (time.now < 10_300) {
        const result = await limiter.acquire({ requests: 1, tokens: 1 }, { maxWaitInMs: 1e9 });
        if (result.granted) admitted.push(time.now);
      }
    };
    for (let i = 0; i < 10; i += 1) void caller();
    await time.runUntil(10_300);
    // Ten waiting callers cost 100 ms of timeline, a third of a round trip: claims that covered only
    // them would admit about a third of the rate. The only pauses are at the start, until the first
    // claim has shown how slow the store is (about two round trips: 500 ms, 50 requests).
    expect(admitted.filter((t) => t < 10_300).length).toBeGreaterThanOrEqual(975);
    expect(maxInWindow(admitted, 1_000)).toBeLessThanOrEqual(101);
  });

  it('a slow first claim still covers the callers waiting for it when its answer arrives', async () => {
    // 6,000 RPM: 10 ms a request. The store reads the state 150 ms after the claim and answers 150 ms later.
    const time = new VirtualTime();
    const inner = new InMemoryBudgetStore();
    const store: BudgetStore = {
      update: (deploymentId, change) =>
        new Promise((resolve, reject) => {
          time.timers.setTimeout(() => {
            const answer = inner.update(deploymentId, change);
            time.timers.setTimeout(() => void answer.then(resolve, reject), 150);
          }, 150);
        }),
    };
    const rates = scheduleRates({ requestsPerMinute: 6_000, tokensPerMinute: 1e9 }, 1);
    const limiter = new SharedRateLimiter({
      deploymentId: 'd',
      rates,
      sliceInMs: 1000,
      store,
      clock: time.clock,
      timers: time.timers,
      logger: silentLogger,
    });
    const admitted: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      void limiter.acquire({ requests: 1, tokens: 1 }, { maxWaitInMs: 1e9 }).then((r) => {
        if (r.granted) admitted.push(time.now);
      });
    }
    await time.runUntil(1_000);
    // The ten cost 100 ms of timeline. A slice of just that, starting when the state was read (150),
    // is half gone by the answer (300): five would wait for a second claim, another 300 ms.
    expect(admitted).toHaveLength(10);
    expect(Math.max(...admitted)).toBe(300);
    expect(inner.stateOf('d').cursorInMs).toBe(400);
  });

  it('two deployments keep separate budgets in one store', async () => {
    const time = new VirtualTime();
    const store = new InMemoryBudgetStore();
    const rates = scheduleRates({ requestsPerMinute: 600, tokensPerMinute: 1e9 }, 1);
    const one = new SharedRateLimiter({
      deploymentId: 'one',
      rates,
      sliceInMs: 1000,
      store,
      clock: time.clock,
      timers: time.timers,
      logger: silentLogger,
    });
    const two = new SharedRateLimiter({
      deploymentId: 'two',
      rates,
      sliceInMs: 1000,
      store,
      clock: time.clock,
      timers: time.timers,
      logger: silentLogger,
    });
    const counts = { one: 0, two: 0 };
    for (let i = 0; i < 200; i += 1) {
      void one.acquire({ requests: 1, tokens: 1 }, { maxWaitInMs: 1e9 }).then(() => (counts.one += 1));
      void two.acquire({ requests: 1, tokens: 1 }, { maxWaitInMs: 1e9 }).then(() => (counts.two += 1));
    }
    await time.runUntil(10_000);
    expect(counts.one).toBeGreaterThanOrEqual(99);
    expect(counts.two).toBeGreaterThanOrEqual(99);
    expect(counts.one).toBeLessThanOrEqual(101);
  });
});
