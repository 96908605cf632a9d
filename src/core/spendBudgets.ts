import { LineErrorCode, type LineError } from './lineErrors.js';
import { formatNanos, parseAmountToNanos } from './money.js';
import { utcDay } from './pricing.js';

export const BudgetPeriod = { daily: 'daily', monthly: 'monthly' } as const;
export type BudgetPeriod = (typeof BudgetPeriod)[keyof typeof BudgetPeriod];

/** What a line does when its call would pass a budget: fail (`stop`), or wait in the queue for the next period. */
export const BudgetAction = { stop: 'stop', wait: 'wait' } as const;
export type BudgetAction = (typeof BudgetAction)[keyof typeof BudgetAction];

export type BudgetScope =
  | { readonly kind: 'deployment'; readonly deployment: string }
  | { readonly kind: 'tag'; readonly key: string; readonly value: string };

/** A spending limit over a UTC calendar day or month, for one deployment or one tag value. */
export interface SpendBudget {
  readonly scope: BudgetScope;
  readonly period: BudgetPeriod;
  readonly limitInNanos: number;
  readonly action: BudgetAction;
}

/** Percentages of a budget at which an alert fires, once per period each. */
export const ALERT_THRESHOLDS = [50, 80, 100] as const;

/** The webhook event type of a budget alert. */
export const BUDGET_ALERT_EVENT = 'budget.threshold_reached';

/** `deployment:<name>` or `tag:<key>=<value>`: the budget's name, as written in `BUDGETS`. */
export function scopeKey(scope: BudgetScope): string {
  return scope.kind === 'deployment' ? `deployment:${scope.deployment}` : `tag:${scope.key}=${scope.value}`;
}

/** `deployment:phi3-mini:monthly`: unique among the configured budgets. */
export function budgetKey(budget: SpendBudget): string {
  return `${scopeKey(budget.scope)}:${budget.period}`;
}

/** The period an instant falls in: `2026-12` (monthly) or `2026-12-07` (daily), UTC. */
export function periodIdAt(period: BudgetPeriod, atInMs: number): string {
  return periodIdOfDay(period, utcDay(atInMs));
}

/** The period a UTC day (`YYYY-MM-DD`, as the ledger records it) falls in. */
export function periodIdOfDay(period: BudgetPeriod, day: string): string {
  return period === BudgetPeriod.monthly ? day.slice(0, 7) : day;
}

/** When the period that holds `atInMs` ends (the first instant of the next one). */
export function periodEndInMs(period: BudgetPeriod, atInMs: number): number {
  const at = new Date(atInMs);
  return period === BudgetPeriod.monthly
    ? Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1)
    : Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1);
}

/** The id of a budget's document for one period: `spend|deployment:phi3-mini:monthly|2026-12`. */
export function budgetPeriodId(budget: SpendBudget, periodId: string): string {
  return `spend|${budgetKey(budget)}|${periodId}`;
}

/** Whether the budget counts a job's calls: its deployment, or a tag the job carries with that value. */
export function budgetApplies(
  budget: SpendBudget,
  job: { readonly deployment: string; readonly tags?: Readonly<Record<string, string>> | undefined },
): boolean {
  const scope = budget.scope;
  if (scope.kind === 'deployment') return scope.deployment === job.deployment;
  return job.tags?.[scope.key] === scope.value;
}

/**
 * One budget period's shared state. `reservedInNanos` holds the worst-case cost of calls in flight
 * (and of calls whose answer was lost, which may have been billed); `committedInNanos` is the billed
 * cost, the ledger's total for the period. A call is admitted only while committed + reserved + its
 * worst case stays within the limit.
 */
