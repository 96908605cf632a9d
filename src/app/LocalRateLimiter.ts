import { PacedBudget, type BudgetCost, type PacedBudgetOptions } from '../core/PacedBudget.js';
import { haltAfterSuccess, laterHalt, type DeploymentHalt } from '../core/SliceSchedule.js';
import type { AcquireResult, Clock, RateLimiter, Timers } from './ports.js';

interface Waiter {
  readonly cost: BudgetCost;
  readonly maxWaitInMs: number;
  readonly resolve: (result: AcquireResult) => void;
}

const realTimers: Timers = {
  setTimeout: (callback, delayInMs) => setTimeout(callback, delayInMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * The budget of one process: a FIFO of waiters served by a single timer, so admissions keep the
 * pace the budget sets and nobody starves.
 */
export class LocalRateLimiter implements RateLimiter {
  readonly #budget: PacedBudget;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #waiters: Waiter[] = [];
  #timer: unknown;
  #halt: DeploymentHalt | undefined;

  constructor(options: PacedBudgetOptions, clock: Clock, timers: Timers = realTimers) {
    this.#clock = clock;
    this.#timers = timers;
    this.#budget = new PacedBudget(options, clock.nowInMs());
  }

  get pausedUntilInMs(): number {
    return this.#budget.pausedUntilInMs;
  }

  get halt(): DeploymentHalt | undefined {
    return this.#halt;
  }

  haltSending(halt: DeploymentHalt): void {
    this.#halt = laterHalt(this.#halt, halt);
  }

  resumeSending(sentAtInMs: number): void {
    this.#halt = haltAfterSuccess(this.#halt, sentAtInMs);
  }

  acquire(cost: BudgetCost, options: { maxWaitInMs: number }): Promise<AcquireResult> {
    return new Promise((resolve) => {
      this.#waiters.push({ cost, maxWaitInMs: options.maxWaitInMs, resolve });
      this.#pump();
    });
  }

  pauseUntil(untilInMs: number): void {
    this.#budget.pauseUntil(untilInMs);
    this.#reschedule();
  }

  correct(remaining: { requests?: number | undefined; tokens?: number | undefined }): void {
    this.#budget.correct(remaining, this.#clock.nowInMs());
    this.#reschedule();
  }

  refundTokens(tokens: number): void {
    this.#budget.refundTokens(tokens, this.#clock.nowInMs());
  }

  #reschedule(): void {
    if (this.#timer !== undefined) {
      this.#timers.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#pump();
  }

  #pump(): void {
    if (this.#timer !== undefined) return;
    while (this.#waiters.length > 0) {
      const head = this.#waiters[0]!;
      const result = this.#budget.tryTake(head.cost, this.#clock.nowInMs());
      if (result.granted) {
        this.#waiters.shift();
        head.resolve(result);
        continue;
      }
      if (result.waitInMs > head.maxWaitInMs) {
        this.#waiters.shift();
        head.resolve(result);
        continue;
      }
      this.#timer = this.#timers.setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, result.waitInMs);
      return;
    }
  }
}
