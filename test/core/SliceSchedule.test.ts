import { describe, expect, it } from 'vitest';
import {
  MAX_CATCH_UP_IN_MS,
  claimSlice,
  costInMs,
  pauseSchedule,
  SlicePacer,
  EMPTY_SCHEDULE,
  scheduleRates,
} from '../../src/core/SliceSchedule.js';

const rates = scheduleRates({ requestsPerMinute: 600, tokensPerMinute: 60_000 }, 1); // 0.01 req/ms, 1 token/ms

describe('the shared schedule', () => {
  it('hands out consecutive, non-overlapping slices and never saves up idle time', () => {
    const first = claimSlice(EMPTY_SCHEDULE, 1000, 5_000);
    expect(first.slice).toEqual({ startInMs: 5_000, endInMs: 6_000 });
    const second = claimSlice(first.state, 1000, 5_100);
    expect(second.slice).toEqual({ startInMs: 6_000, endInMs: 7_000 });
    const afterIdle = claimSlice(second.state, 1000, 60_000);
    expect(afterIdle.slice.startInMs).toBe(60_000);
  });

  it('lengthens a slice that would start before its claimer hears of it, and only such a slice', () => {
    // Idle deployment: read at 5,000, answered 300 ms later; 100 ms must still be ahead then.
    const afterIdle = claimSlice({ cursorInMs: 1_000, pausedUntilInMs: 0 }, 100, 5_000, 300);
    expect(afterIdle.slice).toEqual({ startInMs: 5_000, endInMs: 5_400 });
    expect(afterIdle.state.cursorInMs).toBe(5_400);
    // The timeline is taken up to 100 ms after the read: only the part before the answer is added.
    expect(claimSlice({ cursorInMs: 5_100, pausedUntilInMs: 0 }, 100, 5_000, 300).slice).toEqual({
      startInMs: 5_100,
      endInMs: 5_400,
    });
    // Taken beyond the answer: the slice starts later anyway and keeps its length.
    expect(claimSlice({ cursorInMs: 6_000, pausedUntilInMs: 0 }, 100, 5_000, 300).slice).toEqual({
      startInMs: 6_000,
      endInMs: 6_100,
    });
  });

  it('starts no slice inside a pause', () => {
    const paused = pauseSchedule(EMPTY_SCHEDULE, 30_000);
    expect(claimSlice(paused, 500, 1_000).slice.startInMs).toBe(30_000);
  });

  it('costs a request by whichever of requests or tokens binds', () => {
    expect(costInMs({ requests: 1, tokens: 10 }, rates)).toBe(100);
    expect(costInMs({ requests: 1, tokens: 500 }, rates)).toBe(500);
  });
});

describe('SlicePacer', () => {
  it('asks for a slice, then admits at the deployment pace inside it, never early', () => {
    const pacer = new SlicePacer(rates, 1000);
    expect(pacer.tryTake({ requests: 1, tokens: 1 }, 0)).toEqual({ kind: 'needSlice', durationInMs: 1000 });
    pacer.addSlice({ startInMs: 200, endInMs: 1200 });
    expect(pacer.tryTake({ requests: 1, tokens: 1 }, 0)).toEqual({ kind: 'wait', waitInMs: 200 });
    expect(pacer.tryTake({ requests: 1, tokens: 1 }, 200)).toEqual({ kind: 'granted' });
    expect(pacer.tryTake({ requests: 1, tokens: 1 }, 200)).toEqual({ kind: 'wait', waitInMs: 100 });
  });

  it('catches up a little lateness (a claim round trip), never more than MAX_CATCH_UP_IN_MS', () => {
    const pacer = new SlicePacer(rates, 1000);
    pacer.addSlice({ startInMs: 0, endInMs: 1000 });
    // 700 ms late: the first 600 ms of the slice are given up, the last 100 ms are caught up.
    expect(pacer.tryTake({ requests: 1, tokens: 1 }, 700)).toEqual({ kind: 'granted' });
    expect(pacer.tryTake({ requests: 1, tokens: 1 }, 700)).toEqual({ kind: 'granted' });
    expect(pacer.tryTake({ requests: 1, tokens: 1 }, 700)).toEqual({ kind: 'wait', waitInMs: 100 });
    expect(MAX_CATCH_UP_IN_MS).toBe(100);
  });

  it('knows how much held timeline is left from its next admission (what may be spent before it needs a claim)', () => {
    const pacer = new SlicePacer(rates, 1000);
    expect(pacer.heldAheadInMs(0)).toBe(0);
    pacer.addSlice({ startInMs: 0, endInMs: 1000 });
    pacer.addSlice({ startInMs: 2000, endInMs: 2500 });
    expect(pacer.heldAheadInMs(0)).toBe(1500);
    expect(pacer.tryTake({ requests: 1, tokens: 1 }, 0)).toEqual({ kind: 'granted' });
    expect(pacer.heldAheadInMs(0)).toBe(1400);
    // Time given up for lateness is not held any more.
    expect(pacer.heldAheadInMs(900)).toBe(700);
  });

  it('admits a request only if all of its cost fits in the slice, and asks for a big enough slice', () => {
    const pacer = new SlicePacer(rates, 1000);
    pacer.addSlice({ startInMs: 0, endInMs: 1000 });
    expect(pacer.tryTake({ requests: 1, tokens: 800 }, 0)).toEqual({ kind: 'granted' });
    expect(pacer.tryTake({ requests: 1, tokens: 300 }, 0)).toEqual({ kind: 'needSlice', durationInMs: 1000 });
    expect(pacer.tryTake({ requests: 1, tokens: 3000 }, 0)).toEqual({ kind: 'needSlice', durationInMs: 3000 });
  });

  it('merges a slice that continues the held one, so nothing is lost at the seam', () => {
    const pacer = new SlicePacer(rates, 1000);
    pacer.addSlice({ startInMs: 0, endInMs: 1000 });
    expect(pacer.tryTake({ requests: 1, tokens: 800 }, 0)).toEqual({ kind: 'granted' });
    pacer.addSlice({ startInMs: 1000, endInMs: 2000 });
    expect(pacer.tryTake({ requests: 1, tokens: 300 }, 800)).toEqual({ kind: 'granted' });
  });

  it('drops what it holds before a pause', () => {
    const pacer = new SlicePacer(rates, 1000);
    pacer.addSlice({ startInMs: 0, endInMs: 1000 });
    pacer.dropBefore(5_000);
    expect(pacer.tryTake({ requests: 1, tokens: 1 }, 0)).toEqual({ kind: 'needSlice', durationInMs: 1000 });
  });
});
