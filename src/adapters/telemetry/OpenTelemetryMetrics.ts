import type { Attributes, Counter, Gauge, Histogram, Meter, UpDownCounter } from '@opentelemetry/api';
import type { CallResult, DeploymentLimits, LineResult, Metrics } from '../../app/ports.js';

/** Instrument names, as they appear in Application Insights' `customMetrics` (see docs/metrics.md). */
export const MetricName = {
  limitRequestsPerMinute: 'phi3batch.deployment.limit.requests_per_minute',
  limitTokensPerMinute: 'phi3batch.deployment.limit.tokens_per_minute',
  admittedRequests: 'phi3batch.endpoint.admitted.requests',
  admittedTokens: 'phi3batch.endpoint.admitted.tokens',
  throttled: 'phi3batch.endpoint.throttled',
  inFlight: 'phi3batch.endpoint.in_flight',
  duration: 'phi3batch.endpoint.duration',
  inFlightTarget: 'phi3batch.endpoint.in_flight.target',
  latencyTarget: 'phi3batch.endpoint.latency.sized_for',
  queueDepth: 'phi3batch.queue.depth',
  lines: 'phi3batch.lines',
  budgetAlerts: 'phi3batch.budget.alerts',
} as const;

/** Bucket bounds of the call-duration histogram, in ms: from a 20 ms answer to a 10-minute generation. */
export const DURATION_BUCKETS_IN_MS: readonly number[] = [
  20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000, 120_000, 300_000, 600_000,
];

/** The {@link Metrics} port over an OpenTelemetry `Meter`: whatever exporter its provider has (Azure Monitor, OTLP, memory). */
export class OpenTelemetryMetrics implements Metrics {
  readonly #limitRequests: Gauge;
  readonly #limitTokens: Gauge;
  readonly #admittedRequests: Counter;
  readonly #admittedTokens: Counter;
  readonly #throttled: Counter;
  readonly #inFlight: UpDownCounter;
  readonly #duration: Histogram;
  readonly #inFlightTarget: Gauge;
  readonly #latencyTarget: Gauge;
  readonly #queueDepth: Gauge;
  readonly #lines: Counter;
  readonly #budgetAlerts: Counter;

  constructor(meter: Meter) {
    this.#limitRequests = meter.createGauge(MetricName.limitRequestsPerMinute, {
      description: "The deployment's requests-per-minute limit",
      unit: '{request}/min',
    });
    this.#limitTokens = meter.createGauge(MetricName.limitTokensPerMinute, {
      description: "The deployment's tokens-per-minute limit",
      unit: '{token}/min',
    });
    this.#admittedRequests = meter.createCounter(MetricName.admittedRequests, {
      description: 'Calls admitted by the budget and sent to the endpoint',
      unit: '{request}',
    });
    this.#admittedTokens = meter.createCounter(MetricName.admittedTokens, {
      description: 'Tokens charged at admission (prompt + max_tokens) of the calls sent',
      unit: '{token}',
    });
    this.#throttled = meter.createCounter(MetricName.throttled, {
      description: 'Calls answered 429',
      unit: '{response}',
    });
    this.#inFlight = meter.createUpDownCounter(MetricName.inFlight, { description: 'Calls under way', unit: '{call}' });
    this.#duration = meter.createHistogram(MetricName.duration, {
      description: 'Time from sending a call to its answer',
      unit: 'ms',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_IN_MS] },
    });
    this.#inFlightTarget = meter.createGauge(MetricName.inFlightTarget, {
      description: 'Calls the instance keeps under way, as sized for the latency it sees',
      unit: '{call}',
    });
    this.#latencyTarget = meter.createGauge(MetricName.latencyTarget, {
      description: 'The call latency (a high percentile) the in-flight size was computed for',
      unit: 'ms',
    });
    this.#queueDepth = meter.createGauge(MetricName.queueDepth, {
      description: 'Messages waiting in the queue',
      unit: '{message}',
    });
    this.#lines = meter.createCounter(MetricName.lines, {
      description: 'Lines whose outcome became final',
      unit: '{line}',
    });
    this.#budgetAlerts = meter.createCounter(MetricName.budgetAlerts, {
      description: 'Spending budgets that reached an alert threshold, by budget and threshold',
      unit: '{alert}',
    });
  }

  setDeploymentLimits(deployment: string, limits: DeploymentLimits): void {
    const attributes = { deployment };
    this.#limitRequests.record(limits.requestsPerMinute, attributes);
    this.#limitTokens.record(limits.tokensPerMinute, attributes);
  }

  recordAdmission(deployment: string, tokens: number): void {
    const attributes = { deployment };
    this.#admittedRequests.add(1, attributes);
    this.#admittedTokens.add(tokens, attributes);
  }

  recordThrottled(deployment: string): void {
    this.#throttled.add(1, { deployment });
  }

  callStarted(deployment: string): void {
    this.#inFlight.add(1, { deployment });
  }

  callEnded(deployment: string, durationInMs: number, result: CallResult): void {
    this.#inFlight.add(-1, { deployment });
    const attributes: Attributes = { deployment, result };
    this.#duration.record(durationInMs, attributes);
  }

  setInFlightTarget(deployment: string, calls: number, latencyInMs: number): void {
    this.#inFlightTarget.record(calls, { deployment });
    this.#latencyTarget.record(latencyInMs, { deployment });
  }

  setQueueDepth(queue: string, depth: number): void {
    this.#queueDepth.record(depth, { queue });
  }

  recordLines(count: number, result: LineResult): void {
    this.#lines.add(count, { result });
  }

  recordBudgetAlert(budget: string, thresholdPercent: number): void {
    this.#budgetAlerts.add(1, { budget, threshold: thresholdPercent });
  }
}
