import { costInNanos, priceFor, type ModelPrice } from './pricing.js';

/**
 * What a job can cost before it runs: every prompt token is billed for sure (the lower bound), and at
 * most max_tokens completion tokens per line (the upper bound). Priced at the job model's price for
 * `day`; calls on later days use their own day's price, so a price change while the job runs moves
 * the real cost outside this range by exactly that change.
 */
export interface CostEstimate {
  readonly minCostInNanos: number;
  readonly maxCostInNanos: number;
  readonly currency: string;
  /** The UTC day whose price was used, and the price's own start date. */
  readonly day: string;
  readonly priceEffectiveFrom: string;
}

export function estimateJobCost(
  prices: readonly ModelPrice[],
  model: string,
  day: string,
  promptTokens: number,
  maxCompletionTokens: number,
): CostEstimate | undefined {
  const price = priceFor(prices, model, day);
  if (price === undefined) return undefined;
  return {
    minCostInNanos: costInNanos(price, promptTokens, 0),
    maxCostInNanos: costInNanos(price, promptTokens, maxCompletionTokens),
    currency: price.currency,
    day,
    priceEffectiveFrom: price.effectiveFrom,
  };
}
