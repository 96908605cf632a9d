import type { BudgetPeriodState } from '../core/spendBudgets.js';
import type { SpendBudgetStore } from './ports.js';

/** A change to one budget period: the new state (undefined: unchanged) and what the caller learns. */
export type BudgetPeriodChange<T> = (state: BudgetPeriodState) => { state?: BudgetPeriodState; result: T };

interface Pending {
  readonly change: BudgetPeriodChange<unknown>;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: unknown) => void;
}

const MAX_ATTEMPTS = 100;

/**
 * Applies changes to budget period documents with read + conditional create/replace, one write under
 * way per document in this process: the changes that arrive while it is under way are applied together,
 * in order, in the next one. The calls of one instance then never contend with each other, and each
 * change still sees the state its predecessors left (a reservation is decided against every earlier one).
 */
export class BudgetPeriodWriter {
  readonly #store: SpendBudgetStore;
  readonly #queues = new Map<string, Pending[]>();

  constructor(store: SpendBudgetStore) {
    this.#store = store;
  }

  update<T>(initial: BudgetPeriodState, change: BudgetPeriodChange<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { change, resolve: resolve as (result: unknown) => void, reject };
      const queue = this.#queues.get(initial.id);
      if (queue !== undefined) {
        queue.push(pending);
        return;
      }
      this.#queues.set(initial.id, [pending]);
      void this.#drain(initial);
    });
  }

  async #drain(initial: BudgetPeriodState): Promise<void> {
    for (;;) {
      const queue = this.#queues.get(initial.id)!;
      if (queue.length === 0) {
        this.#queues.delete(initial.id);
        return;
      }
      const batch = queue.splice(0);
      try {
        const results = await this.#apply(initial, batch);
        batch.forEach((p, i) => {
          const result = results[i]!;
          if (result.ok) p.resolve(result.value);
          else p.reject(result.error);
        });
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
  }

  /** One read-modify-write of the document for the whole batch, again from a fresh read if it changed meanwhile. */
  async #apply(
    initial: BudgetPeriodState,
    batch: readonly Pending[],
  ): Promise<({ ok: true; value: unknown } | { ok: false; error: unknown })[]> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const stored = await this.#store.get(initial.id);
      let state = stored?.state ?? initial;
      let changed = stored === undefined;
      const results = batch.map((p) => {
        try {
          const next = p.change(state);
          if (next.state !== undefined) {
            state = next.state;
            changed = true;
          }
          return { ok: true as const, value: next.result };
        } catch (error) {
          return { ok: false as const, error };
        }
      });
      if (!changed) return results;
      const written =
        stored === undefined ? await this.#store.create(state) : await this.#store.replace(state, stored.etag);
      if (written !== undefined) return results;
    }
    throw new Error(`Budget ${initial.id}: too much contention on its document`);
  }
}
