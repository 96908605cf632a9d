import { FairWaitingLine, type FairTurn } from '../../core/FairWaitingLine.js';
import type { InFlightSize, InFlightSizer } from '../../core/InFlightSizer.js';
import type { Clock, Timers } from '../ports.js';

export interface AdaptiveCallSlotsOptions {
  readonly sizer: InFlightSizer;
  readonly clock: Clock;
  /** Calls per second this process may make, all deployments together (`budgetRatePerSecond` of each). */
  readonly ratePerSecond: number;
  /** Requests a queue message carries, on average: how many messages feed the calls (`InFlightSize.messages`). */
  readonly requestsPerMessage: number;
  /**
   * Slots on top of the sized endpoint calls: calls written ahead and waiting for their deployment's budget
   * (the admission slots). Their wait is not endpoint latency: counting it in would size for itself.
   */
  readonly extraSlots: number;
  /** Told each time the size changes (for the in-flight target metric). */
  readonly onResize?: (size: InFlightSize) => void;
  /**
   * While lines wait for a slot and no call ends, the size is looked at again this often: the age of the
   * oldest call says a slow endpoint is slow before its first answer. Only while something waits.
   */
  readonly recheck?: { readonly timers: Timers; readonly everyInMs: number };
}

/** What a task gives back instead of running when it waited longer than it may for a slot. */
export interface SlotWaitLimit<T> {
  readonly afterInMs: number;
  readonly value: () => T;
}

interface Waiting {
  /** Hands the slot over (true), or tells the task it gave up waiting (false). */
  readonly resume: (granted: boolean) => void;
  readonly sinceInMs: number;
  readonly maxWaitInMs: number;
}

/**
 * The process's call slots, sized to the endpoint's observed latency (decision 0010): a slot covers a
 * line from its write-ahead to its answer, and the number of slots is `InFlightSizer`'s size for the
 * endpoint calls, plus the admission slots. The latency fed to the sizer is the endpoint's alone (from
 * {@link callStarted} to its end), so time spent waiting for the budget never grows the size.
 * Shrinking never cuts a call short: slots above the new size are not handed out again when they free.
 * A task may bound its wait: the host lends an instance more queue messages than its calls need, and
 * their lines must not wait past the function's time limit; they go back to the queue instead.
 * Waiting tasks get their slots in weighted fair order by their job's priority (decision 0012): a `high`
 * job's lines that arrive behind a `low` job's do not wait for all of them.
 */
export class AdaptiveCallSlots {
  readonly #options: AdaptiveCallSlotsOptions;
  readonly #waiting = new FairWaitingLine<Waiting>();
  /** Endpoint calls under way, by a serial number, with the time each left; in order of leaving. */
  readonly #calls = new Map<number, number>();
  #nextCall = 0;
  #active = 0;
  #size: InFlightSize;
  #recheckTimer: unknown;

  constructor(options: AdaptiveCallSlotsOptions) {
    this.#options = options;
    this.#size = this.#sizeNow();
    options.onResize?.(this.#size);
  }

  /** The current size (recomputed as calls start and end). */
  get size(): InFlightSize {
    return this.#size;
  }

  /** Slots handed out: at most the size's calls plus the extra slots. */
  get capacity(): number {
    return this.#size.calls + this.#options.extraSlots;
  }

  get active(): number {
    return this.#active;
  }

  get pending(): number {
    return this.#waiting.length;
  }

  /** Waiting lines of jobs lighter than the heaviest job waiting: they wait while its lines overtake them. */
  get overtaken(): number {
    return this.#waiting.overtaken();
  }

  /** Waiters without a turn of their own share one. */
  static readonly anyTurn: FairTurn = { key: '', weight: 1 };

  /**
   * Runs `task` in a slot, waiting for one if all are taken (in fair order by `turn`); with `waitLimit`,
   * gives `waitLimit.value()` instead once it has waited `afterInMs` (checked when the size is looked at
   * again, about every second).
   */
  async run<T>(
    task: () => Promise<T>,
    waitLimit?: SlotWaitLimit<T>,
    turn: FairTurn = AdaptiveCallSlots.anyTurn,
  ): Promise<T> {
    // A slow endpoint shows before its first answer (the oldest call's age): resize before waiting.
    if (this.#active >= this.capacity) this.#resize();
    if (this.#active >= this.capacity) {
      const granted = new Promise<boolean>((resume) =>
        this.#waiting.push(
          {
            resume,
            sinceInMs: this.#options.clock.nowInMs(),
            maxWaitInMs: waitLimit?.afterInMs ?? Number.POSITIVE_INFINITY,
          },
          turn,
        ),
      );
      this.#scheduleRecheck();
      if (!(await granted)) return waitLimit!.value();
    } else {
      this.#active += 1;
    }
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  /** An endpoint call leaves; call the returned function when its answer (or error) is back. */
  callStarted(): () => void {
    const id = this.#nextCall++;
    const startedAtInMs = this.#options.clock.nowInMs();
    this.#calls.set(id, startedAtInMs);
    return () => {
      if (!this.#calls.delete(id)) return;
      const nowInMs = this.#options.clock.nowInMs();
      this.#options.sizer.observe(nowInMs - startedAtInMs, nowInMs);
      this.#resize();
    };
  }

  #release(): void {
    this.#active -= 1;
    this.#handOut();
  }

  /** Hands free slots to waiting tasks, up to the current capacity. */
  #handOut(): void {
    while (this.#active < this.capacity && this.#waiting.length > 0) {
      this.#active += 1;
      this.#waiting.shift()!.resume(true);
    }
  }

  /** Tasks that have waited longer than they may leave the line, without a slot. */
  #expireWaits(): void {
    const nowInMs = this.#options.clock.nowInMs();
    const expired = this.#waiting.remove((waiting) => nowInMs - waiting.sinceInMs >= waiting.maxWaitInMs);
    for (const waiting of expired) waiting.resume(false);
  }

  #scheduleRecheck(): void {
    const recheck = this.#options.recheck;
    if (recheck === undefined || this.#recheckTimer !== undefined) return;
    this.#recheckTimer = recheck.timers.setTimeout(() => {
      this.#recheckTimer = undefined;
      this.#resize();
      this.#expireWaits();
      if (this.#waiting.length > 0) this.#scheduleRecheck();
    }, recheck.everyInMs);
  }

  /** Recomputes the size, tells `onResize` if it changed, and hands out any slots it frees. */
  #resize(): void {
    const size = this.#sizeNow();
    if (size.calls !== this.#size.calls) this.#options.onResize?.(size);
    this.#size = size;
    this.#handOut();
  }

  #sizeNow(): InFlightSize {
    const nowInMs = this.#options.clock.nowInMs();
    const oldest = this.#calls.values().next();
    return this.#options.sizer.size(
      {
        ratePerSecond: this.#options.ratePerSecond,
        requestsPerMessage: this.#options.requestsPerMessage,
        ...(oldest.done === true ? {} : { oldestInFlightAgeInMs: nowInMs - oldest.value }),
      },
      nowInMs,
    );
  }
}
