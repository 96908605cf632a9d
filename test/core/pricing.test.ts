import { describe, expect, it } from 'vitest';
import { costInNanos, priceFor, priceUsage, utcDay, type ModelPrice } from '../../src/core/pricing.js';

const prices: ModelPrice[] = [
  {
    model: 'Phi-3-mini-4k-instruct',
    inputPerMillion: 0.13,
    outputPerMillion: 0.52,
    currency: 'USD',
    effectiveFrom: '2024-01-01',
  },
  {
    model: 'Phi-3-mini-4k-instruct',
    inputPerMillion: 0.2,
    outputPerMillion: 0.8,
    currency: 'USD',
    effectiveFrom: '2026-06-01',
  },
];

describe('pricing', () => {
  it('applies the price in force on the day, so a later change leaves earlier costs alone', () => {
    expect(priceFor(prices, 'phi-3-mini-4k-instruct', '2026-05-31')?.inputPerMillion).toBe(0.13);
    expect(priceFor(prices, 'Phi-3-mini-4k-instruct', '2026-06-01')?.inputPerMillion).toBe(0.2);
    expect(priceFor(prices, 'Phi-3-mini-4k-instruct', '2023-12-31')).toBeUndefined();
  });

  it('computes costs in integer nano-dollars', () => {
    expect(costInNanos(prices[0]!, 1_000_000, 1_000_000)).toBe(650_000_000);
    expect(costInNanos(prices[0]!, 1, 1)).toBe(650);
    expect(priceUsage(prices, 'unknown-model', '2026-01-01', 10, 10)).toEqual({
      costInNanos: 0,
      currency: 'USD',
      priceEffectiveFrom: 'unpriced',
    });
  });

  it('days are UTC', () => {
    expect(utcDay(Date.UTC(2026, 10, 27, 23, 59))).toBe('2026-11-27');
  });
});
