import type { Clock, UsageLedger } from './ports.js';

/** How much of its budget a deployment used in the last minute, all instances together. */
export interface DeploymentBudgetUse {
  readonly deployment: string;
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
  /** Calls in the window, and their tokens at admission (prompt + max_tokens). */
  readonly requests: number;
  readonly tokens: number;
  /** Percent of each limit used, one decimal. */
  readonly requestsUsed: number;
  readonly tokensUsed: number;
  /** The larger of the two: the limit that binds. */
  readonly bindingUsed: number;
}

/** The wire shape of GET /api/metrics/budget. */
export interface BudgetUseReport {
  readonly windowInMs: number;
  readonly atInMs: number;
  readonly deployments: readonly DeploymentBudgetUse[];
}

export interface BudgetUseDeps {
  readonly ledger: Pick<UsageLedger, 'recentUse'>;
  readonly clock: Clock;
  readonly deployments: readonly {
    readonly name: string;
    readonly requestsPerMinute: number;
    readonly tokensPerMinute: number;
  }[];
}

export const BUDGET_USE_WINDOW_IN_MS = 60_000;

const percent = (used: number, limit: number): number => (limit > 0 ? Math.round((1_000 * used) / limit) / 10 : 0);

/**
 * Budget use per deployment over the last minute, from the usage ledger: every instance writes its
 * calls there, so the figure is the deployment's, not one instance's (in-process metrics would see
 * only the instance that answers the request). The ledger keeps the calls that may be billed: 429s and
 * refused calls, which also count against the limit, are not in it, so this is a floor.
 */
export async function getBudgetUse(deps: BudgetUseDeps): Promise<BudgetUseReport> {
  const atInMs = deps.clock.nowInMs();
  const windowInMs = BUDGET_USE_WINDOW_IN_MS;
  const recent = new Map((await deps.ledger.recentUse(atInMs - windowInMs)).map((use) => [use.deployment, use]));
  const perMinute = 60_000 / windowInMs;
  return {
    windowInMs,
    atInMs,
    deployments: deps.deployments.map((d) => {
      const use = recent.get(d.name);
      const requests = (use?.calls ?? 0) * perMinute;
      const tokens = (use?.tokens ?? 0) * perMinute;
      const requestsUsed = percent(requests, d.requestsPerMinute);
      const tokensUsed = percent(tokens, d.tokensPerMinute);
      return {
        deployment: d.name,
        requestsPerMinute: d.requestsPerMinute,
        tokensPerMinute: d.tokensPerMinute,
        requests,
        tokens,
        requestsUsed,
        tokensUsed,
        bindingUsed: Math.max(requestsUsed, tokensUsed),
      };
    }),
  };
}
