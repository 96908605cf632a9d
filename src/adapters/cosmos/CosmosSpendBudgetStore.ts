import type { Container } from '@azure/cosmos';
import { statusOf } from './statusOf.js';
import type { SpendBudgetStore } from '../../app/ports.js';
import type { BudgetPeriodState } from '../../core/spendBudgets.js';

type BudgetPeriodDocument = BudgetPeriodState & { readonly kind: 'spendBudget'; readonly _etag?: string };

/**
 * Budget period documents beside the rate budget's, in the same container (partition key `/id`; their
 * ids start with `spend|`). Read, create and ETag-conditional replace only.
 */
export class CosmosSpendBudgetStore implements SpendBudgetStore {
  constructor(private readonly container: Container) {}

  async get(id: string): Promise<{ state: BudgetPeriodState; etag: string } | undefined> {
    const { resource } = await this.container.item(id, id).read<BudgetPeriodDocument>();
    if (resource === undefined) return undefined;
    return { state: stateOf(resource), etag: resource._etag ?? '' };
  }

  async create(state: BudgetPeriodState): Promise<string | undefined> {
    try {
      const { etag } = await this.container.items.create(documentOf(state));
      return etag;
    } catch (error) {
      if (statusOf(error) === 409) return undefined;
      throw error;
    }
  }

  async replace(state: BudgetPeriodState, etag: string): Promise<string | undefined> {
    try {
      const response = await this.container
        .item(state.id, state.id)
        .replace(documentOf(state), { accessCondition: { type: 'IfMatch', condition: etag } });
      return response.etag;
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 404) return undefined;
      throw error;
    }
  }
}

function documentOf(state: BudgetPeriodState): BudgetPeriodDocument {
  const { exhaustedAtInMs, ...rest } = state;
  return { ...rest, ...(exhaustedAtInMs === undefined ? {} : { exhaustedAtInMs }), kind: 'spendBudget' };
}

function stateOf(document: BudgetPeriodDocument): BudgetPeriodState {
  return {
    id: document.id,
    budget: document.budget,
    periodId: document.periodId,
    limitInNanos: document.limitInNanos,
    committedInNanos: document.committedInNanos,
    reservedInNanos: document.reservedInNanos,
    calls: document.calls,
    alerted: document.alerted,
    ...(document.exhaustedAtInMs === undefined ? {} : { exhaustedAtInMs: document.exhaustedAtInMs }),
  };
}
