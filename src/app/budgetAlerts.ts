import { formatNanos } from '../core/money.js';
import { signWebhook } from '../core/openai/standardWebhooks.js';
import { BUDGET_ALERT_EVENT, budgetKey, scopeKey, type SpendBudget } from '../core/spendBudgets.js';
import type { Logger } from './Logger.js';
import type { Clock, Metrics } from './ports.js';
import type { WebhookSender, WebhookTarget } from './webhooks.js';

/** One threshold of one budget reached in one period: claimed once, in the period's document. */
export interface BudgetAlert {
  readonly budget: SpendBudget;
  readonly periodId: string;
  readonly thresholdPercent: number;
  readonly spentInNanos: number;
  readonly currency: string;
}

export interface BudgetAlertDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly sender: WebhookSender;
  /** Undefined: alerts go to the logs only. */
  readonly target: WebhookTarget | undefined;
}

/** The webhook event: `{id, object: "event", created_at, type: "budget.threshold_reached", data}`. */
export function budgetAlertEvent(alert: BudgetAlert, nowInMs: number) {
  const { budget } = alert;
  const key = scopeKey(budget.scope);
  return {
    // The same alert always has the same id (and webhook-id), so a receiver can tell a repeat.
    id: `evt_budget_${Buffer.from(`${key}|${budget.period}|${alert.periodId}|${alert.thresholdPercent}`).toString('base64url')}`,
    object: 'event' as const,
    created_at: Math.floor(nowInMs / 1000),
    type: BUDGET_ALERT_EVENT,
    data: {
      budget: key,
      period: budget.period,
      period_id: alert.periodId,
      threshold_percent: alert.thresholdPercent,
      limit: formatNanos(budget.limitInNanos),
      spent: formatNanos(alert.spentInNanos),
      currency: alert.currency,
      action: budget.action,
    },
  };
}

/**
 * Tells of a reached threshold: a log line and a metric always, a signed webhook when one is configured. Its one
 * attempt is not retried: a failure is logged (the alert was claimed, so no other instance repeats it).
 */
export async function sendBudgetAlert(alert: BudgetAlert, deps: BudgetAlertDeps): Promise<void> {
  const { budget } = alert;
  const what =
    `Budget ${scopeKey(budget.scope)} (${budget.period}, ${alert.periodId}): ${alert.thresholdPercent}% reached, ` +
    `${formatNanos(alert.spentInNanos)} of ${formatNanos(budget.limitInNanos)} ${alert.currency} spent`;
  deps.logger.warn(what);
  deps.metrics.recordBudgetAlert(budgetKey(budget), alert.thresholdPercent);
  const target = deps.target;
  if (target === undefined) return;
  const now = deps.clock.nowInMs();
  const event = budgetAlertEvent(alert, now);
  const body = JSON.stringify(event);
  const answer = await deps.sender.post(
    target.url,
    body,
    signWebhook(target.secret, event.id, Math.floor(now / 1000), body),
  );
  if (answer.status < 200 || answer.status >= 300)
    deps.logger.error(`Webhook ${BUDGET_ALERT_EVENT} not delivered (status ${answer.status}): ${what}`);
}
