/**
 * How many endpoint calls an instance keeps under way, from Little's law: calls in flight = rate x
 * latency. The rate is the instance's share of the deployment's budget, the latency a high percentile
 * of what calls recently took, times a headroom factor for the tail. Fast endpoints need few calls
 * and keep a small footprint; slow ones get as many as their budget needs, up to the lowest ceiling
 * (memory, sockets, the operator's setting). Pure: the caller passes the time. See decision 0010.
 */

import { RecentSamples } from './RecentSamples.js';

export const InFlightCeiling = {
  /** The operator's `PHI3_MAX_CONCURRENCY`: an upper bound, no longer the working value. */
  operator: 'operator',
  /** Memory the instance may spend on calls under way, divided by what one call holds. */
  memory: 'memory',
  /** Connections the HTTP client may open to the endpoint. */
  sockets: 'sockets',
} as const;
export type InFlightCeiling = (typeof InFlightCeiling)[keyof typeof InFlightCeiling];

export interface InFlightSizerOptions {
  /** How many of the newest completed calls the latency estimate keeps. */
  readonly sampleSize: number;
  /** Samples older than this are dropped, so a deployment that slows down or speeds up is seen. */
  readonly sampleMaxAgeInMs: number;
  /** The percentile of the kept latencies the calls are sized for, in (0, 1]: e.g. 0.9. */
  readonly percentile: number;
  /** Multiplier on rate x latency, at least 1: room for the tail above the percentile and for bursts. */
  readonly headroom: number;
  /** The latency assumed until a call has completed (and while no sample is recent). */
  readonly initialLatencyInMs: number;
  /** Never fewer calls than this: enough to start work at once and see the endpoint's speed. */
  readonly minimumCalls: number;
  /** Upper bounds; the lowest one binds. Absent ceilings do not apply. */
  readonly ceilings: Readonly<Partial<Record<InFlightCeiling, number>>>;
}

export const DEFAULT_IN_FLIGHT_SIZER_OPTIONS: Omit<InFlightSizerOptions, 'ceilings'> = {
  sampleSize: 200,
  sampleMaxAgeInMs: 5 * 60_000,
  percentile: 0.9,
  headroom: 1.25,
  initialLatencyInMs: 1_000,
  minimumCalls: 4,
};

export interface InFlightDemand {
  /** Calls per second this instance may make: its share of the deployment's budget (see {@link budgetRatePerSecond}). */
  readonly ratePerSecond: number;
  /** Requests per queue message, on average (one message carries up to `QUEUE_MESSAGE_MAX_REQUESTS` lines). */
  readonly requestsPerMessage: number;
  /**
   * How long the oldest call still under way has been running, if any. A call that has not finished
   * yet says the latency is at least that long: without it, the first calls to a slow endpoint would
   * hold the size at the initial guess until one of them ends.
   */
  readonly oldestInFlightAgeInMs?: number;
}

export interface InFlightSize {
  /** Calls to keep under way. */
  readonly calls: number;
  /** Queue messages to hold to feed that many calls: enough for the calls, plus one ready behind them. */
  readonly messages: number;
  /** The latency the size was computed for. */
  readonly latencyInMs: number;
  /** Calls rate x latency x headroom asks for, before the minimum and the ceilings. */
  readonly wantedCalls: number;
  /** The ceiling that cut the size, or null when none did. */
  readonly limitedBy: InFlightCeiling | null;
}

/** Calls per second a share of a deployment's budget allows, for calls of `tokensPerCall` tokens at admission. */
export function budgetRatePerSecond(input: {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
  readonly tokensPerCall: number;
  /** The share of the budget this instance may use, in (0, 1]. */
  readonly share: number;
}): number {
  const byRequests = input.requestsPerMinute / 60;
  const byTokens = input.tokensPerCall > 0 ? input.tokensPerMinute / 60 / input.tokensPerCall : Infinity;
  return Math.min(byRequests, byTokens) * input.share;
}

