/**
 * Time limits for endpoint calls that fit the generation they ask for, and how many times a call
 * that timed out may be tried again. A time limit on our side does not stop the endpoint generating
 * or billing: a call cut off while it was making progress is paid for and produces nothing. So a
 * limit follows what the call asked for (`max_tokens`) at the speed the deployment is measured to
 * generate, and a retry after a timeout is bounded by what it may cost. Pure. See decision 0010.
 */

/** A deployment's measured speed: latency ~ firstTokenInMs + perTokenInMs x completion tokens. */
export interface GenerationSpeedEstimate {
  readonly firstTokenInMs: number;
  readonly perTokenInMs: number;
  /**
   * The longest the first token is known to take: the fit's first-token time when the fit separates it,
   * else the slowest 90% of whole answer times (the first token came before the answer's end).
   */
  readonly firstTokenAtMostInMs?: number;
  /** Completed calls the estimate is based on. */
  readonly samples: number;
}

interface SpeedSample {
  readonly atInMs: number;
  readonly completionTokens: number;
  readonly durationInMs: number;
}

export interface GenerationSpeedOptions {
  readonly sampleSize: number;
  readonly sampleMaxAgeInMs: number;
  /** No estimate from fewer calls than this. */
  readonly minimumSamples: number;
}

export const DEFAULT_GENERATION_SPEED_OPTIONS: GenerationSpeedOptions = {
  sampleSize: 200,
  sampleMaxAgeInMs: 10 * 60_000,
  minimumSamples: 5,
};

/**
 * Fits latency = a + b x tokens over the recent successful calls (least squares). When the answers are
 * all about the same length the fit cannot separate a from b: then the whole time is taken as per-token
 * time (a = 0, b = the slowest 90% of duration / tokens), which overstates a long answer's time: safe.
 */
export class GenerationSpeed {
  readonly #options: GenerationSpeedOptions;
  readonly #samples: SpeedSample[] = [];
  #next = 0;

  constructor(options: GenerationSpeedOptions = DEFAULT_GENERATION_SPEED_OPTIONS) {
    this.#options = options;
  }

