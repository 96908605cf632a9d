import { createSeededRandom, type RandomSource } from './seededRandom.js';
import type { FaultSettings } from './settings.js';

export const FaultKind = {
  none: 'none',
  dailyQuota: 'daily_quota',
  burst429: 'burst_429',
  serverError: 'server_error',
  hang: 'hang',
} as const;
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind];

export interface FaultDecision {
  /** 1-based position of the request in the planner's sequence. */
  readonly ordinal: number;
  readonly kind: FaultKind;
  /** When set, the response reports this (negative) number of remaining tokens. */
  readonly negativeRemainingTokens: number | null;
  /** In [0, 1): the share of the configured jitter to add to the latency. */
  readonly jitterFraction: number;
}

/**
 * Decides, request by request, which fault (if any) to inject. Every call draws the same number of
 * values from the seeded generator whatever the rates are, so one seed gives one schedule even when
 * rates change mid-run. `serverError` and `hang` only apply to requests the limiter admits.
 */
export class FaultPlanner {
  #settings: FaultSettings;
  #random: RandomSource;
  #ordinal = 0;

  constructor(settings: FaultSettings) {
    this.#settings = settings;
    this.#random = createSeededRandom(settings.seed);
  }

  get settings(): FaultSettings {
    return this.#settings;
  }

  /** A new seed restarts the sequence (ordinal included); other changes keep it going. */
  update(changes: Partial<FaultSettings>): void {
    this.#settings = { ...this.#settings, ...changes };
    if (changes.seed !== undefined) {
      this.#random = createSeededRandom(changes.seed);
      this.#ordinal = 0;
    }
  }

  next(): FaultDecision {
    this.#ordinal += 1;
    const ordinal = this.#ordinal;
    const errorDraw = this.#random();
    const hangDraw = this.#random();
    const negativeDraw = this.#random();
    const negativeMagnitudeDraw = this.#random();
    const jitterFraction = this.#random();
    const settings = this.#settings;

    const negativeRemainingTokens =
      negativeDraw < settings.negativeRemainingTokensRate ? -1 - Math.floor(negativeMagnitudeDraw * 5_000) : null;

    let kind: FaultKind = FaultKind.none;
    if (settings.dailyQuotaOnce) {
      kind = FaultKind.dailyQuota;
      this.#settings = { ...settings, dailyQuotaOnce: false };
    } else if (settings.burst429 !== null && isInBurst(ordinal, settings.burst429.everyN, settings.burst429.length)) {
      kind = FaultKind.burst429;
    } else if (errorDraw < settings.errorRate) {
      kind = FaultKind.serverError;
    } else if (hangDraw < settings.hangRate) {
      kind = FaultKind.hang;
    }
    return { ordinal, kind, negativeRemainingTokens, jitterFraction };
  }
}

/** The last `length` requests of every run of `everyN` (e.g. 10/3 → requests 8, 9, 10, 18, 19, 20, ...). */
function isInBurst(ordinal: number, everyN: number, length: number): boolean {
  return (ordinal - 1) % everyN >= everyN - length;
}
