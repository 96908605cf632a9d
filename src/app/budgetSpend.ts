import type { Job } from '../core/job.js';
import type { LineError } from '../core/lineErrors.js';
import {
  budgetApplies,
  budgetExceededError,
  budgetPeriodId,
  emptyBudgetPeriod,
  periodEndInMs,
  periodIdAt,
  periodIdOfDay,
  thresholdsToAlert,
  type BudgetPeriodState,
  type SpendBudget,
} from '../core/spendBudgets.js';
import { sendBudgetAlert, type BudgetAlert, type BudgetAlertDeps } from './budgetAlerts.js';
import type { BudgetPeriodWriter } from './BudgetPeriodWriter.js';
import { PRICE_HORIZON_IN_MS } from './tuning.js';

export interface BudgetDeps extends BudgetAlertDeps {
  /** The configured budgets (BUDGETS); empty: none, and nothing is written. */
  readonly budgets: readonly SpendBudget[];
  /** Shared by every message this process runs. */
  readonly budgetPeriods: BudgetPeriodWriter;
}

/** One budget period a call's worst case is held against. */
interface PeriodHold {
  readonly budget: SpendBudget;
  readonly periodId: string;
  readonly amountInNanos: number;
}

/** What a call holds against the budgets that apply to its job, until it is billed or known not to be. */
export interface BudgetHold {
  readonly holds: readonly PeriodHold[];
}

/** A call a budget refused: why, what the line does about it, and until when a waiting line waits. */
export interface BudgetRefusal {
  readonly budget: SpendBudget;
  readonly periodId: string;
  readonly error: LineError;
  readonly periodEndsAtInMs: number;
}

const NO_HOLD: BudgetHold = { holds: [] };

/**
 * Holds each call's worst-case cost against every budget that applies to the job, for the lines of one
 * work message, the way `JobSpendMeter` does for the job's cap: reserved before the call, and on the
 * message's `flush` the real cost committed and the reservations released, in one write per period
 * document. A crash in between leaves reservations in place: a budget can only be undercut, never passed.
 */
export class BudgetMeter {
  readonly #budgets: readonly SpendBudget[];
  readonly #deps: BudgetDeps | undefined;
  readonly #currency: string;
  readonly #pending = new Map<
    string,
    { budget: SpendBudget; periodId: string; cost: number; release: number; calls: number }
  >();

  /** `deps` undefined: no budgets are configured. */
  constructor(job: Job, deps: BudgetDeps | undefined) {
    this.#budgets = deps?.budgets.filter((b) => budgetApplies(b, job)) ?? [];
    this.#deps = deps;
    this.#currency = job.costEstimate?.currency ?? 'USD';
  }

