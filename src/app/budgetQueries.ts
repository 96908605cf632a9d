import { formatNanos } from '../core/money.js';
import {
  budgetPeriodId,
  emptyBudgetPeriod,
  periodEndInMs,
  periodIdAt,
  scopeKey,
  type SpendBudget,
} from '../core/spendBudgets.js';
import type { Clock, SpendBudgetStore } from './ports.js';

export interface BudgetQueryDeps {
  readonly budgets: readonly SpendBudget[];
  readonly store: SpendBudgetStore;
  readonly clock: Clock;
  readonly currency: string;
}

/** One budget in its current period, as `GET /api/budgets` shows it. */
export interface BudgetView {
  /** `deployment:<name>` or `tag:<key>=<value>` */
  readonly budget: string;
  readonly period: SpendBudget['period'];
  /** `2026-12` or `2026-12-07` (UTC) */
  readonly period_id: string;
  /** Unix seconds: when the next period starts. */
  readonly resets_at: number;
  readonly action: SpendBudget['action'];
  readonly currency: string;
  /** Decimal strings, exact. */
  readonly limit: string;
  readonly spent: string;
  /** The worst case of calls under way (and of calls whose answer was lost). */
  readonly reserved: string;
  readonly remaining: string;
  readonly calls: number;
  /** Thresholds (percent) whose alert has fired this period. */
  readonly alerts_fired: readonly number[];
}

/** Every configured budget in its current period; a period nothing was spent in yet shows zeros. */
export async function listBudgets(deps: BudgetQueryDeps): Promise<{ object: 'list'; data: BudgetView[] }> {
  const now = deps.clock.nowInMs();
  const data = await Promise.all(
    deps.budgets.map(async (budget): Promise<BudgetView> => {
      const periodId = periodIdAt(budget.period, now);
      const state =
        (await deps.store.get(budgetPeriodId(budget, periodId)))?.state ?? emptyBudgetPeriod(budget, periodId);
      const remaining = Math.max(0, budget.limitInNanos - state.committedInNanos - state.reservedInNanos);
      return {
        budget: scopeKey(budget.scope),
        period: budget.period,
        period_id: periodId,
        resets_at: Math.floor(periodEndInMs(budget.period, now) / 1000),
        action: budget.action,
        currency: deps.currency,
        limit: formatNanos(budget.limitInNanos),
        spent: formatNanos(state.committedInNanos),
        reserved: formatNanos(state.reservedInNanos),
        remaining: formatNanos(remaining),
        calls: state.calls,
        alerts_fired: [...state.alerted].sort((a, b) => a - b),
      };
    }),
  );
  return { object: 'list', data };
}
