import { describe, expect, it } from 'vitest';
import { SimulatorLog, SimulatorOutcome, type SimulatorLogEntry } from '../../dev/simulator/SimulatorLog.js';

function entry(atInMs: number, status: number, admittedTokens: number): SimulatorLogEntry {
  return {
    atInMs,
    status,
    outcome: status === 200 ? SimulatorOutcome.completed : SimulatorOutcome.rateLimited,
    requestId: `r-${atInMs}`,
    promptTokens: 10,
    maxTokens: null,
    admittedTokens,
    completionTokens: 0,
    requestHash: null,
  };
}

describe('SimulatorLog', () => {
  const log = new SimulatorLog();
  for (const [at, status, tokens] of [
    [0, 200, 100],
    [500, 200, 100],
    [999, 429, 0],
    [1_000, 200, 300],
    [1_200, 200, 50],
    [5_000, 429, 0],
  ] as const) {
    log.append(entry(at, status, tokens));
  }

  it('filters admitted and rate-limited entries', () => {
    expect(log.entries()).toHaveLength(6);
    expect(log.admitted().map((e) => e.atInMs)).toEqual([0, 500, 1_000, 1_200]);
    expect(log.rejected429().map((e) => e.atInMs)).toEqual([999, 5_000]);
  });

  it('finds the busiest half-open window', () => {
    // [0, 1000) holds 0, 500, 999; [500, 1500) holds 500, 999, 1000, 1200.
    expect(log.maxInAnyWindow({ windowInMs: 1_000, metric: 'requests' })).toBe(4);
    expect(log.maxInAnyWindow({ windowInMs: 1_000, metric: 'requests', statuses: [200] })).toBe(3);
    expect(log.maxInAnyWindow({ windowInMs: 1_000, metric: 'tokens' })).toBe(450);
    expect(log.maxInAnyWindow({ windowInMs: 1_001, metric: 'tokens' })).toBe(500);
    expect(log.maxInAnyWindow({ windowInMs: 1, metric: 'requests' })).toBe(1);
    expect(log.maxInAnyWindow({ windowInMs: 10_000, metric: 'requests', statuses: [429] })).toBe(2);
    expect(() => log.maxInAnyWindow({ windowInMs: 0, metric: 'requests' })).toThrow(RangeError);
  });

  it('notifies subscribers and clears', () => {
    const local = new SimulatorLog();
    const seen: number[] = [];
    const unsubscribe = local.subscribe((e) => seen.push(e.atInMs));
    local.append(entry(1, 200, 1));
    unsubscribe();
    local.append(entry(2, 200, 1));
    expect(seen).toEqual([1]);
    local.clear();
    expect(local.entries()).toEqual([]);
    expect(local.maxInAnyWindow({ windowInMs: 10, metric: 'tokens' })).toBe(0);
  });
});