  observe(completionTokens: number, durationInMs: number, nowInMs: number): void {
    if (!(completionTokens >= 0) || !(durationInMs >= 0)) return;
    const sample = { atInMs: nowInMs, completionTokens, durationInMs };
    if (this.#samples.length < this.#options.sampleSize) this.#samples.push(sample);
    else this.#samples[this.#next] = sample;
    this.#next = (this.#next + 1) % this.#options.sampleSize;
  }

  estimate(nowInMs: number): GenerationSpeedEstimate | undefined {
    const recent = this.#samples.filter((s) => nowInMs - s.atInMs <= this.#options.sampleMaxAgeInMs);
    if (recent.length < this.#options.minimumSamples) return undefined;
    const n = recent.length;
    const meanTokens = recent.reduce((sum, s) => sum + s.completionTokens, 0) / n;
    const meanDuration = recent.reduce((sum, s) => sum + s.durationInMs, 0) / n;
    let covariance = 0;
    let variance = 0;
    for (const s of recent) {
      covariance += (s.completionTokens - meanTokens) * (s.durationInMs - meanDuration);
      variance += (s.completionTokens - meanTokens) ** 2;
    }
    const slope = variance > 0 ? covariance / variance : 0;
    const intercept = meanDuration - slope * meanTokens;
    // A usable fit needs answers of different lengths (spread of at least a tenth of the mean) and positive terms.
    if (Math.sqrt(variance / n) >= Math.max(1, meanTokens / 10) && slope > 0 && intercept >= 0) {
      return { firstTokenInMs: intercept, perTokenInMs: slope, firstTokenAtMostInMs: intercept, samples: n };
    }
    const p90 = (values: number[]): number => values.sort((a, b) => a - b)[Math.ceil(0.9 * n) - 1] ?? 0;
    return {
      firstTokenInMs: 0,
      perTokenInMs: p90(recent.map((s) => s.durationInMs / Math.max(1, s.completionTokens))),
      firstTokenAtMostInMs: p90(recent.map((s) => s.durationInMs)),
      samples: n,
    };
  }
}

export interface CallTimeLimitOptions {
  /** The measured times are multiplied by this (at least 1): room for the latency tail. */
  readonly margin: number;
  /**
   * The slowest generation planned for, in tokens per second: the limit before any measurement, and the
   * longest a limit can get (a deployment slower than this is treated as stalled).
   */
  readonly floorTokensPerSecond: number;
  /** Time to first token planned for before any measurement, and at most. */
  readonly maxFirstTokenInMs: number;
  /** No limit is shorter than this. */
  readonly minimumInMs: number;
}

export const DEFAULT_CALL_TIME_LIMIT_OPTIONS: CallTimeLimitOptions = {
  margin: 2,
  floorTokensPerSecond: 5,
  maxFirstTokenInMs: 30_000,
  minimumInMs: 30_000,
};

/**
 * The time limit of an unstreamed call that may write up to `maxTokens` tokens (for a request
 * without `max_tokens`, pass what the context leaves after the prompt):
 * `max(minimum, min(margin x (first token + maxTokens x per-token time), at the floor speed))`,
 * where the floor speed's limit is `maxFirstTokenInMs + maxTokens / floorTokensPerSecond`. Each
 * earlier timeout of the same line doubles it (up to the floor speed's limit): a limit that was too
 * short is not repeated.
 */
export function callTimeLimitInMs(
  maxTokens: number,
  estimate: GenerationSpeedEstimate | undefined,
  options: CallTimeLimitOptions = DEFAULT_CALL_TIME_LIMIT_OPTIONS,
  earlierTimeouts = 0,
): number {
  const atFloorSpeed = options.maxFirstTokenInMs + (maxTokens * 1_000) / options.floorTokensPerSecond;
  const measured =
    estimate === undefined
      ? atFloorSpeed
      : options.margin *
        (estimate.firstTokenInMs + maxTokens * estimate.perTokenInMs) *
        2 ** Math.max(0, earlierTimeouts);
  return Math.ceil(Math.max(options.minimumInMs, Math.min(measured, atFloorSpeed)));
}

export interface StreamTimeLimits {
  /** Until the first chunk (the time to first token). */
  readonly firstChunkInMs: number;
  /** Between two chunks: a stream that keeps sending is never cut off, however long it takes. */
  readonly idleInMs: number;
}

/**
 * Idle limits for a streamed call: margin x the measured times, at least `minimumIdleInMs`. The first
 * chunk gets margin x the longest the first token is known to take (`firstTokenAtMostInMs`), taken at
 * most `maxFirstTokenInMs` (and that before any measurement): a fit that cannot tell the first token from
 * the rest must not leave the first chunk only the idle minimum. It never gets less than
 * `maxFirstTokenInMs` itself: the first answers measured are the fastest (the slow ones are still under
 * way), and cutting a call before its first token costs a billed call, where waiting costs a slot.
 */
export function streamTimeLimits(
  estimate: GenerationSpeedEstimate | undefined,
  options: CallTimeLimitOptions & { readonly minimumIdleInMs: number } = {
    ...DEFAULT_CALL_TIME_LIMIT_OPTIONS,
    minimumIdleInMs: 10_000,
  },
): StreamTimeLimits {
  const firstToken =
    options.margin *
    (estimate === undefined
      ? options.maxFirstTokenInMs
      : Math.min(options.maxFirstTokenInMs, estimate.firstTokenAtMostInMs ?? estimate.firstTokenInMs));
  const slowestTokenInMs = 1_000 / options.floorTokensPerSecond;
  const perToken =
    estimate === undefined ? slowestTokenInMs : Math.min(slowestTokenInMs, options.margin * estimate.perTokenInMs);
  return {
    firstChunkInMs: Math.ceil(Math.max(options.minimumIdleInMs, options.maxFirstTokenInMs, firstToken)),
    // A chunk can carry a few tokens: allow for eight at the per-token time.
    idleInMs: Math.ceil(Math.max(options.minimumIdleInMs, 8 * perToken)),
  };
}

export interface TimeoutRetryBudget {
  /** What one attempt may cost at most (prompt tokens + max_tokens at the deployment's prices), in nanodollars. */
  readonly worstCaseAttemptInNanos: number;
  /** The most a line may spend on attempts whose bill we never saw (timed out), in nanodollars. */
  readonly unconfirmedSpendLimitInNanos: number;
  /** The retry policy's attempts: a timeout budget never allows more. */
  readonly maxAttempts: number;
}

/**
 * How many timed-out attempts a line may have in all: a timed-out call is counted as billed at its
 * worst case (the endpoint finished it and billed it, we just never saw the answer), so only as many
 * as fit in the line's unconfirmed-spend limit, at least 1 (the first attempt is always made) and at
 * most `maxAttempts`.
 */
export function timedOutAttemptsAllowed(budget: TimeoutRetryBudget): number {
  const affordable =
    budget.worstCaseAttemptInNanos > 0
      ? Math.floor(budget.unconfirmedSpendLimitInNanos / budget.worstCaseAttemptInNanos)
      : budget.maxAttempts;
  return Math.max(1, Math.min(budget.maxAttempts, affordable));
}

/** Whether a line whose calls have timed out `timedOutAttempts` times may be tried again. */
export function mayRetryAfterTimeout(timedOutAttempts: number, budget: TimeoutRetryBudget): boolean {
  return timedOutAttempts < timedOutAttemptsAllowed(budget);
}

/** Whether calls are streamed: `auto` streams those an unstreamed limit could cut (see {@link shouldStream}). */
export const StreamMode = { auto: 'auto', always: 'always', never: 'never' } as const;
export type StreamMode = (typeof StreamMode)[keyof typeof StreamMode];

/**
 * A plain call's limit must be at least this many times its measured time (the margin included): the
 * first answers measured are the fastest ones (the slow ones are still under way), so a limit only just
 * above the measurement would cut the tail.
 */
export const PLAIN_CALL_HEADROOM = 4;

/**
 * Whether a call that may write `maxTokens` tokens is streamed. `auto` streams when an unstreamed limit
 * could cut a generation still making progress: before the deployment's speed is measured (the limit is
 * a guess), when its limit is less than {@link PLAIN_CALL_HEADROOM} x margin x the measured time (which
 * includes a deployment slower than the floor speed, whose limit is capped), and after a timeout of the
 * same line (its limit proved too short). A deployment measured fast keeps plain calls.
 */
export function shouldStream(
  mode: StreamMode,
  maxTokens: number,
  estimate: GenerationSpeedEstimate | undefined,
  options: CallTimeLimitOptions = DEFAULT_CALL_TIME_LIMIT_OPTIONS,
  earlierTimeouts = 0,
): boolean {
  if (mode !== StreamMode.auto) return mode === StreamMode.always;
  if (estimate === undefined || earlierTimeouts > 0) return true;
  const measured = options.margin * (estimate.firstTokenInMs + maxTokens * estimate.perTokenInMs);
  return PLAIN_CALL_HEADROOM * measured > callTimeLimitInMs(maxTokens, estimate, options);
}