/**
 * Queue messages an instance needs to hold to keep `calls` calls under way: a message is held from its
 * first line's call to its last line's answer, so its lines are under way together, and one more is
 * ready behind them. Also what a feeder keeping work messages outstanding in the queue can size by:
 * `wantedMessages(ceil(rate x latency x headroom), requestsPerMessage)`.
 */
export function wantedMessages(calls: number, requestsPerMessage: number): number {
  return Math.ceil(Math.max(0, calls) / Math.max(1, requestsPerMessage)) + 1;
}

/** Calls to keep under way for `ratePerSecond` calls a second that take `latencyInMs` (Little's law), times `headroom`. */
export function wantedCalls(ratePerSecond: number, latencyInMs: number, headroom: number): number {
  return Math.max(0, ratePerSecond) * (Math.max(0, latencyInMs) / 1_000) * headroom;
}

/** How many calls fit in `memoryBytes` when each call under way holds about `bytesPerCall`. */
export function memoryCeiling(memoryBytes: number, bytesPerCall: number): number {
  return Math.max(1, Math.floor(memoryBytes / Math.max(1, bytesPerCall)));
}

/** A bad option fails at start-up, naming it. */
export class InFlightSizerOptionsError extends Error {
  override readonly name = 'InFlightSizerOptionsError';
  readonly code = 'invalid_in_flight_sizer_option';

  constructor(option: string, expected: string) {
    super(`Invalid in-flight sizing option \`${option}\`: expected ${expected}`);
  }
}

export class InFlightSizer {
  readonly #options: InFlightSizerOptions;
  readonly #samples: RecentSamples;

  constructor(options: InFlightSizerOptions) {
    const check = (name: string, ok: boolean, expected: string): void => {
      if (!ok) throw new InFlightSizerOptionsError(name, expected);
    };
    check('sampleSize', Number.isInteger(options.sampleSize) && options.sampleSize >= 1, 'an integer from 1 and up');
    check('sampleMaxAgeInMs', options.sampleMaxAgeInMs > 0, 'a number of milliseconds above 0');
    check('percentile', options.percentile > 0 && options.percentile <= 1, 'a number above 0, at most 1');
    check('headroom', options.headroom >= 1, 'a number from 1 and up');
    check('initialLatencyInMs', options.initialLatencyInMs > 0, 'a number of milliseconds above 0');
    check(
      'minimumCalls',
      Number.isInteger(options.minimumCalls) && options.minimumCalls >= 1,
      'an integer from 1 and up',
    );
    for (const [name, value] of Object.entries(options.ceilings)) {
      check(`ceilings.${name}`, Number.isInteger(value) && value >= 1, 'an integer from 1 and up');
    }
    this.#options = options;
    this.#samples = new RecentSamples({ sampleSize: options.sampleSize, maxAgeInMs: options.sampleMaxAgeInMs });
  }

  /** Records how long a completed call held its slot (the endpoint's answer time and what surrounds it). */
  observe(latencyInMs: number, nowInMs: number): void {
    this.#samples.observe(latencyInMs, nowInMs);
  }

  /** The chosen percentile of the recent samples, or undefined when there is none. */
  latencyEstimateInMs(nowInMs: number): number | undefined {
    return this.#samples.percentile(this.#options.percentile, nowInMs);
  }

  size(demand: InFlightDemand, nowInMs: number): InFlightSize {
    const { headroom, initialLatencyInMs, minimumCalls, ceilings } = this.#options;
    const estimate = this.latencyEstimateInMs(nowInMs) ?? initialLatencyInMs;
    const latencyInMs = Math.max(estimate, demand.oldestInFlightAgeInMs ?? 0);
    const wanted = wantedCalls(demand.ratePerSecond, latencyInMs, headroom);
    let calls = Math.max(minimumCalls, Math.ceil(wanted));
    let limitedBy: InFlightCeiling | null = null;
    for (const [name, ceiling] of Object.entries(ceilings) as Array<[InFlightCeiling, number]>) {
      if (ceiling < calls) {
        calls = ceiling;
        limitedBy = name;
      }
    }
    const messages = wantedMessages(calls, demand.requestsPerMessage);
    return { calls, messages, latencyInMs, wantedCalls: wanted, limitedBy };
  }
}
