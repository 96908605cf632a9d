export const SimulatorOutcome = {
  completed: 'completed',
  rateLimited: 'rate_limited',
  dailyQuota: 'daily_quota',
  burst429: 'burst_429',
  serverError: 'server_error',
  hang: 'hang',
  unauthorized: 'unauthorized',
  invalidRequest: 'invalid_request',
  contentFilter: 'content_filter',
  internalError: 'internal_error',
} as const;
export type SimulatorOutcome = (typeof SimulatorOutcome)[keyof typeof SimulatorOutcome];

/** One chat request as the simulator saw it. Times are the simulator clock at arrival. */
export interface SimulatorLogEntry {
  readonly atInMs: number;
  readonly status: number;
  readonly outcome: SimulatorOutcome;
  readonly requestId: string;
  /** Prompt tokens with the chat template; null when the body was not a valid request. */
  readonly promptTokens: number | null;
  readonly maxTokens: number | null;
  /** Tokens charged against the token window at admission (0 when not admitted). */
  readonly admittedTokens: number;
  readonly completionTokens: number;
  /** sha256 (hex) of the canonical JSON of `messages`; null when the body had none. */
  readonly requestHash: string | null;
  /** The `x-ms-client-request-id` request header, when sent: the caller's own id for the call. */
  readonly clientRequestId?: string;
  /** The `x-phi3batch-custom-id` request header, when sent. */
  readonly customIdHeader?: string;
  readonly retryAfterInMs?: number;
  /** The error code sent back, for error responses. */
  readonly errorCode?: string;
  /** Only for `internal_error`: what went wrong inside the simulator. */
  readonly errorMessage?: string;
}

export const LogMetric = {
  requests: 'requests',
  tokens: 'tokens',
} as const;
export type LogMetric = (typeof LogMetric)[keyof typeof LogMetric];

export interface MaxInAnyWindowOptions {
  readonly windowInMs: number;
  /** `requests` counts entries; `tokens` sums `admittedTokens`. */
  readonly metric: LogMetric;
  /** Only entries with one of these statuses; all entries when absent. */
  readonly statuses?: readonly number[];
}

export type SimulatorLogListener = (entry: SimulatorLogEntry) => void;

export class SimulatorLog {
  readonly #entries: SimulatorLogEntry[] = [];
  readonly #listeners = new Set<SimulatorLogListener>();

  append(entry: SimulatorLogEntry): void {
    this.#entries.push(entry);
    for (const listener of this.#listeners) {
      listener(entry);
    }
  }

  /** Called for every entry appended from now on; returns the unsubscribe function. */
  subscribe(listener: SimulatorLogListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  entries(): readonly SimulatorLogEntry[] {
    return [...this.#entries];
  }

  admitted(): readonly SimulatorLogEntry[] {
    return this.#entries.filter((entry) => entry.status === 200);
  }

  rejected429(): readonly SimulatorLogEntry[] {
    return this.#entries.filter((entry) => entry.status === 429);
  }

  /**
   * The largest count (or token sum) over any half-open window `[t, t + windowInMs)`: the same
   * windows the limiter enforces, so budget tests can compare it with the configured capacity.
   */
  maxInAnyWindow(options: MaxInAnyWindowOptions): number {
    const { windowInMs, metric, statuses } = options;
    if (!(windowInMs > 0)) {
      throw new RangeError(`Expected \`windowInMs\` to be a positive number, got ${String(windowInMs)}`);
    }
    const selected = this.#entries
      .filter((entry) => statuses === undefined || statuses.includes(entry.status))
      .sort((a, b) => a.atInMs - b.atInMs);
    const weight = (entry: SimulatorLogEntry): number => (metric === LogMetric.tokens ? entry.admittedTokens : 1);
    let best = 0;
    let inWindow = 0;
    let start = 0;
    for (const entry of selected) {
      inWindow += weight(entry);
      while (entry.atInMs - (selected[start] as SimulatorLogEntry).atInMs >= windowInMs) {
        inWindow -= weight(selected[start] as SimulatorLogEntry);
        start += 1;
      }
      best = Math.max(best, inWindow);
    }
    return best;
  }

  clear(): void {
    this.#entries.length = 0;
  }
}
