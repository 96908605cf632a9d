import type { BudgetCost } from '../core/PacedBudget.js';
import {
  claimSlice,
  costInMs,
  debtInMs,
  delaySchedule,
  haltAfterSuccess,
  laterHalt,
  pauseSchedule,
  SlicePacer,
  type DeploymentHalt,
  type ScheduleRates,
  type Slice,
} from '../core/SliceSchedule.js';
import { ensureError } from '../core/errors.js';
import type { Logger } from './Logger.js';
import type { AcquireResult, BudgetStore, Clock, RateLimiter, Timers } from './ports.js';
import { BUDGET_CORRECTION_INTERVAL_IN_MS, BUDGET_MIN_CLAIM_LEAD_IN_MS } from './tuning.js';

export interface SharedRateLimiterOptions {
  readonly deploymentId: string;
  readonly rates: ScheduleRates;
  /** Length of the timeline stretch claimed at a time: the store is hit once per slice, not per request. */
  readonly sliceInMs: number;
  readonly store: BudgetStore;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
}

interface Waiter {
  readonly cost: BudgetCost;
  readonly maxWaitInMs: number;
  readonly resolve: (result: AcquireResult) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The deployment's budget shared by every instance: slices of one global timeline claimed from a
 * store, spent locally at the deployment's pace, FIFO among this process's callers.
 */
export class SharedRateLimiter implements RateLimiter {
  readonly #options: SharedRateLimiterOptions;
  readonly #pacer: SlicePacer;
  readonly #waiters: Waiter[] = [];
  #timer: unknown;
  #claiming = false;
  /** A smoothed claim round trip: how early the next slice must be asked for. */
  #claimRoundTripInMs = 0;
  #pausedUntilInMs = 0;
  #lastCorrectionInMs = -Infinity;
  /** The deployment's halt as last seen: set here, or read from the shared state at each claim. */
  #halt: DeploymentHalt | undefined;

  constructor(options: SharedRateLimiterOptions) {
    this.#options = options;
    this.#pacer = new SlicePacer(options.rates, options.sliceInMs);
  }

  get pausedUntilInMs(): number {
    return this.#pausedUntilInMs;
  }

  get halt(): DeploymentHalt | undefined {
    return this.#halt;
  }

