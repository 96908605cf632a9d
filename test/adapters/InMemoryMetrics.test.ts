import { describe, expect, it } from 'vitest';
import { InMemoryMetrics } from '../../src/adapters/memory/InMemoryMetrics.js';
import { CallResult } from '../../src/app/ports.js';
import { metricsConformance } from './metricsConformance.js';

metricsConformance('in memory', () => {
  const metrics = new InMemoryMetrics();
  return { metrics, read: async () => metrics.snapshot(), close: async () => undefined };
});

describe('InMemoryMetrics', () => {
  it('gives percentiles of the newest call durations', () => {
    const metrics = new InMemoryMetrics({ maxDurationsKept: 100 });
    expect(metrics.durationPercentileInMs('mini', 0.9)).toBeUndefined();
    for (let i = 1; i <= 150; i += 1) metrics.callEnded('mini', i, CallResult.succeeded);
    // The newest 100 are 51..150.
    expect(metrics.durationPercentileInMs('mini', 0.5)).toBe(100);
    expect(metrics.durationPercentileInMs('mini', 0.9)).toBe(140);
    expect(metrics.durationPercentileInMs('mini', 1)).toBe(150);
  });
});
