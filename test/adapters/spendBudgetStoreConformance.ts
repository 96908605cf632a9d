import { describe, expect, it } from 'vitest';
import { BudgetPeriodWriter } from '../../src/app/BudgetPeriodWriter.js';
import { noMetrics, type SpendBudgetStore } from '../../src/app/ports.js';
import { BudgetMeter, type BudgetDeps } from '../../src/app/budgetSpend.js';
import { silentLogger } from '../../src/app/Logger.js';
import type { Job } from '../../src/core/job.js';
import { budgetPeriodId, emptyBudgetPeriod, type SpendBudget } from '../../src/core/spendBudgets.js';

const NOW = Date.UTC(2026, 11, 7, 12);

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

    it('two instances spending against one budget: each alert threshold is claimed by exactly one of them', async () => {
      const store = getStore();
      const budget = uniqueBudget(100_000);
      const alerts: number[] = [];
      const instance = (): BudgetDeps => ({
        budgets: [budget],
        budgetPeriods: new BudgetPeriodWriter(store),
        sender: { post: async () => ({ status: 200 }) },
        target: undefined,
        clock: { nowInMs: () => NOW },
        metrics: noMetrics,
        logger: {
          ...silentLogger,
          warn: (message: string) => {
            const reached = /: (\d+)% reached/.exec(message);
            if (reached !== null) alerts.push(Number(reached[1]));
          },
        },
      });
      const instances = [instance(), instance()];
      const job = { id: 'job', deployment: 'd', tags: { test: budget.scope.kind === 'tag' ? budget.scope.value : '' } };
      const spendOnce = async (deps: BudgetDeps) => {
        const meter = new BudgetMeter(job as unknown as Job, deps);
        const hold = await meter.reserve(4_000, NOW);
        if ('holds' in hold) meter.bill(hold, 3_000, '2026-12-07');
        await meter.flush();
      };
      for (let round = 0; round < 20; round += 1) await Promise.all(instances.map(spendOnce));
      expect(alerts.sort()).toEqual([100, 50, 80]);
      const { state } = (await store.get(budgetPeriodId(budget, '2026-12')))!;
      expect(state.alerted.slice().sort()).toEqual([100, 50, 80]);
      expect(state.committedInNanos).toBe(state.calls * 3_000);
      expect(state.committedInNanos).toBeLessThanOrEqual(100_000);
      expect(state.reservedInNanos).toBe(0);
    });
  });
}
