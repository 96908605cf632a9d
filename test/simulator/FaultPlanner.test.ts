import { describe, expect, it } from 'vitest';
import { FaultKind, FaultPlanner } from '../../dev/simulator/FaultPlanner.js';
import { DEFAULT_FAULT_SETTINGS, type FaultSettings } from '../../dev/simulator/settings.js';

function plannerWith(changes: Partial<FaultSettings>): FaultPlanner {
  return new FaultPlanner({ ...DEFAULT_FAULT_SETTINGS, ...changes });
}

function kinds(planner: FaultPlanner, count: number): string[] {
  return Array.from({ length: count }, () => planner.next().kind);
}

describe('FaultPlanner', () => {
  it('gives the same schedule for the same seed and a different one for another seed', () => {
    const settings = { errorRate: 0.2, hangRate: 0.1, negativeRemainingTokensRate: 0.3, seed: 42 };
    const first = plannerWith(settings);
    const second = plannerWith(settings);
    const a = Array.from({ length: 200 }, () => first.next());
    const b = Array.from({ length: 200 }, () => second.next());
    expect(a).toEqual(b);
    expect(a.some((d) => d.kind === FaultKind.serverError)).toBe(true);
    expect(a.some((d) => d.kind === FaultKind.hang)).toBe(true);
    expect(a.some((d) => d.negativeRemainingTokens !== null && d.negativeRemainingTokens < 0)).toBe(true);
    expect(kinds(plannerWith({ ...settings, seed: 43 }), 200)).not.toEqual(a.map((d) => d.kind));
  });

  it('injects nothing with the default settings', () => {
    const decisions = Array.from({ length: 100 }, () => plannerWith({}).next());
    expect(decisions.every((d) => d.kind === FaultKind.none && d.negativeRemainingTokens === null)).toBe(true);
  });

  it('restarts the schedule when the seed is set again', () => {
    const planner = plannerWith({ errorRate: 0.5, seed: 7 });
    const before = kinds(planner, 50);
    planner.update({ seed: 7 });
    expect(kinds(planner, 50)).toEqual(before);
  });

  it('keeps the same draws when only the rates change', () => {
    const reference = plannerWith({ errorRate: 0.5, seed: 9 });
    const changed = plannerWith({ errorRate: 0.5, seed: 9 });
    kinds(reference, 10);
    changed.update({ hangRate: 0 });
    kinds(changed, 10);
    expect(kinds(changed, 20)).toEqual(kinds(reference, 20));
  });

  it('puts 429 bursts at the end of every run of everyN requests', () => {
    const planner = plannerWith({ burst429: { everyN: 5, length: 2, retryAfterInMs: 1_000 } });
    expect(kinds(planner, 10)).toEqual([
      'none',
      'none',
      'none',
      'burst_429',
      'burst_429',
      'none',
      'none',
      'none',
      'burst_429',
      'burst_429',
    ]);
  });

  it('gives the daily-quota fault to the next request only', () => {
    const planner = plannerWith({ dailyQuotaOnce: true });
    expect(kinds(planner, 3)).toEqual([FaultKind.dailyQuota, FaultKind.none, FaultKind.none]);
    expect(planner.settings.dailyQuotaOnce).toBe(false);
  });
});
