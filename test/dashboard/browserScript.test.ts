import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { JobPage } from '../../src/app/jobQueries.js';
import type { CostReport } from '../../src/core/costReport.js';
import { money, utcDays } from '../../src/dashboard/browser/format.js';
import type { WireBudgetUse, WireCostReport, WireJobsPage } from '../../src/dashboard/browser/wire.js';
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
});
