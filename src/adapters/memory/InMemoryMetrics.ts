import type { CallResult, DeploymentLimits, LineResult, Metrics } from '../../app/ports.js';

/** One deployment's figures since the start. */
export interface DeploymentMetricsSnapshot {
  readonly limits: DeploymentLimits | undefined;
  readonly admittedRequests: number;
  readonly admittedTokens: number;
  readonly throttled: number;
  readonly inFlight: number;
  /** Calls that came back, by result. */
  readonly callsByResult: Readonly<Partial<Record<CallResult, number>>>;
  readonly durationSumInMs: number;
  readonly inFlightTarget: number | undefined;
  readonly latencySizedForInMs: number | undefined;
}

export interface MetricsSnapshot {
  readonly deployments: Readonly<Record<string, DeploymentMetricsSnapshot>>;
  readonly queueDepths: Readonly<Record<string, number>>;
  readonly lines: Readonly<Partial<Record<LineResult, number>>>;
  /** Budget alerts, by `<budget>|<threshold>`. */
  readonly budgetAlerts: Readonly<Record<string, number>>;
}

interface DeploymentState {
  limits: DeploymentLimits | undefined;
  admittedRequests: number;
  admittedTokens: number;
  throttled: number;
  inFlight: number;
  callsByResult: Partial<Record<CallResult, number>>;
  durationSumInMs: number;
  durations: number[];
  inFlightTarget: number | undefined;
  latencySizedForInMs: number | undefined;
}

/** The {@link Metrics} port in memory: for tests, and for figures a single process shows about itself. */
export class InMemoryMetrics implements Metrics {
  readonly #deployments = new Map<string, DeploymentState>();
  readonly #queueDepths = new Map<string, number>();
  readonly #lines: Partial<Record<LineResult, number>> = {};
  readonly #budgetAlerts = new Map<string, number>();
  /** Durations kept per deployment for percentiles: the newest this many. */
  readonly #maxDurations: number;

  constructor(options: { readonly maxDurationsKept?: number } = {}) {
    this.#maxDurations = options.maxDurationsKept ?? 10_000;
  }

  #deployment(name: string): DeploymentState {
    let state = this.#deployments.get(name);
    if (state === undefined) {
      state = {
        limits: undefined,
        admittedRequests: 0,
        admittedTokens: 0,
        throttled: 0,
        inFlight: 0,
        callsByResult: {},
        durationSumInMs: 0,
        durations: [],
        inFlightTarget: undefined,
        latencySizedForInMs: undefined,
      };
      this.#deployments.set(name, state);
    }
    return state;
  }

  setDeploymentLimits(deployment: string, limits: DeploymentLimits): void {
    this.#deployment(deployment).limits = { ...limits };
  }

  recordAdmission(deployment: string, tokens: number): void {
    const state = this.#deployment(deployment);
    state.admittedRequests += 1;
    state.admittedTokens += tokens;
  }

  recordThrottled(deployment: string): void {
    this.#deployment(deployment).throttled += 1;
  }

  callStarted(deployment: string): void {
    this.#deployment(deployment).inFlight += 1;
  }

  callEnded(deployment: string, durationInMs: number, result: CallResult): void {
    const state = this.#deployment(deployment);
    state.inFlight -= 1;
    state.callsByResult[result] = (state.callsByResult[result] ?? 0) + 1;
    state.durationSumInMs += durationInMs;
    state.durations.push(durationInMs);
    if (state.durations.length > this.#maxDurations) state.durations.shift();
  }

  setInFlightTarget(deployment: string, calls: number, latencyInMs: number): void {
    const state = this.#deployment(deployment);
    state.inFlightTarget = calls;
    state.latencySizedForInMs = latencyInMs;
  }

  setQueueDepth(queue: string, depth: number): void {
    this.#queueDepths.set(queue, depth);
  }

  recordLines(count: number, result: LineResult): void {
    this.#lines[result] = (this.#lines[result] ?? 0) + count;
  }

  recordBudgetAlert(budget: string, thresholdPercent: number): void {
    const key = `${budget}|${thresholdPercent}`;
    this.#budgetAlerts.set(key, (this.#budgetAlerts.get(key) ?? 0) + 1);
  }

  /** The `p` quantile (0-1) of the kept call durations of a deployment, or undefined before any call. */
  durationPercentileInMs(deployment: string, p: number): number | undefined {
    const sorted = [...(this.#deployments.get(deployment)?.durations ?? [])].sort((a, b) => a - b);
    if (sorted.length === 0) return undefined;
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  }

  snapshot(): MetricsSnapshot {
    const deployments: Record<string, DeploymentMetricsSnapshot> = {};
    for (const [name, state] of this.#deployments) {
      const { durations: _durations, ...figures } = state;
      deployments[name] = { ...figures, callsByResult: { ...state.callsByResult } };
    }
    return {
      deployments,
      queueDepths: Object.fromEntries(this.#queueDepths),
      lines: { ...this.#lines },
      budgetAlerts: Object.fromEntries(this.#budgetAlerts),
    };
  }
}
