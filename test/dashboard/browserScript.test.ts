import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { JobPage } from '../../src/app/jobQueries.js';
import type { CostReport } from '../../src/core/costReport.js';
import { money, percent, priorityLabel, utcDays } from '../../src/dashboard/browser/format.js';
import { sharesByDeployment } from '../../src/dashboard/browser/shares.js';
import type { WireBudgetUse, WireCostReport, WireJob, WireJobsPage } from '../../src/dashboard/browser/wire.js';
import type { BudgetUseReport } from '../../src/app/budgetUse.js';
import { browserScript } from '../../src/dashboard/browserScript.js';
import { bundleBrowserScript } from '../../scripts/bundleBrowserScript.js';

const entry = fileURLToPath(new URL('../../src/dashboard/browser/dashboard.ts', import.meta.url));

describe("the dashboard's browser script", () => {
  it('reads only fields that the API answers with (checked by the compiler)', () => {
    expectTypeOf<JobPage>().toExtend<WireJobsPage>();
    expectTypeOf<CostReport>().toExtend<WireCostReport>();
    expectTypeOf<BudgetUseReport>().toExtend<WireBudgetUse>();
  });

  it('is bundled into one classic script, chart layout included', () => {
    const script = bundleBrowserScript(entry);
    expect(script.startsWith('"use strict";\n(() => {')).toBe(true);
    // Parses as a plain script: no import or export is left for the browser to resolve.
    expect(() => new Script(script)).not.toThrow();
    expect(script).toContain('function layoutCostChart(');
    expect(script).toContain('function renderBudgetGauges(');
    expect(script).toContain('function renderBudgetShares(');
  });

  it('is served as built from the current sources', () => {
    expect(browserScript()).toBe(bundleBrowserScript(entry));
  });

  it('shows small amounts with two significant digits and no exponent', () => {
    expect(money(null, 'USD')).toBe('–');
    expect(money(0, 'USD')).toBe('$0.00');
    expect(money(12.5, 'USD')).toBe('$12.50');
    expect(money(0.000123, 'USD')).toBe('$0.00012');
    expect(money(0.00000004, 'USD')).toBe('$0.00000004');
    expect(money(0.5, 'EUR')).toBe('0.50 EUR');
  });

  it('lists the last days in UTC, oldest first, ending with today', () => {
    expect(utcDays(3, Date.UTC(2026, 0, 1, 23, 59))).toEqual(['2025-12-30', '2025-12-31', '2026-01-01']);
  });

  it('groups the running jobs’ shares by deployment, largest first, leaving out jobs without one', () => {
    const job = (id: string, deployment: string, priority: string | number, share: number | null): WireJob => ({
      id,
      deployment,
      priority,
      share,
      status: share === null ? 'completed' : 'in_progress',
      input_blob: 'c/n.jsonl',
      request_counts: { total: 1, completed: 0, failed: 0 },
      ingest: { done: true },
      cost_so_far: { amount: 0, currency: 'USD' },
      estimate: { min_cost: null, max_cost: null, currency: 'USD' },
      spending_cap: null,
    });
    const groups = sharesByDeployment([
      job('a', 'mini', 'low', 0.03),
      job('b', 'mini', 'high', 0.88),
      job('c', 'medium', 7, 0.5),
      job('d', 'mini', 'normal', null),
    ]);
    expect([...groups].map(([name, jobs]) => [name, jobs.map((j) => j.id)])).toEqual([
      ['medium', ['c']],
      ['mini', ['b', 'a']],
    ]);
    expect([percent(0.625), percent(1.2), priorityLabel(7), priorityLabel('high')]).toEqual([
      '63%',
      '100%',
      'weight 7',
      'high',
    ]);
  });
});
