import { describe, expect, it } from 'vitest';
import type { Timers } from '../../../src/app/ports.js';
import { AdaptiveCallSlots } from '../../../src/app/worker/AdaptiveCallSlots.js';
import { DEFAULT_IN_FLIGHT_SIZER_OPTIONS, InFlightSizer, type InFlightSize } from '../../../src/core/InFlightSizer.js';

/* The worker's call slots sized by the latency the endpoint shows (decision 0010), on an injected clock. */

function slotsAt(options: { ratePerSecond: number; operator?: number; extraSlots?: number; timers?: Timers }) {
  const clock = { now: 1_000_000, nowInMs: (): number => clock.now };
  const resizes: InFlightSize[] = [];
  const slots = new AdaptiveCallSlots({
    sizer: new InFlightSizer({
      ...DEFAULT_IN_FLIGHT_SIZER_OPTIONS,
      ceilings: options.operator === undefined ? {} : { operator: options.operator },
    }),
    clock,
    ratePerSecond: options.ratePerSecond,
    requestsPerMessage: 10,
    extraSlots: options.extraSlots ?? 0,
    onResize: (size) => resizes.push(size),
    ...(options.timers === undefined ? {} : { recheck: { timers: options.timers, everyInMs: 1_000 } }),
  });
  return { clock, slots, resizes };
}

