import type { SpendBudgetStore } from '../../app/ports.js';
import type { BudgetPeriodState } from '../../core/spendBudgets.js';

/** Budget period documents in a map, with a counter standing in for Cosmos's ETags. */
export class InMemorySpendBudgetStore implements SpendBudgetStore {
  readonly #documents = new Map<string, { state: BudgetPeriodState; etag: string }>();
  #version = 0;

  async get(id: string): Promise<{ state: BudgetPeriodState; etag: string } | undefined> {
    await Promise.resolve();
    return this.#documents.get(id);
  }

  async create(state: BudgetPeriodState): Promise<string | undefined> {
    await Promise.resolve();
    if (this.#documents.has(state.id)) return undefined;
    return this.#put(state);
  }

  async replace(state: BudgetPeriodState, etag: string): Promise<string | undefined> {
    await Promise.resolve();
    if (this.#documents.get(state.id)?.etag !== etag) return undefined;
    return this.#put(state);
  }

  #put(state: BudgetPeriodState): string {
    this.#version += 1;
    const etag = `"${this.#version}"`;
    this.#documents.set(state.id, { state: structuredClone(state), etag });
    return etag;
  }
}
