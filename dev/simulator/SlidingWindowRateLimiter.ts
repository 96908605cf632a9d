import type { LimitSettings } from './settings.js';

export const RejectionReason = {
  requests: 'requests',
  tokens: 'tokens',
  /** The request alone needs more tokens than a whole window holds: waiting cannot help. */
  tokensBeyondWindowCapacity: 'tokens_beyond_window_capacity',
} as const;
export type RejectionReason = (typeof RejectionReason)[keyof typeof RejectionReason];

export interface RateLimitSnapshot {
  readonly remainingRequests: number;
  readonly remainingTokens: number;
}

export type AdmissionDecision =
  | (RateLimitSnapshot & { readonly admitted: true })
  | (RateLimitSnapshot & {
      readonly admitted: false;
      readonly reason: RejectionReason;
      /** Time until this same request would be admitted if nothing else arrives. */
      readonly retryAfterInMs: number;
    });

interface TokenEntry {
  readonly atInMs: number;
  readonly tokens: number;
}

/**
 * Azure-style admission control: a request is admitted when its window has a free request slot and
 * enough token capacity for its estimate (prompt + max_tokens), counted at admission and never refunded.
 * Pure: time only comes in through `nowInMs`, which is expected not to go backwards.
 */
export class SlidingWindowRateLimiter {
  #settings: LimitSettings;
  /** Arrival times of the requests that took a request slot, oldest first. */
  readonly #requestTimes: number[] = [];
  readonly #tokenEntries: TokenEntry[] = [];
  #tokensInWindow = 0;

  constructor(settings: LimitSettings) {
    this.#settings = settings;
  }

  get settings(): LimitSettings {
    return this.#settings;
  }

  set settings(settings: LimitSettings) {
    this.#settings = settings;
  }

  /** Requests allowed per request window (at least one, so tiny limits still let traffic through). */
  get requestCapacity(): number {
    const { requestsPerMinute, requestWindowInMs } = this.#settings;
    return Math.max(1, Math.floor((requestsPerMinute * requestWindowInMs) / 60_000));
  }

  get tokenCapacity(): number {
    const { tokensPerMinute, tokenWindowInMs } = this.#settings;
    return Math.max(1, Math.floor((tokensPerMinute * tokenWindowInMs) / 60_000));
  }

  snapshot(nowInMs: number): RateLimitSnapshot {
    this.#prune(nowInMs);
    return {
      remainingRequests: this.requestCapacity - this.#requestTimes.length,
      remainingTokens: this.tokenCapacity - this.#tokensInWindow,
    };
  }

  tryAdmit(tokens: number, nowInMs: number): AdmissionDecision {
    this.#prune(nowInMs);
    const requestsOk = this.#requestTimes.length < this.requestCapacity;
    const tokensOk = this.#tokensInWindow + tokens <= this.tokenCapacity;
    if (requestsOk && tokensOk) {
      this.#requestTimes.push(nowInMs);
      this.#tokenEntries.push({ atInMs: nowInMs, tokens });
      this.#tokensInWindow += tokens;
      return { admitted: true, ...this.snapshot(nowInMs) };
    }
    this.recordRejected(nowInMs);
    // Computed after the rejection took its slot, so that retrying exactly then succeeds.
    const requestWaitInMs = this.#requestWaitInMs(nowInMs);
    if (tokens > this.tokenCapacity) {
      return {
        admitted: false,
        reason: RejectionReason.tokensBeyondWindowCapacity,
        retryAfterInMs: Math.max(requestWaitInMs, this.#settings.tokenWindowInMs),
        ...this.snapshot(nowInMs),
      };
    }
    const tokenWaitInMs = this.#tokenWaitInMs(tokens, nowInMs);
    return {
      admitted: false,
      reason: tokensOk ? RejectionReason.requests : RejectionReason.tokens,
      retryAfterInMs: Math.max(requestWaitInMs, tokenWaitInMs),
      ...this.snapshot(nowInMs),
    };
  }

  /** A request turned away before admission (a fault 429, a quota 429) still takes a slot when so configured. */
  recordRejected(nowInMs: number): void {
    if (this.#settings.countRejectedRequests) {
      this.#prune(nowInMs);
      this.#requestTimes.push(nowInMs);
    }
  }

  #requestWaitInMs(nowInMs: number): number {
    const excess = this.#requestTimes.length - this.requestCapacity;
    if (excess < 0) {
      return 0;
    }
    // The (excess+1)-th oldest has to leave the window for a slot to open.
    const freeingAtInMs = (this.#requestTimes[excess] as number) + this.#settings.requestWindowInMs;
    return Math.max(0, freeingAtInMs - nowInMs);
  }

  #tokenWaitInMs(tokens: number, nowInMs: number): number {
    let inWindow = this.#tokensInWindow;
    const allowed = this.tokenCapacity - tokens;
    for (const entry of this.#tokenEntries) {
      if (inWindow <= allowed) {
        break;
      }
      inWindow -= entry.tokens;
      if (inWindow <= allowed) {
        return Math.max(0, entry.atInMs + this.#settings.tokenWindowInMs - nowInMs);
      }
    }
    return 0;
  }

  #prune(nowInMs: number): void {
    const { requestWindowInMs, tokenWindowInMs } = this.#settings;
    let expiredRequests = 0;
    while (
      expiredRequests < this.#requestTimes.length &&
      nowInMs - (this.#requestTimes[expiredRequests] as number) >= requestWindowInMs
    ) {
      expiredRequests += 1;
    }
    this.#requestTimes.splice(0, expiredRequests);
    let expiredTokens = 0;
    while (expiredTokens < this.#tokenEntries.length) {
      const entry = this.#tokenEntries[expiredTokens] as TokenEntry;
      if (nowInMs - entry.atInMs < tokenWindowInMs) {
        break;
      }
      this.#tokensInWindow -= entry.tokens;
      expiredTokens += 1;
    }
    this.#tokenEntries.splice(0, expiredTokens);
  }
}