  haltSending(halt: DeploymentHalt): void {
    if (this.#halt !== undefined && this.#halt.atInMs >= halt.atInMs) return;
    this.#halt = halt;
    this.#background(
      this.#options.store.update(this.#options.deploymentId, (state) => ({
        state: { ...state, halt: laterHalt(state.halt, halt) },
        result: undefined,
      })),
    );
  }

  resumeSending(sentAtInMs: number): void {
    if (this.#halt === undefined) return;
    this.#halt = haltAfterSuccess(this.#halt, sentAtInMs);
    this.#background(
      this.#options.store.update(this.#options.deploymentId, (state) => ({
        state: { ...state, halt: haltAfterSuccess(state.halt, sentAtInMs) },
        result: undefined,
      })),
    );
  }

  acquire(cost: BudgetCost, options: { maxWaitInMs: number }): Promise<AcquireResult> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ cost, maxWaitInMs: options.maxWaitInMs, resolve, reject });
      this.#pump();
    });
  }

  pauseUntil(untilInMs: number): void {
    if (untilInMs <= this.#pausedUntilInMs) return;
    this.#pausedUntilInMs = untilInMs;
    this.#pacer.dropBefore(untilInMs);
    this.#reschedule();
    this.#background(
      this.#options.store.update(this.#options.deploymentId, (state) => ({
        state: pauseSchedule(state, untilInMs),
        result: undefined,
      })),
    );
  }

  correct(remaining: { requests?: number | undefined; tokens?: number | undefined }): void {
    const now = this.#options.clock.nowInMs();
    // Bounded in the core: a header cannot put the deployment in more than one window of debt.
    const debt = debtInMs(remaining, this.#options.rates);
    if (debt <= 0 || now - this.#lastCorrectionInMs < BUDGET_CORRECTION_INTERVAL_IN_MS) return;
    this.#lastCorrectionInMs = now;
    this.#pacer.dropBefore(now + debt);
    this.#background(
      this.#options.store.update(this.#options.deploymentId, (state) => ({
        state: delaySchedule(state, debt, now),
        result: undefined,
      })),
    );
  }

  /** Unused reservation cannot be handed back to a shared timeline once other slices follow it; it is simply not claimed again. */
  refundTokens(): void {}

  #background(work: Promise<unknown>): void {
    work.catch((error: unknown) =>
      this.#options.logger.warn(`Budget store update failed: ${ensureError(error).message}`),
    );
  }

  #reschedule(): void {
    if (this.#timer !== undefined) {
      this.#options.timers.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#pump();
  }

  #pump(): void {
    if (this.#timer !== undefined) return;
    while (this.#waiters.length > 0) {
      const head = this.#waiters[0]!;
      const now = this.#options.clock.nowInMs();
      if (this.#pausedUntilInMs - now > head.maxWaitInMs) {
        this.#waiters.shift();
        head.resolve({ granted: false, waitInMs: this.#pausedUntilInMs - now });
        continue;
      }
      const decision = this.#pacer.tryTake(head.cost, now);
      if (decision.kind === 'granted') {
        this.#waiters.shift();
        head.resolve({ granted: true });
        continue;
      }
      if (decision.kind === 'wait') {
        if (decision.waitInMs > head.maxWaitInMs) {
          this.#waiters.shift();
          head.resolve({ granted: false, waitInMs: decision.waitInMs });
          continue;
        }
        this.#timer = this.#options.timers.setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, decision.waitInMs);
        this.#claimAheadIfShort(now);
        return;
      }
      if (!this.#claiming) this.#claim(this.#sliceFor(0, decision.durationInMs));
      return;
    }
  }

  /** Asks for the next slice before the held ones run out, for the callers they will not cover. */
  #claimAheadIfShort(nowInMs: number): void {
    if (this.#claiming) return;
    const aheadInMs = this.#pacer.heldAheadInMs(nowInMs);
    if (aheadInMs >= this.#claimLeadInMs()) return;
    const durationInMs = this.#sliceFor(aheadInMs, 0);
    if (durationInMs > 0) this.#claim(durationInMs);
  }

  #claimLeadInMs(): number {
    return Math.min(this.#options.sliceInMs, Math.max(BUDGET_MIN_CLAIM_LEAD_IN_MS, 2 * this.#claimRoundTripInMs));
  }

  /**
   * Sizes a claim to the cost of the callers waiting now (up to about one slice), past those the held
   * timeline already covers, and to at least the claim lead: callers that come while it is spent use
   * the rest (as long as some wait, more follow). 0 when none waits.
   */
  #sliceFor(coveredInMs: number, headNeedInMs: number): number {
    if (this.#waiters.length === 0) return 0;
    let covered = 0;
    let total = 0;
    for (const waiter of this.#waiters) {
      const cost = costInMs(waiter.cost, this.#options.rates);
      if (covered + cost <= coveredInMs) {
        covered += cost;
        continue;
      }
      const next = total + cost;
      if (total > 0 && next > this.#options.sliceInMs) break;
      total = next;
    }
    return Math.max(total, this.#claimLeadInMs(), headNeedInMs > this.#options.sliceInMs ? headNeedInMs : 0);
  }

  #claim(durationInMs: number): void {
    this.#claiming = true;
    const now = this.#options.clock.nowInMs();
    this.#options.store
      .update<{ slice: Slice; halt: DeploymentHalt | undefined }>(this.#options.deploymentId, (state) => {
        // The time the state was read, not the time the claim began: a slow read does not date the slice back.
        // Writing the claim back takes about as long again, and the slice is of use only from then on.
        const readAtInMs = this.#options.clock.nowInMs();
        const claimed = claimSlice(state, durationInMs, readAtInMs, readAtInMs - now);
        return { state: claimed.state, result: { slice: claimed.slice, halt: state.halt } };
      })
      .then(
        ({ slice, halt }) => {
          // Every claim brings the shared halt along: another instance's refusal (or its lifting) arrives here.
          this.#halt = halt;
          const roundTripInMs = this.#options.clock.nowInMs() - now;
          this.#claimRoundTripInMs =
            this.#claimRoundTripInMs === 0 ? roundTripInMs : 0.8 * this.#claimRoundTripInMs + 0.2 * roundTripInMs;
          this.#pacer.addSlice(slice);
          this.#claiming = false;
          this.#pump();
        },
        (error: unknown) => {
          this.#claiming = false;
          // Without the store there is no safe budget: fail the callers rather than send unbudgeted.
          const failure = new Error(`The shared budget store is unavailable: ${ensureError(error).message}`, {
            cause: error,
          });
          for (const waiter of this.#waiters.splice(0)) waiter.reject(failure);
        },
      );
  }
}
