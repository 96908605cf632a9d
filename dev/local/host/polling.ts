/** Small primitives the trigger listeners share: an interruptible sleep and an in-flight task set. */

/** A sleep that `wake()` ends early (a manual poll, or stop). */
export class WakeableSleep {
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      this.#timer = setTimeout(done, ms);
    });
  }

  wake(): void {
    this.#wake?.();
  }
}

/** A signal that any number of waiters can await until the next `notify()`. */
export class Signal {
  #waiters: (() => void)[] = [];

  wait(): Promise<void> {
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) {
      resolve();
    }
  }
}

/** Tracks running work so stop() can wait for it. */
export class TaskTracker {
  readonly #tasks = new Set<Promise<unknown>>();

  get size(): number {
    return this.#tasks.size;
  }

  track<T>(task: Promise<T>): Promise<T> {
    this.#tasks.add(task);
    const remove = (): void => {
      this.#tasks.delete(task);
    };
    task.then(remove, remove);
    return task;
  }

  /** True once everything tracked (including work started meanwhile) settled; false after `timeoutInMs`. */
  async drain(timeoutInMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutInMs);
    });
    const drained = (async () => {
      while (this.#tasks.size > 0) {
        await Promise.allSettled([...this.#tasks]);
      }
      return true as const;
    })();
    try {
      return await Promise.race([drained, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Randomised exponential back-off between `minInMs` and `maxInMs`, like the host's queue polling. */
export class Backoff {
  readonly #minInMs: number;
  readonly #maxInMs: number;
  readonly #random: () => number;
  #currentInMs: number;

  constructor(minInMs: number, maxInMs: number, random: () => number = Math.random) {
    this.#minInMs = Math.min(minInMs, maxInMs);
    this.#maxInMs = maxInMs;
    this.#random = random;
    this.#currentInMs = this.#minInMs;
  }

  reset(): void {
    this.#currentInMs = this.#minInMs;
  }

  /** The delay to wait now; the next one doubles (±20 %), capped at the maximum. */
  next(): number {
    const delay = this.#currentInMs;
    const jitter = 0.8 + this.#random() * 0.4;
    this.#currentInMs = Math.min(this.#maxInMs, Math.max(this.#minInMs, this.#currentInMs * 2 * jitter));
    return delay;
  }
}
