export interface BudgetLimits {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
}

export interface BudgetCost {
  readonly requests: number;
  readonly tokens: number;
}

export type TakeResult = { readonly granted: true } | { readonly granted: false; readonly waitInMs: number };

export interface PacedBudgetOptions {
  readonly limits: BudgetLimits;
  /** Share of the limit to pace at: headroom for clock skew between us and the server's windows. */
  readonly utilization: number;
}

const MS_PER_MINUTE = 60_000;
/**
 * The limits are per minute: no single request, and no correction the server's headers ask for, may
 * take more than one window of the budget. A request that needs more could never be served within the
 * limit; a header claiming more debt than the limit itself is wrong (seen: -999999999 remaining tokens).
 */
export const BUDGET_WINDOW_IN_MS = MS_PER_MINUTE;

/**
 * Paces requests and tokens evenly at a rate just under the limits.
 *
 * Each resource is a bucket that never saves up capacity (its level is capped at zero) and may go
 * into debt by one request's cost. So admissions are spread evenly, and any window of W ms holds at
 * most `rate * W` plus one request's cost: that is what keeps Azure's short 1 s / 10 s request windows
 * and its 60 s token window from ever seeing a burst. Pure: the caller passes the time.
 */
export class PacedBudget {
  #requestRatePerMs: number;
  #tokenRatePerMs: number;
  #requestLevel = 0;
  #tokenLevel = 0;
  #updatedAtInMs: number;
  #pausedUntilInMs = 0;

  constructor(options: PacedBudgetOptions, nowInMs: number) {
    this.#requestRatePerMs = (options.limits.requestsPerMinute * options.utilization) / MS_PER_MINUTE;
    this.#tokenRatePerMs = (options.limits.tokensPerMinute * options.utilization) / MS_PER_MINUTE;
    this.#updatedAtInMs = nowInMs;
  }

  get pausedUntilInMs(): number {
    return this.#pausedUntilInMs;
  }

  tryTake(cost: BudgetCost, nowInMs: number): TakeResult {
    this.#refill(nowInMs);
    if (nowInMs < this.#pausedUntilInMs) return { granted: false, waitInMs: this.#pausedUntilInMs - nowInMs };
    const requestWait = this.#requestLevel < 0 ? -this.#requestLevel / this.#requestRatePerMs : 0;
    const tokenWait = this.#tokenLevel < 0 ? -this.#tokenLevel / this.#tokenRatePerMs : 0;
    const waitInMs = Math.ceil(Math.max(requestWait, tokenWait));
    if (waitInMs > 0) return { granted: false, waitInMs };
    // At most one window's capacity: a larger cost would hold everybody else back for longer than a minute.
    this.#requestLevel -= Math.min(cost.requests, this.#requestRatePerMs * BUDGET_WINDOW_IN_MS);
    this.#tokenLevel -= Math.min(cost.tokens, this.#tokenRatePerMs * BUDGET_WINDOW_IN_MS);
    return { granted: true };
  }

  /** Gives back tokens reserved but not used (only when the deployment counts actual use, not admission). */
  refundTokens(tokens: number, nowInMs: number): void {
    this.#refill(nowInMs);
    this.#tokenLevel = Math.min(0, this.#tokenLevel + tokens);
  }

  /** The server said stop: nobody in this budget sends before `untilInMs`. */
  pauseUntil(untilInMs: number): void {
    this.#pausedUntilInMs = Math.max(this.#pausedUntilInMs, untilInMs);
  }

  /**
   * Lets the server's `x-ratelimit-remaining-*` headers slow us down. Only a shortfall is taken:
   * remaining capacity never speeds us past our own pace. Negative values (seen in the wild) mean debt,
   * taken as at most one window of the budget: the server cannot be owed more than its limit.
   */
  correct(remaining: { requests?: number | undefined; tokens?: number | undefined }, nowInMs: number): void {
    this.#refill(nowInMs);
    if (remaining.requests !== undefined && remaining.requests < 0) {
      const floor = -this.#requestRatePerMs * BUDGET_WINDOW_IN_MS;
      this.#requestLevel = Math.min(this.#requestLevel, Math.max(remaining.requests, floor));
    }
    if (remaining.tokens !== undefined && remaining.tokens < 0) {
      const floor = -this.#tokenRatePerMs * BUDGET_WINDOW_IN_MS;
      this.#tokenLevel = Math.min(this.#tokenLevel, Math.max(remaining.tokens, floor));
    }
  }

  #refill(nowInMs: number): void {
    const elapsed = Math.max(0, nowInMs - this.#updatedAtInMs);
    this.#updatedAtInMs = Math.max(this.#updatedAtInMs, nowInMs);
    this.#requestLevel = Math.min(0, this.#requestLevel + elapsed * this.#requestRatePerMs);
    this.#tokenLevel = Math.min(0, this.#tokenLevel + elapsed * this.#tokenRatePerMs);
  }
}

/**
 * Calls per process written ahead to the ledger and waiting for a deployment's budget at once: half a
 * second of the deployment's requests, which keeps its budget fed through a store round trip, and few
 * enough that a crash leaves few unconfirmed entries for requests that never left.
 */
export function admissionSlotsFor(requestsPerMinute: number, maxConcurrency: number): number {
  return Math.min(maxConcurrency, Math.max(4, Math.ceil(requestsPerMinute / 120)));
}
