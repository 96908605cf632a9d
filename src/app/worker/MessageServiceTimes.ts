import { RecentSamples } from '../../core/RecentSamples.js';
import type { Clock, Timers } from '../ports.js';

/** The percentile of recent service times the work queue's lead is sized for. */
const PERCENTILE = 0.9;

/** One message's service: from its first call (`firstCall`) to its last answer (`end`). */
export interface MessageService {
  firstCall(): void;
  end(): void;
}

export interface MessageServiceTimesOptions {
  readonly clock: Clock;
  /**
   * While messages are in service, `onCheck` is called this often: the oldest one's age says the
   * messages are held long before the first of them ends (a slow endpoint's first answers).
   */
  readonly check?: { readonly timers: Timers; readonly everyInMs: number; readonly onCheck: () => void };
}

/**
 * How long this process's work messages take from their first call to their last answer. A message
 * stays in the work queue (leased) until its slowest line is answered, so with a tail of slow answers
 * it is held well past the calls' typical latency: the feeder's lead must cover that (decision 0012).
 * Time before the first call (waiting for the budget) is not service: a lead sized by it would grow
 * by its own waiting.
 */
export class MessageServiceTimes {
  readonly #options: MessageServiceTimesOptions;
  readonly #samples = new RecentSamples({ sampleSize: 100, maxAgeInMs: 5 * 60_000 });
  /** Messages in service, by a serial number, with their first call's time; in order of starting. */
  readonly #inService = new Map<number, number>();
  #next = 0;
  #timer: unknown;

  constructor(options: MessageServiceTimesOptions) {
    this.#options = options;
  }

  begin(): MessageService {
    const id = this.#next++;
    let started = false;
    return {
      firstCall: () => {
        if (started) return;
        started = true;
        this.#inService.set(id, this.#options.clock.nowInMs());
        this.#scheduleCheck();
      },
      end: () => {
        const startedAtInMs = this.#inService.get(id);
        if (startedAtInMs === undefined) return;
        this.#inService.delete(id);
        const nowInMs = this.#options.clock.nowInMs();
        this.#samples.observe(nowInMs - startedAtInMs, nowInMs);
      },
    };
  }

  /**
   * A high percentile of the recent service times, a message still in service counted at its age so far:
   * a slow endpoint shows before its first message ends, and one message held long (a `low` job's, its
   * lines overtaken by a `high` one's) does not size the lead alone. Undefined before any message had a call.
   */
  estimateInMs(): number | undefined {
    const nowInMs = this.#options.clock.nowInMs();
    const ages = [...this.#inService.values()].map((startedAtInMs) => nowInMs - startedAtInMs);
    return this.#samples.percentile(PERCENTILE, nowInMs, ages);
  }

  #scheduleCheck(): void {
    const check = this.#options.check;
    if (check === undefined || this.#timer !== undefined) return;
    this.#timer = check.timers.setTimeout(() => {
      this.#timer = undefined;
      if (this.#inService.size === 0) return;
      check.onCheck();
      this.#scheduleCheck();
    }, check.everyInMs);
  }
}

/** The longer of two times that may not be known yet. */
export function longestKnown(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}
