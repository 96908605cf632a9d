import {
  callTimeLimitInMs,
  GenerationSpeed,
  shouldStream,
  StreamMode,
  streamTimeLimits,
  timedOutAttemptsAllowed,
  type CallTimeLimitOptions,
  type StreamTimeLimits,
} from '../../core/callTimeout.js';
import {
  CallResult,
  ChatCallError,
  ConnectionError,
  RateLimitedError,
  TimeoutError,
  type Clock,
  type Metrics,
} from '../ports.js';
import type { AdaptiveCallSlots } from './AdaptiveCallSlots.js';
import type { ChatAnswer } from './sendAttempt.js';

/** What the worker tells about its endpoint calls, and the time limit it gives each. */
export interface EndpointCalls {
  /** A call admitted by the budget and about to leave, charged `tokens` at admission (prompt + max_tokens). */
  admitted(deployment: string, tokens: number): void;
  /** A call leaves; the returned function takes its answer (or typed error), or undefined if it was abandoned. */
  started(deployment: string): (answer: ChatAnswer | undefined) => void;
  /**
   * The time limit of a call that may write `maxTokens` tokens, for a line whose calls timed out
   * `earlierTimeouts` times already; undefined: the client's own limit.
   */
  timeLimitInMs(deployment: string, maxTokens: number, earlierTimeouts: number): number | undefined;
  /**
   * How the call is made: streamed with idle limits (a generation that keeps sending is never cut off),
   * or whole with {@link timeLimitInMs}; absent both, the client's own limit.
   */
  callLimits(deployment: string, maxTokens: number, earlierTimeouts: number): CallLimits;
  /**
   * How many timed-out attempts a line may have in all, when one attempt may cost `worstCaseInNanos`
   * (prompt + max_tokens at the deployment's prices): a timed-out call was most likely billed.
   */
  timedOutAttemptsAllowed(worstCaseInNanos: number, maxAttempts: number): number;
}

/** A call's limits: a streamed call's idle limits, a whole call's time limit (also a streamed call's fallback), or neither (the client's own). */
export interface CallLimits {
  readonly timeoutInMs?: number;
  readonly stream?: StreamTimeLimits;
}

export interface EndpointCallsOptions {
  readonly clock: Clock;
  readonly metrics: Metrics;
  /** The adaptive call slots to feed with each call's latency, if the calls are sized. */
  readonly slots?: AdaptiveCallSlots;
  /** Time limits that fit the generation; absent, calls keep the client's fixed limit. */
  readonly timeLimits?: CallTimeLimitOptions;
  /** Which calls are streamed (`PHI3_STREAM`); only with `timeLimits`. `never` when absent. */
  readonly streamMode?: StreamMode;
  /** What a line may spend on calls that timed out (billed, unseen), in nanodollars. */
  readonly unconfirmedSpendPerLineInNanos: number;
}

/** The shortest wait for a streamed call's next chunk: a pause of a few seconds is not a stall. */
const STREAM_MINIMUM_IDLE_IN_MS = 10_000;

/** How a call ended, as the metrics split it. */
export function callResultOf(answer: ChatAnswer | undefined): CallResult {
  if (answer === undefined) return CallResult.failed;
  if (!(answer instanceof ChatCallError)) return CallResult.succeeded;
  if (answer instanceof RateLimitedError) return CallResult.throttled;
  if (answer instanceof TimeoutError) return CallResult.timedOut;
  if (answer instanceof ConnectionError) return CallResult.network;
  return CallResult.failed;
}

/**
 * The worker's view of its endpoint calls (decision 0010): each call's latency feeds the call slots'
 * sizing, each completion the deployment's measured generation speed, which sets the next calls' time
 * limits; all of it is reported to `metrics`.
 */
export class WatchedEndpointCalls implements EndpointCalls {
  readonly #options: EndpointCallsOptions;
  readonly #speeds = new Map<string, GenerationSpeed>();

  constructor(options: EndpointCallsOptions) {
    this.#options = options;
  }

  admitted(deployment: string, tokens: number): void {
    this.#options.metrics.recordAdmission(deployment, tokens);
  }

  started(deployment: string): (answer: ChatAnswer | undefined) => void {
    const { clock, metrics, slots } = this.#options;
    const startedAtInMs = clock.nowInMs();
    metrics.callStarted(deployment);
    const slotCall = slots?.callStarted();
    return (answer) => {
      const nowInMs = clock.nowInMs();
      slotCall?.();
      const result = callResultOf(answer);
      metrics.callEnded(deployment, nowInMs - startedAtInMs, result);
      if (result === CallResult.throttled) metrics.recordThrottled(deployment);
      if (answer !== undefined && !(answer instanceof ChatCallError)) {
        this.#speedOf(deployment).observe(answer.usage.completionTokens, answer.latencyInMs, nowInMs);
      }
    };
  }

  timeLimitInMs(deployment: string, maxTokens: number, earlierTimeouts: number): number | undefined {
    const { timeLimits, clock } = this.#options;
    if (timeLimits === undefined) return undefined;
    const estimate = this.#speedOf(deployment).estimate(clock.nowInMs());
    return callTimeLimitInMs(maxTokens, estimate, timeLimits, earlierTimeouts);
  }

  callLimits(deployment: string, maxTokens: number, earlierTimeouts: number): CallLimits {
    const { timeLimits, clock, streamMode = StreamMode.never } = this.#options;
    if (timeLimits === undefined) return {};
    const estimate = this.#speedOf(deployment).estimate(clock.nowInMs());
    if (shouldStream(streamMode, maxTokens, estimate, timeLimits, earlierTimeouts)) {
      // The whole-answer limit goes along: it is the call's limit if the endpoint refuses to stream.
      return {
        stream: streamTimeLimits(estimate, { ...timeLimits, minimumIdleInMs: STREAM_MINIMUM_IDLE_IN_MS }),
        timeoutInMs: callTimeLimitInMs(maxTokens, estimate, timeLimits, earlierTimeouts),
      };
    }
    return { timeoutInMs: callTimeLimitInMs(maxTokens, estimate, timeLimits, earlierTimeouts) };
  }

  timedOutAttemptsAllowed(worstCaseInNanos: number, maxAttempts: number): number {
    return timedOutAttemptsAllowed({
      worstCaseAttemptInNanos: worstCaseInNanos,
      unconfirmedSpendLimitInNanos: this.#options.unconfirmedSpendPerLineInNanos,
      maxAttempts,
    });
  }

  #speedOf(deployment: string): GenerationSpeed {
    let speed = this.#speeds.get(deployment);
    if (speed === undefined) {
      speed = new GenerationSpeed();
      this.#speeds.set(deployment, speed);
    }
    return speed;
  }
}