export interface BudgetPeriodState {
  readonly id: string;
  /** `deployment:phi3-mini:monthly` */
  readonly budget: string;
  readonly periodId: string;
  readonly limitInNanos: number;
  readonly committedInNanos: number;
  readonly reservedInNanos: number;
  /** Billed calls counted in `committedInNanos`. */
  readonly calls: number;
  /** Thresholds (percent) whose alert was claimed: each fires once per period. */
  readonly alerted: readonly number[];
  /** When a call was first refused in this period. */
  readonly exhaustedAtInMs?: number | undefined;
}

export function emptyBudgetPeriod(budget: SpendBudget, periodId: string): BudgetPeriodState {
  return {
    id: budgetPeriodId(budget, periodId),
    budget: budgetKey(budget),
    periodId,
    limitInNanos: budget.limitInNanos,
    committedInNanos: 0,
    reservedInNanos: 0,
    calls: 0,
    alerted: [],
  };
}

/** The thresholds the billed spend has reached and no alert has claimed yet. */
export function thresholdsToAlert(state: BudgetPeriodState, limitInNanos: number): number[] {
  return ALERT_THRESHOLDS.filter(
    (percent) =>
      !state.alerted.includes(percent) &&
      (limitInNanos === 0 ? state.committedInNanos > 0 : state.committedInNanos * 100 >= limitInNanos * percent),
  );
}

/** The error of a line not sent because a budget would be passed. */
export function budgetExceededError(budget: SpendBudget, periodId: string, currency: string): LineError {
  const next =
    budget.action === BudgetAction.wait ? 'lines wait for the next period' : 'no more lines of the job are sent';
  return {
    code: LineErrorCode.budgetExceeded,
    message:
      `Not sent: the ${budget.period} budget ${scopeKey(budget.scope)} of ${formatNanos(budget.limitInNanos)} ` +
      `${currency} for ${periodId} would be exceeded; ${next}`,
  };
}

const ENTRY =
  /^(?<scope>deployment:(?<deployment>[^=]+)|tag:(?<key>[^=:]+)=(?<value>.+)):(?<period>daily|monthly)=(?<amount>[^:]+)(?::action=(?<action>[a-z]+))?$/;

/** The syntax of `BUDGETS`, for error messages and docs. */
export const BUDGETS_SYNTAX =
  'comma-separated budgets <scope>:<daily|monthly>=<amount>[:action=stop|wait], where <scope> is ' +
  'deployment:<name> or tag:<key>=<value>, e.g. deployment:phi3-mini:monthly=50,tag:project=x:daily=5:action=wait';

/**
 * Reads `BUDGETS`. Returns the budgets, or what was expected of the first entry that cannot be read
 * and the entry itself (the caller names the setting).
 */
export function parseBudgets(
  text: string,
): { budgets: SpendBudget[] } | { error: { readonly expected: string; readonly received: string } } {
  const budgets: SpendBudget[] = [];
  const seen = new Set<string>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const groups = ENTRY.exec(entry)?.groups;
    if (groups === undefined) return { error: { expected: BUDGETS_SYNTAX, received: entry } };
    const limitInNanos = parseAmountToNanos(groups['amount']!);
    if (limitInNanos === undefined)
      return { error: { expected: 'a limit that is a decimal amount such as 50 or 2.50', received: entry } };
    const action = groups['action'] ?? BudgetAction.stop;
    if (action !== BudgetAction.stop && action !== BudgetAction.wait)
      return { error: { expected: 'action=stop or action=wait', received: entry } };
    const scope: BudgetScope =
      groups['deployment'] !== undefined
        ? { kind: 'deployment', deployment: groups['deployment'] }
        : { kind: 'tag', key: groups['key']!, value: groups['value']! };
    const budget: SpendBudget = { scope, period: groups['period'] as BudgetPeriod, limitInNanos, action };
    if (seen.has(budgetKey(budget)))
      return {
        error: { expected: `one limit per scope and period (${budgetKey(budget)} is set twice)`, received: entry },
      };
    seen.add(budgetKey(budget));
    budgets.push(budget);
  }
  return { budgets };
}
