import { describe, expect, it } from 'vitest';
import { BudgetPeriodWriter } from '../../src/app/BudgetPeriodWriter.js';
import type { SpendBudgetStore } from '../../src/app/ports.js';
import { emptyBudgetPeriod, type SpendBudget } from '../../src/core/spendBudgets.js';

let counter = 0;

/** A budget of its own per test, so documents never collide across tests or runs. */
function uniqueBudget(limitInNanos: number): SpendBudget {
  counter += 1;
  return {
    scope: { kind: 'tag', key: 'test', value: `${Date.now().toString(36)}-${counter}` },
    period: 'monthly',
    limitInNanos,
    action: 'stop',
  };
}

/** The budget period store contract. Every adapter (in memory, Cosmos) must pass it unchanged. */
export function describeSpendBudgetStoreConformance(name: string, getStore: () => SpendBudgetStore): void {
  describe(`SpendBudgetStore contract: ${name}`, () => {
    it('creates a period once, replaces it only at its current ETag, and reads back what was written', async () => {
      const store = getStore();
      const state = emptyBudgetPeriod(uniqueBudget(1_000), '2026-12');
      expect(await store.get(state.id)).toBeUndefined();
      const first = await store.create(state);
      expect(first).toBeDefined();
      expect(await store.create(state)).toBeUndefined();

      const next = { ...state, committedInNanos: 7, reservedInNanos: 3, calls: 1, alerted: [50], exhaustedAtInMs: 9 };
      const second = await store.replace(next, first!);
      expect(second).toBeDefined();
      expect(await store.replace({ ...next, calls: 99 }, first!)).toBeUndefined();
      expect(await store.get(state.id)).toEqual({ state: next, etag: second });
    });

    it('does not replace a period that does not exist', async () => {
      const store = getStore();
      const state = emptyBudgetPeriod(uniqueBudget(1_000), '2026-12');
      expect(await store.replace(state, '"stale"')).toBeUndefined();
      expect(await store.get(state.id)).toBeUndefined();
    });

    it('two instances reserving at once never hold more than the limit together, and admit exactly what fits', async () => {
      const store = getStore();
      const budget = uniqueBudget(1_000);
      const initial = emptyBudgetPeriod(budget, '2026-12');
      const instances = [new BudgetPeriodWriter(store), new BudgetPeriodWriter(store)];
      const reserve = (writer: BudgetPeriodWriter) =>
        writer.update(initial, (state) =>
          state.reservedInNanos + 30 <= budget.limitInNanos
            ? { state: { ...state, reservedInNanos: state.reservedInNanos + 30 }, result: true }
            : { result: false },
        );
      const admitted = await Promise.all(Array.from({ length: 40 }, (_, i) => reserve(instances[i % 2]!)));
      expect(admitted.filter(Boolean)).toHaveLength(33);
      expect((await store.get(initial.id))!.state.reservedInNanos).toBe(990);
    });
  });
}
