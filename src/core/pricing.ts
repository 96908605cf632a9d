/** A model's price from a date on. Amounts are per 1M tokens, in `currency`. */
export interface ModelPrice {
  readonly model: string;
  readonly inputPerMillion: number;
  readonly outputPerMillion: number;
  readonly currency: string;
  /** ISO date (YYYY-MM-DD, UTC) from which this price applies. */
  readonly effectiveFrom: string;
}

/**
 * Public list prices, as defaults only: a serverless deployment's own "Pricing and terms" is what is
 * billed, so set PHI3_PRICES to match it.
 */
export const DEFAULT_PRICES: readonly ModelPrice[] = [
  {
    model: 'Phi-3-mini-4k-instruct',
    inputPerMillion: 0.13,
    outputPerMillion: 0.52,
    currency: 'USD',
    effectiveFrom: '2024-01-01',
  },
  {
    model: 'Phi-3-mini-128k-instruct',
    inputPerMillion: 0.13,
    outputPerMillion: 0.52,
    currency: 'USD',
    effectiveFrom: '2024-01-01',
  },
  {
    model: 'Phi-3.5-mini-instruct',
    inputPerMillion: 0.13,
    outputPerMillion: 0.52,
    currency: 'USD',
    effectiveFrom: '2024-01-01',
  },
  {
    model: 'Phi-3-small-8k-instruct',
    inputPerMillion: 0.15,
    outputPerMillion: 0.6,
    currency: 'USD',
    effectiveFrom: '2024-01-01',
  },
  {
    model: 'Phi-3-small-128k-instruct',
    inputPerMillion: 0.15,
    outputPerMillion: 0.6,
    currency: 'USD',
    effectiveFrom: '2024-01-01',
  },
  {
    model: 'Phi-3-medium-4k-instruct',
    inputPerMillion: 0.17,
    outputPerMillion: 0.68,
    currency: 'USD',
    effectiveFrom: '2024-01-01',
  },
  {
    model: 'Phi-3-medium-128k-instruct',
    inputPerMillion: 0.17,
    outputPerMillion: 0.68,
    currency: 'USD',
    effectiveFrom: '2024-01-01',
  },
  {
    model: 'Phi-3.5-MoE-instruct',
    inputPerMillion: 0.16,
    outputPerMillion: 0.64,
    currency: 'USD',
    effectiveFrom: '2024-01-01',
  },
];

/** Costs are kept in integer nano-units (1e-9 of the currency) so that sums are exact. */
export const NANOS_PER_UNIT = 1_000_000_000;

export interface PricedUsage {
  readonly costInNanos: number;
  readonly currency: string;
  readonly priceEffectiveFrom: string;
}

/** The price in force for `model` on `day` (YYYY-MM-DD): the latest one that took effect on or before it. */
export function priceFor(prices: readonly ModelPrice[], model: string, day: string): ModelPrice | undefined {
  const wanted = model.toLowerCase();
  let best: ModelPrice | undefined;
  for (const price of prices) {
    if (price.model.toLowerCase() !== wanted || price.effectiveFrom > day) continue;
    if (best === undefined || price.effectiveFrom > best.effectiveFrom) best = price;
  }
  return best;
}

export function costInNanos(price: ModelPrice, promptTokens: number, completionTokens: number): number {
  // Per-million price × tokens × 1e9 / 1e6 = price × tokens × 1000, rounded once per call.
  return Math.round(price.inputPerMillion * promptTokens * 1000 + price.outputPerMillion * completionTokens * 1000);
}

export function priceUsage(
  prices: readonly ModelPrice[],
  model: string,
  day: string,
  promptTokens: number,
  completionTokens: number,
): PricedUsage {
  const price = priceFor(prices, model, day);
  if (price === undefined) return { costInNanos: 0, currency: 'USD', priceEffectiveFrom: 'unpriced' };
  return {
    costInNanos: costInNanos(price, promptTokens, completionTokens),
    currency: price.currency,
    priceEffectiveFrom: price.effectiveFrom,
  };
}

export function nanosToAmount(nanos: number): number {
  return nanos / NANOS_PER_UNIT;
}

/** The UTC calendar day of an instant, the unit of cost rollups. */
export function utcDay(atInMs: number): string {
  return new Date(atInMs).toISOString().slice(0, 10);
}
