import { describe, expect, it } from 'vitest';
import { MessageServiceTimes } from '../../../src/app/worker/MessageServiceTimes.js';

function manualTimers() {
  const pending: Array<{ callback: () => void; atInMs: number }> = [];
  return {
    pending,
    timers: {
      setTimeout: (callback: () => void, delayInMs: number) => pending.push({ callback, atInMs: delayInMs }),
      clearTimeout: () => undefined,
    },
    fire: () => pending.splice(0).forEach((t) => t.callback()),
  };
}

describe('MessageServiceTimes', () => {
  it('counts from the first call to the end, and sees a message in service before it ends', () => {
    const clock = { now: 0, nowInMs: () => clock.now };
    const times = new MessageServiceTimes({ clock });
    const waiting = times.begin();
    clock.now = 20_000;
    // No call yet: waiting for the budget is not service.
    expect(times.estimateInMs()).toBeUndefined();
    waiting.firstCall();
    clock.now = 50_000;
    waiting.firstCall();
    // Still in service: at least 30 s.
    expect(times.estimateInMs()).toBe(30_000);
    clock.now = 65_000;
    waiting.end();
    waiting.end();
    expect(times.estimateInMs()).toBe(45_000);
    // A message that never called leaves no sample.
    times.begin().end();
    expect(times.estimateInMs()).toBe(45_000);
  });

  it('does not let one message held long size the estimate alone', () => {
    const clock = { now: 0, nowInMs: () => clock.now };
    const times = new MessageServiceTimes({ clock });
    const held = times.begin();
    held.firstCall();
    for (let i = 0; i < 20; i += 1) {
      const message = times.begin();
      message.firstCall();
      clock.now += 2_000;
      message.end();
    }
    // 20 messages of 2 s and one in service for 40 s so far: the 90th percentile is 2 s.
    expect(times.estimateInMs()).toBe(2_000);
  });

  it('checks every interval while messages are in service, and stops when none is', () => {
    const clock = { now: 0, nowInMs: () => clock.now };
    const manual = manualTimers();
    const seen: Array<number | undefined> = [];
    const times: MessageServiceTimes = new MessageServiceTimes({
      clock,
      check: { timers: manual.timers, everyInMs: 1_000, onCheck: () => seen.push(times.estimateInMs()) },
    });
    const message = times.begin();
    message.firstCall();
    for (const at of [1_000, 2_000, 3_000]) {
      clock.now = at;
      manual.fire();
    }
    expect(seen).toEqual([1_000, 2_000, 3_000]);
    message.end();
    manual.fire();
    expect(seen).toHaveLength(3);
    expect(manual.pending).toHaveLength(0);
  });
});