  /** Only reached while some budget applies, so with deps. */
  get #live(): BudgetDeps {
    return this.#deps!;
  }

  /** Some budget applies to the job: its calls must be reserved. */
  get active(): boolean {
    return this.#budgets.length > 0;
  }

  /**
   * Before a call: holds its worst case against each budget's period, and the next period's as well
   * when the call may be billed in it (it is counted in the period of the day it is billed, as the
   * ledger is). The first budget it does not fit refuses it; what was held for the others goes back.
   */
  async reserve(amountInNanos: number, nowInMs: number): Promise<BudgetHold | BudgetRefusal> {
    if (this.#budgets.length === 0) return NO_HOLD;
    const held: PeriodHold[] = [];
    for (const budget of this.#budgets) {
      const periods = new Set([
        periodIdAt(budget.period, nowInMs),
        periodIdAt(budget.period, nowInMs + PRICE_HORIZON_IN_MS),
      ]);
      for (const periodId of periods) {
        const fits = await this.#reserveIn(budget, periodId, amountInNanos, nowInMs);
        if (!fits) {
          await this.#releaseNow(held);
          return {
            budget,
            periodId,
            error: budgetExceededError(budget, periodId, this.#currency),
            periodEndsAtInMs: periodEndInMs(budget.period, nowInMs),
          };
        }
        held.push({ budget, periodId, amountInNanos });
      }
    }
    return { holds: held };
  }

  /** A billed call: its cost counts in the period of the day it was billed (`day` as in the ledger). */
  bill(hold: BudgetHold, costInNanos: number, day: string): void {
    if (hold.holds.length === 0) return;
    this.release(hold);
    for (const budget of new Set(hold.holds.map((h) => h.budget))) {
      const entry = this.#entry(budget, periodIdOfDay(budget.period, day));
      entry.cost += costInNanos;
      entry.calls += 1;
    }
  }

  /** A call known not to be billed (or never sent): what it held goes back. */
  release(hold: BudgetHold): void {
    for (const h of hold.holds) this.#entry(h.budget, h.periodId).release += h.amountInNanos;
  }

  /**
   * Once per message: every period document's cost and releases in one write, and the alerts for the
   * thresholds this write took it past (claimed in the same write: only one instance sends each).
   * A failed write is logged, not thrown: its reservations stay held, which only undercuts the budget.
   */
  async flush(): Promise<void> {
    const settlements = [...this.#pending.values()];
    this.#pending.clear();
    const alerts = await Promise.all(settlements.map((s) => this.#settle(s)));
    for (const alert of alerts.flat()) {
      await sendBudgetAlert(alert, this.#live).catch((error: unknown) =>
        this.#live.logger.error(`Budget alert for ${alert.budget.period} ${alert.periodId} failed`, error),
      );
    }
  }

  async #settle(s: {
    budget: SpendBudget;
    periodId: string;
    cost: number;
    release: number;
    calls: number;
  }): Promise<BudgetAlert[]> {
    const { budget, periodId } = s;
    try {
      const reached = await this.#live.budgetPeriods.update(emptyBudgetPeriod(budget, periodId), (state) => {
        const settled: BudgetPeriodState = {
          ...state,
          limitInNanos: budget.limitInNanos,
          committedInNanos: state.committedInNanos + s.cost,
          reservedInNanos: state.reservedInNanos - s.release,
          calls: state.calls + s.calls,
        };
        const thresholds = thresholdsToAlert(settled, budget.limitInNanos);
        return {
          state: { ...settled, alerted: [...settled.alerted, ...thresholds] },
          result: { thresholds, spentInNanos: settled.committedInNanos },
        };
      });
      return reached.thresholds.map((thresholdPercent) => ({
        budget,
        periodId,
        thresholdPercent,
        spentInNanos: reached.spentInNanos,
        currency: this.#currency,
      }));
    } catch (error) {
      this.#live.logger.error(
        `Budget ${budgetPeriodId(budget, periodId)}: spend not settled; its reservations stay held`,
        error,
      );
      return [];
    }
  }

  /** Holds the amount if committed + reserved + amount stays within the limit; a refusal claims the 100% alert. */
  async #reserveIn(budget: SpendBudget, periodId: string, amountInNanos: number, nowInMs: number): Promise<boolean> {
    type Outcome = { readonly fits: boolean; readonly alert?: boolean; readonly spentInNanos?: number };
    const outcome = await this.#live.budgetPeriods.update<Outcome>(emptyBudgetPeriod(budget, periodId), (state) => {
      if (state.committedInNanos + state.reservedInNanos + amountInNanos <= budget.limitInNanos)
        return { state: { ...state, reservedInNanos: state.reservedInNanos + amountInNanos }, result: { fits: true } };
      if (state.exhaustedAtInMs !== undefined) return { result: { fits: false } };
      const alert = !state.alerted.includes(100);
      return {
        state: { ...state, exhaustedAtInMs: nowInMs, alerted: alert ? [...state.alerted, 100] : state.alerted },
        result: { fits: false, alert, spentInNanos: state.committedInNanos },
      };
    });
    if (outcome.fits) return true;
    this.#live.logger.warn(`Budget ${budgetPeriodId(budget, periodId)}: a call was refused, the limit would be passed`);
    if (outcome.alert === true && outcome.spentInNanos !== undefined)
      await sendBudgetAlert(
        { budget, periodId, thresholdPercent: 100, spentInNanos: outcome.spentInNanos, currency: this.#currency },
        this.#live,
      ).catch((error: unknown) => this.#live.logger.error(`Budget alert for ${periodId} failed`, error));
    return false;
  }

  async #releaseNow(held: readonly PeriodHold[]): Promise<void> {
    await Promise.all(
      held.map((h) =>
        this.#live.budgetPeriods.update(emptyBudgetPeriod(h.budget, h.periodId), (state) => ({
          state: { ...state, reservedInNanos: state.reservedInNanos - h.amountInNanos },
          result: undefined,
        })),
      ),
    );
  }

  #entry(budget: SpendBudget, periodId: string) {
    const id = budgetPeriodId(budget, periodId);
    let entry = this.#pending.get(id);
    if (entry === undefined) {
      entry = { budget, periodId, cost: 0, release: 0, calls: 0 };
      this.#pending.set(id, entry);
    }
    return entry;
  }
}
