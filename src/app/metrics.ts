/**
 * What the app reports about its use of each deployment's budget, as it happens. One instance reports its
 * own figures; the backend adds up the instances. Counts are per call, so a retried line counts each call.
 */

/** How an endpoint call ended, as the latency histogram splits it. */
export const CallResult = {
  succeeded: 'succeeded',
  /** 429: refused by the deployment's rate limit (it still counts against the budget). */
  throttled: 'throttled',
  /** Any other error status. */
  failed: 'failed',
  /** Our time limit passed first: the endpoint may have finished and billed the call. */
  timedOut: 'timed_out',
  network: 'network',
} as const;
export type CallResult = (typeof CallResult)[keyof typeof CallResult];

export const LineResult = {
  succeeded: 'succeeded',
  failed: 'failed',
} as const;
export type LineResult = (typeof LineResult)[keyof typeof LineResult];

export interface DeploymentLimits {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
}

export interface Metrics {
  /** The deployment's limits, so that use can be shown against them. Set at start-up and when they change. */
  setDeploymentLimits(deployment: string, limits: DeploymentLimits): void;
  /** A call the budget admitted and sent, with the tokens it is charged at admission (prompt + max_tokens). */
  recordAdmission(deployment: string, tokens: number): void;
  /** A call answered 429 by the endpoint. */
  recordThrottled(deployment: string): void;
  /** A call left for the endpoint: one more in flight until {@link callEnded}. */
  callStarted(deployment: string): void;
  /** A call came back (whatever the result), `durationInMs` after it left. */
  callEnded(deployment: string, durationInMs: number, result: CallResult): void;
  /** What the in-flight sizing chose for this instance: the calls it keeps under way and the latency it sized for. */
  setInFlightTarget(deployment: string, calls: number, latencyInMs: number): void;
  /** Messages waiting in a queue, as last seen. */
  setQueueDepth(queue: string, depth: number): void;
  /** Lines whose outcome became final. */
  recordLines(count: number, result: LineResult): void;
}

/** Metrics that go nowhere: the default when no backend is configured. */
export const noMetrics: Metrics = {
  setDeploymentLimits: () => undefined,
  recordAdmission: () => undefined,
  recordThrottled: () => undefined,
  callStarted: () => undefined,
  callEnded: () => undefined,
  setInFlightTarget: () => undefined,
  setQueueDepth: () => undefined,
  recordLines: () => undefined,
};
