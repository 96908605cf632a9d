import { describe, expect, it } from 'vitest';
import { RecentSamples } from '../../src/core/RecentSamples.js';

describe('RecentSamples', () => {
  it('gives a percentile of the newest samples, forgetting the oldest beyond its size', () => {
    const samples = new RecentSamples({ sampleSize: 10, maxAgeInMs: 60_000 });
    expect(samples.percentile(0.9, 0)).toBeUndefined();
    for (let i = 1; i <= 10; i += 1) samples.observe(i * 1_000, 0);
    expect(samples.percentile(0.9, 0)).toBe(9_000);
    expect(samples.percentile(1, 0)).toBe(10_000);
    // Ten newer samples of 500 ms replace all ten.
    for (let i = 0; i < 10; i += 1) samples.observe(500, 1);
    expect(samples.percentile(1, 1)).toBe(500);
  });

  it('no longer counts samples older than its maximum age, and ignores impossible ones', () => {
    const samples = new RecentSamples({ sampleSize: 10, maxAgeInMs: 60_000 });
    samples.observe(30_000, 0);
    samples.observe(2_000, 50_000);
    samples.observe(-1, 50_000);
    samples.observe(Number.NaN, 50_000);
    expect(samples.percentile(1, 60_000)).toBe(30_000);
    expect(samples.percentile(1, 60_001)).toBe(2_000);
    expect(samples.percentile(1, 110_001)).toBeUndefined();
  });
});
