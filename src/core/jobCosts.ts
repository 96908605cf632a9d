import type { Job } from './job.js';
import { nanosToAmount } from './pricing.js';

/** The currency of a job's amounts: its estimate's price currency (one price table per deployment). */
export function currencyOf(job: Job): string {
  return job.costEstimate?.currency ?? 'USD';
}

/** Every billed call so far, repeated ones included; the ledger's exact total once the job is final. */
export function costSoFar(job: Job) {
  return {
    amount: nanosToAmount(job.spend?.committed ?? job.usage.costInNanos),
    currency: currencyOf(job),
    calls: job.spend?.calls ?? null,
    // Counted live since jobs started to track it; null only for a job stored before it had spend at all.
    unconfirmed_calls: job.spend === undefined ? null : (job.spend.unconfirmedCalls ?? 0),
  };
}

/**
 * The pre-flight range (every prompt token billed .. every line using all its max_tokens), and the
 * share of it for the request lines that have no outcome yet.
 */
export function estimatedCosts(job: Job) {
  const estimate = job.costEstimate;
  if (estimate === undefined) return { min_cost: null, max_cost: null, currency: currencyOf(job), remaining: null };
  const done = job.counts.succeeded + job.counts.failed - job.ingest.invalid;
  const remainingRequests = Math.max(0, job.ingest.requests - done);
  const share = (nanos: number): number =>
    job.ingest.requests === 0 ? 0 : nanosToAmount(Math.round((nanos * remainingRequests) / job.ingest.requests));
  return {
    min_cost: nanosToAmount(estimate.minCostInNanos),
    max_cost: nanosToAmount(estimate.maxCostInNanos),
    currency: estimate.currency,
    remaining: {
      requests: remainingRequests,
      min_cost: share(estimate.minCostInNanos),
      max_cost: share(estimate.maxCostInNanos),
    },
  };
}

/** The job's spending cap, if it has one, and whether a request was refused for it. */
export function spendingCapStatus(job: Job) {
  if (job.maxCostInNanos === undefined) return null;
  const reachedAt = job.spend?.capReachedAtInMs;
  return {
    max_cost: nanosToAmount(job.maxCostInNanos),
    currency: currencyOf(job),
    reached: reachedAt !== undefined,
    reached_at: reachedAt === undefined ? null : Math.floor(reachedAt / 1000),
  };
}