/** Lines that each take a slot and make one endpoint call, ended by the test. */
function startLines(slots: AdaptiveCallSlots, count: number) {
  const calls: Array<() => void> = [];
  let started = 0;
  const done = Array.from({ length: count }, () =>
    slots.run(async () => {
      started += 1;
      const ended = slots.callStarted();
      await new Promise<void>((resolve) => calls.push(() => (ended(), resolve())));
    }),
  );
  return { calls, started: () => started, done };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('AdaptiveCallSlots', () => {
  it('keeps a small footprint on a fast endpoint: 20 calls/s at 50 ms needs the minimum of 4', async () => {
    const { clock, slots } = slotsAt({ ratePerSecond: 20 });
    for (let i = 0; i < 20; i += 1) {
      const ended = await slots.run(async () => slots.callStarted());
      clock.now += 50;
      ended();
    }
    expect(slots.size.latencyInMs).toBe(50);
    expect(slots.size.calls).toBe(4);
    const lines = startLines(slots, 10);
    await settle();
    expect(lines.started()).toBe(4);
    expect(slots.pending).toBe(6);
    lines.calls.splice(0).forEach((end) => end());
    await settle();
    expect(lines.started()).toBe(8);
  });

  it('grows to rate x latency x headroom on a slow endpoint: 20 calls/s at 8 s is 200 calls', async () => {
    const { clock, slots, resizes } = slotsAt({ ratePerSecond: 20 });
    // Before any answer: the initial 1 s guess, 25 calls.
    expect(slots.size.calls).toBe(25);
    const lines = startLines(slots, 300);
    await settle();
    expect(lines.started()).toBe(25);
    clock.now += 8_000;
    lines.calls.shift()!();
    await settle();
    // One 8 s answer (and 24 calls as old): sized for 8 s, the waiting lines get their slots at once.
    expect(slots.size).toMatchObject({ calls: 200, latencyInMs: 8_000, limitedBy: null, messages: 21 });
    expect(lines.started()).toBe(25 + 200 - 24);
    expect(resizes.map((size) => size.calls)).toEqual([25, 200]);
  });

  it("sees a slow endpoint before its first answer, from the oldest call's age, when re-checked on a timer", async () => {
    const scheduled: Array<() => void> = [];
    const timers: Timers = {
      setTimeout: (callback) => scheduled.push(callback),
      clearTimeout: () => undefined,
    };
    const { clock, slots } = slotsAt({ ratePerSecond: 20, timers });
    const lines = startLines(slots, 100);
    await settle();
    expect(lines.started()).toBe(25);
    expect(scheduled).toHaveLength(1);
    clock.now += 2_000;
    scheduled.shift()!();
    await settle();
    // No call has ended, yet the oldest is 2 s old: 20 x 2 x 1.25 = 50 calls.
    expect(slots.size.calls).toBe(50);
    expect(lines.started()).toBe(50);
    // Still lines waiting: checked again later.
    expect(scheduled).toHaveLength(1);
  });

  it("never goes above the operator's ceiling (plus the admission slots), and says so", async () => {
    const { clock, slots } = slotsAt({ ratePerSecond: 20, operator: 60, extraSlots: 4 });
    const ended = await slots.run(async () => slots.callStarted());
    clock.now += 30_000;
    ended();
    expect(slots.size).toMatchObject({ calls: 60, limitedBy: 'operator', wantedCalls: 750 });
    const lines = startLines(slots, 100);
    await settle();
    expect(lines.started()).toBe(64);
  });

  it('shrinks without cutting calls short: freed slots above the new size are not handed out', async () => {
    const { clock, slots } = slotsAt({ ratePerSecond: 20 });
    const lines = startLines(slots, 40);
    await settle();
    expect(lines.started()).toBe(25);
    // Answers come back fast: the size drops to the minimum; the calls under way go on.
    for (let i = 0; i < 24; i += 1) {
      clock.now += 1;
      lines.calls.shift()!();
    }
    await settle();
    expect(slots.size.calls).toBe(4);
    expect(slots.active).toBeLessThanOrEqual(4);
    lines.calls.splice(0).forEach((end) => end());
    while (lines.calls.length > 0 || slots.pending > 0) {
      await settle();
      lines.calls.splice(0).forEach((end) => end());
    }
    await Promise.all(lines.done);
    expect(lines.started()).toBe(40);
  });

  it('a line lent more than the calls need waits at most its limit, then leaves without a slot', async () => {
    const scheduled: Array<() => void> = [];
    const timers: Timers = {
      setTimeout: (callback) => scheduled.push(callback),
      clearTimeout: () => undefined,
    };
    const { clock, slots } = slotsAt({ ratePerSecond: 20, operator: 4, timers });
    const held = startLines(slots, 4);
    await settle();
    let ran = false;
    const waited = slots.run(
      async () => {
        ran = true;
        return 'ran';
      },
      { afterInMs: 120_000, value: () => 'sent back' },
    );
    await settle();
    expect(slots.pending).toBe(1);
    clock.now += 119_000;
    scheduled.shift()!();
    await settle();
    expect(slots.pending).toBe(1);
    clock.now += 1_000;
    scheduled.shift()!();
    expect(await waited).toBe('sent back');
    expect(ran).toBe(false);
    expect(slots.pending).toBe(0);
    // It took no slot: the calls under way are the four held ones.
    expect(slots.active).toBe(4);
    held.calls.splice(0).forEach((end) => end());
    await Promise.all(held.done);
    expect(slots.active).toBe(0);
  });
});

describe('AdaptiveCallSlots between jobs', () => {
  it("hands free slots to a high job's lines before the low job's lines that waited longer, and keeps the low job moving", async () => {
    const { slots } = slotsAt({ ratePerSecond: 1, operator: 4 });
    const order: string[] = [];
    const gates: Array<() => void> = [];
    const line = (job: string, weight: number, n: number) =>
      slots.run(
        async () => {
          order.push(`${job}${n}`);
          await new Promise<void>((resolve) => gates.push(resolve));
        },
        undefined,
        { key: job, weight },
      );
    const lines = Array.from({ length: 12 }, (_, n) => line('low', 1, n));
    await settle();
    for (let n = 0; n < 8; n += 1) lines.push(line('high', 4, n));
    await settle();
    // The four slots went to the first low lines; the rest of the low job waited before the high job came.
    expect(order).toEqual(['low0', 'low1', 'low2', 'low3']);
    // The eight low lines still waiting are overtaken by the high job's (the feeder does not count them).
    expect(slots.overtaken).toBe(8);
    while (order.length < 20) {
      gates.splice(0).forEach((open) => open());
      await settle();
    }
    // The low job's next line is level with the high job's first; then four high lines to each low one.
    expect(order.slice(4, 14)).toEqual([
      'low4',
      'high0',
      'high1',
      'high2',
      'high3',
      'low5',
      'high4',
      'high5',
      'high6',
      'high7',
    ]);
    gates.splice(0).forEach((open) => open());
    await Promise.all(lines);
  });
});
