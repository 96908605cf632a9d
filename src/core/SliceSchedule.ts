import { BUDGET_WINDOW_IN_MS, type BudgetCost, type BudgetLimits } from './PacedBudget.js';

/**
 * The shared state of one deployment's budget: a cursor on a global timeline of capacity.
 * Every instance claims the next stretch of that timeline (a slice) and spends it at the
 * deployment's rate, so the instances' admissions never overlap in time and the deployment as a
 * whole sees one even stream, however many instances there are.
 */
export interface ScheduleState {
  /** End of the last slice handed out. */
  readonly cursorInMs: number;
  /** Nobody sends before this (a 429's retry-after, shared). */
  readonly pausedUntilInMs: number;
  /** The deployment refused our key or address (see `DeploymentHalt`); absent while it serves us. */
  readonly halt?: DeploymentHalt | undefined;
}

/**
 * Set by the first 401/403/404 a deployment answers, with when: jobs that started (or were retried)
 * before it send nothing more. Cleared by the first success of a call sent after it, i.e. once a
 * retried or new job finds the key and address fixed.
 */
export interface DeploymentHalt {
  readonly code: string;
  readonly message: string;
  readonly atInMs: number;
}

/** The later of two halts (a newer refusal replaces an older one). */
export function laterHalt(a: DeploymentHalt | undefined, b: DeploymentHalt | undefined): DeploymentHalt | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.atInMs > a.atInMs ? b : a;
}

/** The halt left once a call sent at `sentAtInMs` succeeded: one set before that call no longer holds. */
export function haltAfterSuccess(halt: DeploymentHalt | undefined, sentAtInMs: number): DeploymentHalt | undefined {
  return halt !== undefined && halt.atInMs < sentAtInMs ? undefined : halt;
}

export interface Slice {
  readonly startInMs: number;
  readonly endInMs: number;
}

export interface ScheduleRates {
  readonly requestsPerMs: number;
  readonly tokensPerMs: number;
}

export const EMPTY_SCHEDULE: ScheduleState = { cursorInMs: 0, pausedUntilInMs: 0 };

export function scheduleRates(limits: BudgetLimits, utilization: number): ScheduleRates {
  return {
    requestsPerMs: (limits.requestsPerMinute * utilization) / 60_000,
    tokensPerMs: (limits.tokensPerMinute * utilization) / 60_000,
  };
}

/**
 * How much of the timeline a request occupies: whichever of its requests or tokens binds, and never
 * more than one window (a request that needs more could never be served within the limit; the worker
 * refuses such lines before they get here).
 */
export function costInMs(cost: BudgetCost, rates: ScheduleRates): number {
  return Math.min(BUDGET_WINDOW_IN_MS, Math.max(cost.requests / rates.requestsPerMs, cost.tokens / rates.tokensPerMs));
}

/**
 * The timeline the server's negative `x-ratelimit-remaining-*` values say we owe: whichever binds, and at
 * most one window. Debt beyond the limit itself is not believed (a -999999999 header meant 85 hours).
 */
export function debtInMs(
  remaining: { requests?: number | undefined; tokens?: number | undefined },
  rates: ScheduleRates,
): number {
  const requests =
    remaining.requests !== undefined && remaining.requests < 0 ? -remaining.requests / rates.requestsPerMs : 0;
  const tokens = remaining.tokens !== undefined && remaining.tokens < 0 ? -remaining.tokens / rates.tokensPerMs : 0;
  const debt = Math.max(requests, tokens);
  return Number.isFinite(debt) ? Math.min(BUDGET_WINDOW_IN_MS, debt) : 0;
}

/**
 * How far the cursor may lie ahead of now (or of a pause's end): slices are claimed at most a slice
 * ahead, requests cost at most a window, debts at most a window. A stored cursor further ahead
 * (written by a bug, or by data from before this bound) is brought back when it is next read.
 */
export const MAX_CURSOR_LEAD_IN_MS = BUDGET_WINDOW_IN_MS;

/** The state with a cursor no further than MAX_CURSOR_LEAD_IN_MS ahead of now or of the pause's end. */
export function healSchedule(state: ScheduleState, nowInMs: number): ScheduleState {
  const limit = Math.max(nowInMs, state.pausedUntilInMs) + MAX_CURSOR_LEAD_IN_MS;
  return state.cursorInMs > limit ? { ...state, cursorInMs: limit } : state;
}

/**
 * Hands out the next slice. Time that nobody claimed is gone: capacity is not saved up. The claimer
 * learns of its slice `answerDelayInMs` after the state was read (`nowInMs`); a slice that would start
 * before then (the deployment was idle) is lengthened so that `durationInMs` of it is still ahead when
 * the answer arrives. The added part is timeline nobody held; its holder spends of it only what the
 * pacer's catch-up allows (see MAX_CATCH_UP_IN_MS).
 */
export function claimSlice(
  stored: ScheduleState,
  durationInMs: number,
  nowInMs: number,
  answerDelayInMs = 0,
): { state: ScheduleState; slice: Slice } {
  const state = healSchedule(stored, nowInMs);
  const startInMs = Math.max(state.cursorInMs, nowInMs, state.pausedUntilInMs);
  const slice = { startInMs, endInMs: Math.max(startInMs, nowInMs + answerDelayInMs) + durationInMs };
  return { state: { ...state, cursorInMs: slice.endInMs }, slice };
}

export function pauseSchedule(state: ScheduleState, untilInMs: number): ScheduleState {
  return {
    ...state,
    cursorInMs: Math.max(state.cursorInMs, untilInMs),
    pausedUntilInMs: Math.max(state.pausedUntilInMs, untilInMs),
  };
}

/** The server reports debt (negative remaining capacity): nothing new is handed out until it is paid (at most a window). */
export function delaySchedule(stored: ScheduleState, delayInMs: number, nowInMs: number): ScheduleState {
  const state = healSchedule(stored, nowInMs);
  return { ...state, cursorInMs: Math.max(state.cursorInMs, nowInMs + Math.min(delayInMs, BUDGET_WINDOW_IN_MS)) };
}

/** How far behind the timeline an instance may still admit: bounds the overshoot per instance to this much capacity. */
export const MAX_CATCH_UP_IN_MS = 100;

export type PacerDecision =
  | { readonly kind: 'granted' }
  | { readonly kind: 'wait'; readonly waitInMs: number }
  | { readonly kind: 'needSlice'; readonly durationInMs: number };

/**
 * One instance's share: the slices it holds, spent at the deployment's rate. A request is admitted
 * at the slice's own pace (never early, never in a burst to catch up) and only if its whole cost fits
 * in the slice, so admissions stay inside the stretch of timeline this instance owns.
 */
export class SlicePacer {
  readonly #rates: ScheduleRates;
  readonly #sliceInMs: number;
  #slices: Slice[] = [];
  /** Where on the timeline this instance's next admission may start. */
  #nextInMs = 0;

  constructor(rates: ScheduleRates, sliceInMs: number) {
    this.#rates = rates;
    this.#sliceInMs = sliceInMs;
  }

  get heldSlices(): readonly Slice[] {
    return this.#slices;
  }

  /** Where spending has got to in the current slice (for returning the rest). */
  get spentUntilInMs(): number {
    return this.#nextInMs;
  }

  /** Timeline this instance still holds from its next admission on: how long it can go on without a claim. */
  heldAheadInMs(nowInMs: number): number {
    let ahead = 0;
    for (const slice of this.#slices) {
      const from = Math.max(this.#nextInMs, slice.startInMs, Math.min(nowInMs - MAX_CATCH_UP_IN_MS, slice.endInMs));
      ahead += Math.max(0, slice.endInMs - from);
    }
    return ahead;
  }

  addSlice(slice: Slice): void {
    const last = this.#slices[this.#slices.length - 1];
    // A slice that continues the one we hold (we were the last to claim) merges: no remainder is lost between them.
    if (last !== undefined && last.endInMs === slice.startInMs) {
      this.#slices[this.#slices.length - 1] = { startInMs: last.startInMs, endInMs: slice.endInMs };
    } else {
      this.#slices.push(slice);
    }
  }

  /** Forgets slices (or their parts) before `untilInMs`: the server asked everyone to stop. */
  dropBefore(untilInMs: number): void {
    this.#slices = this.#slices
      .filter((s) => s.endInMs > untilInMs)
      .map((s) => ({ startInMs: Math.max(s.startInMs, untilInMs), endInMs: s.endInMs }));
    this.#nextInMs = Math.max(this.#nextInMs, untilInMs);
  }

  tryTake(cost: BudgetCost, nowInMs: number): PacerDecision {
    const needed = costInMs(cost, this.#rates);
    for (;;) {
      const slice = this.#slices[0];
      if (slice === undefined) return { kind: 'needSlice', durationInMs: Math.max(this.#sliceInMs, needed) };
      // A little lateness (the claim's own round trip, a late timer) is caught up; more is given up, so
      // an instance never bursts through stretches of timeline that have long passed.
      const start = Math.max(this.#nextInMs, slice.startInMs, Math.min(nowInMs - MAX_CATCH_UP_IN_MS, slice.endInMs));
      // The tolerance absorbs floating-point error on epoch-millisecond sums (about 1e-4 ms at 1.8e12).
      if (start + needed > slice.endInMs + 0.01) {
        // What is left of this slice cannot hold the request: it is spent, move on.
        this.#slices.shift();
        continue;
      }
      if (start > nowInMs) return { kind: 'wait', waitInMs: Math.ceil(start - nowInMs) };
      this.#nextInMs = start + needed;
      return { kind: 'granted' };
    }
  }
}
