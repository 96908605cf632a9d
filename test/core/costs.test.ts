import { describe, expect, it } from 'vitest';
import { parseCostReportQuery } from '../../src/app/costReports.js';
import { estimateJobCost } from '../../src/core/costEstimate.js';
import { buildCostReport, costReportCsv, csvField, rollupId, type CostRollup } from '../../src/core/costReport.js';
import { formatCostTable } from '../../cli/costsCommand.js';
import { loadConfig } from '../../src/config.js';
import { BadRequestError, ConfigError } from '../../src/core/errors.js';
import { formatNanos, parseAmountToNanos } from '../../src/core/money.js';
import { DEFAULT_PRICES } from '../../src/core/pricing.js';
import { spendingCapFromMetadata } from '../../src/core/spendingCap.js';
import { layoutCostChart } from '../../src/dashboard/costChart.js';

const rollup = (
  day: string,
  model: string,
  jobId: string,
  costInNanos: number,
  extra: Partial<CostRollup> = {},
): CostRollup => ({
  id: rollupId(day, model, jobId),
  day,
  model,
  jobId,
  calls: 1,
  promptTokens: 10,
  completionTokens: 5,
  costInNanos,
  currency: 'USD',
  refreshedAtInMs: 0,
  ...extra,
});

/** A small RFC 4180 reader, to prove the writer's output reads back to the same fields. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') {
        quoted = false;
        i += 1;
        continue;
      }
      field += c;
      i += 1;
      continue;
    }
    if (c === '"') {
      quoted = true;
      i += 1;
      continue;
    }
    if (c === ',') {
      record.push(field);
      field = '';
      i += 1;
      continue;
    }
    if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 2;
      continue;
    }
    if (c === '\n' || c === '\r') throw new Error(`bare line break at ${i}`);
    field += c;
    i += 1;
  }
  if (field !== '' || record.length > 0) throw new Error('the last record has no CRLF');
  return records;
}

describe('amounts in nano-units', () => {
  it('reads decimal amounts exactly and refuses anything else', () => {
    expect(parseAmountToNanos('2.50')).toBe(2_500_000_000);
    expect(parseAmountToNanos('0.000000001')).toBe(1);
    expect(parseAmountToNanos(' 3 ')).toBe(3_000_000_000);
    expect(parseAmountToNanos('0.1')).toBe(100_000_000);
    for (const bad of ['', '-1', '1e3', '1.', '.5', '1,5', '0.0000000001', 'abc', '12345678'])
      expect(parseAmountToNanos(bad)).toBeUndefined();
  });

  it('writes exact decimals, never exponents', () => {
    expect(formatNanos(2_500_000_000)).toBe('2.50');
    expect(formatNanos(125_000)).toBe('0.000125');
    expect(formatNanos(1)).toBe('0.000000001');
    expect(formatNanos(0)).toBe('0.00');
    expect(formatNanos(7_000_000_000, 0)).toBe('7');
  });
});

describe('the pre-flight estimate', () => {
  it("prices prompt tokens for the minimum and adds every max_tokens for the maximum, at the day's price", () => {
    const estimate = estimateJobCost(DEFAULT_PRICES, 'Phi-3-mini-4k-instruct', '2026-11-27', 1000, 500);
    expect(estimate).toEqual({
      minCostInNanos: 130_000,
      maxCostInNanos: 130_000 + 260_000,
      currency: 'USD',
      day: '2026-11-27',
      priceEffectiveFrom: '2024-01-01',
    });
    expect(estimateJobCost(DEFAULT_PRICES, 'unknown-model', '2026-11-27', 1, 1)).toBeUndefined();
  });
});

describe('the spending cap from blob metadata', () => {
  it('reads maxcost in any letter case, falls back to the default, and refuses to guess', () => {
    expect(spendingCapFromMetadata({ maxcost: '2.50' }, undefined)).toEqual({ maxCostInNanos: 2_500_000_000 });
    expect(spendingCapFromMetadata({ MaxCost: '1' }, 5)).toEqual({ maxCostInNanos: 1_000_000_000 });
    expect(spendingCapFromMetadata({}, 7)).toEqual({ maxCostInNanos: 7 });
    expect(spendingCapFromMetadata({ other: 'x' }, undefined)).toEqual({});
    const bad = spendingCapFromMetadata({ maxcost: 'two dollars' }, undefined);
    expect(bad.maxCostInNanos).toBe(0);
    expect(bad.jobError).toMatchObject({ code: 'invalid_max_cost', param: 'maxcost' });
  });
});

describe('cost reports', () => {
  const rollups = [
    rollup('2026-11-26', 'Phi-3-mini-4k-instruct', 'job_a', 1_000),
    rollup('2026-11-26', 'Phi-3-medium-4k-instruct', 'job_a', 2_000),
    rollup('2026-11-27', 'Phi-3-mini-4k-instruct', 'job_b', 4_000, { calls: 3, unconfirmedCalls: 1 }),
    rollup('2026-11-28', 'Phi-3-mini-4k-instruct', 'job_c', 8_000),
  ];

  it('groups by day, model, job or several, in exact integers, within the range', () => {
    const byDay = buildCostReport(rollups, {
      from: '2026-11-26',
      to: '2026-11-27',
      groupBy: ['day'],
      defaultCurrency: 'USD',
    });
    expect(byDay.rows.map((r) => [r.key, r.calls, r.cost_nanos])).toEqual([
      ['2026-11-26', 2, 3_000],
      ['2026-11-27', 3, 4_000],
    ]);
    expect(byDay.rows.map((r) => r.unconfirmed_calls)).toEqual([0, 1]);
    expect(byDay.total).toEqual({
      calls: 5,
      unconfirmed_calls: 1,
      input_tokens: 30,
      output_tokens: 15,
      total_tokens: 45,
      cost: 0.000007,
      cost_nanos: 7_000,
    });
    const byDayModel = buildCostReport(rollups, {
      from: '2026-11-26',
      to: '2026-11-28',
      groupBy: ['day', 'model'],
      defaultCurrency: 'USD',
    });
    expect(byDayModel.rows.map((r) => [r.day, r.model, r.cost_nanos])).toEqual([
      ['2026-11-26', 'Phi-3-medium-4k-instruct', 2_000],
      ['2026-11-26', 'Phi-3-mini-4k-instruct', 1_000],
      ['2026-11-27', 'Phi-3-mini-4k-instruct', 4_000],
      ['2026-11-28', 'Phi-3-mini-4k-instruct', 8_000],
    ]);
    expect(byDayModel.groupBy).toBe('day,model');
  });

  it('leaves out a rollup with no calls (its entries were all discarded)', () => {
    const emptied = rollup('2026-11-27', 'Phi-3-medium-4k-instruct', 'job_b', 0, {
      calls: 0,
      unconfirmedCalls: 0,
      promptTokens: 0,
      completionTokens: 0,
    });
    const report = buildCostReport([...rollups, emptied], {
      from: '2026-11-27',
      to: '2026-11-27',
      groupBy: ['model'],
      defaultCurrency: 'USD',
    });
    expect(report.rows.map((r) => [r.key, r.calls])).toEqual([['Phi-3-mini-4k-instruct', 3]]);
  });

  it('never adds amounts of different currencies', () => {
    const report = buildCostReport(
      [rollup('2026-11-26', 'm', 'j', 5), rollup('2026-11-26', 'm', 'k', 7, { currency: 'EUR' })],
      { from: '2026-11-26', to: '2026-11-26', groupBy: ['model'], defaultCurrency: 'USD' },
    );
    expect(report.currency).toBe('mixed');
    expect(report.rows.map((r) => [r.key, r.currency, r.cost_nanos])).toEqual([
      ['m', 'EUR', 7],
      ['m', 'USD', 5],
    ]);
    expect(report.total.cost).toBeNull();
  });

  it('writes RFC 4180 CSV: header, CRLF, fields with commas, quotes and line breaks quoted', () => {
    const awkward = 'Phi-3, "custom"\nedition';
    const report = buildCostReport(
      [rollup('2026-11-26', awkward, 'job_a', 123_456_789), rollup('2026-11-26', 'plain', 'job_a', 1)],
      { from: '2026-11-26', to: '2026-11-26', groupBy: ['model', 'day'], defaultCurrency: 'USD' },
    );
    const csv = costReportCsv(report);
    expect(csv.endsWith('\r\n')).toBe(true);
    expect(csv.replace(/\r\n/g, '').includes('\r')).toBe(false);
    expect(csv).toContain('"Phi-3, ""custom""\nedition"');
    const records = parseCsv(csv);
    expect(records).toEqual([
      [
        'model',
        'day',
        'calls',
        'unconfirmed_calls',
        'input_tokens',
        'output_tokens',
        'total_tokens',
        'cost',
        'currency',
      ],
      [awkward, '2026-11-26', '1', '0', '10', '5', '15', '0.123456789', 'USD'],
      ['plain', '2026-11-26', '1', '0', '10', '5', '15', '0.000000001', 'USD'],
    ]);
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('plain')).toBe('plain');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
  });
});

describe('the report query', () => {
  const query = (params: Record<string, string>) => parseCostReportQuery(new URLSearchParams(params));
  const refusal = (params: Record<string, string>): string | undefined => {
    try {
      query(params);
    } catch (error) {
      if (error instanceof BadRequestError) return error.parameter;
      throw error;
    }
    return undefined;
  };

  it('accepts a range, a grouping and a format', () => {
    expect(query({ from: '2026-01-01', to: '2026-12-31', groupBy: 'day,model', format: 'csv' })).toEqual({
      from: '2026-01-01',
      to: '2026-12-31',
      groupBy: ['day', 'model'],
      filter: {},
      format: 'csv',
    });
    expect(query({ from: '2026-01-01', to: '2026-01-01' })).toMatchObject({ groupBy: ['day'], format: 'json' });
  });

  it('refuses bad parameters, naming each', () => {
    expect(refusal({ to: '2026-01-01' })).toBe('from');
    expect(refusal({ from: '2026-02-30', to: '2026-03-01' })).toBe('from');
    expect(refusal({ from: '2026-13-01', to: '2026-12-01' })).toBe('from');
    expect(refusal({ from: '2026-01-01', to: '26-1-2' })).toBe('to');
    expect(refusal({ from: '2026-01-02', to: '2026-01-01' })).toBe('to');
    expect(refusal({ from: '2024-01-01', to: '2025-01-01' })).toBe('to'); // 367 days
    expect(refusal({ from: '2024-01-01', to: '2024-12-31' })).toBeUndefined(); // 366 days
    expect(refusal({ from: '2026-01-01', to: '2026-01-01', groupBy: 'week' })).toBe('groupBy');
    expect(refusal({ from: '2026-01-01', to: '2026-01-01', groupBy: 'day,day' })).toBe('groupBy');
    expect(refusal({ from: '2026-01-01', to: '2026-01-01', format: 'xml' })).toBe('format');
  });
});

describe('the cost chart layout', () => {
  const days = ['2026-11-26', '2026-11-27', '2026-11-28'];

  it('stacks one bar per day and model, heights proportional to cost, within the plot', () => {
    const layout = layoutCostChart(
      [
        { day: '2026-11-26', model: 'a', cost: 0.3 },
        { day: '2026-11-26', model: 'b', cost: 0.1 },
        { day: '2026-11-28', model: 'a', cost: 0.8 },
      ],
      days,
      { width: 400, height: 200 },
    );
    expect(layout.scaleMax).toBe(1);
    expect(layout.models.map((m) => m.model)).toEqual(['a', 'b']);
    expect(layout.bars.map((b) => [b.day, b.model])).toEqual([
      ['2026-11-26', 'a'],
      ['2026-11-26', 'b'],
      ['2026-11-28', 'a'],
    ]);
    const [a26, b26, a28] = layout.bars;
    expect(a26!.height / a28!.height).toBeCloseTo(0.3 / 0.8, 2);
    expect(b26!.y + b26!.height).toBeCloseTo(a26!.y, 1); // b sits on a
    for (const bar of layout.bars) {
      expect(bar.y).toBeGreaterThanOrEqual(layout.plot.top);
      expect(bar.y + bar.height).toBeLessThanOrEqual(layout.plot.top + layout.plot.height + 0.01);
    }
  });

  it('draws a tiny cost at least a pixel tall, and nothing for no cost', () => {
    const layout = layoutCostChart(
      [
        { day: '2026-11-27', model: 'a', cost: 1e-9 },
        { day: '2026-11-28', model: 'a', cost: 5 },
      ],
      days,
      { width: 400, height: 200 },
    );
    expect(layout.bars.find((b) => b.day === '2026-11-27')!.height).toBe(1);
    expect(layoutCostChart([], days, { width: 400, height: 200 }).bars).toEqual([]);
  });
});

describe('cost settings', () => {
  const base = {
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    COSMOS_ENDPOINT: 'https://127.0.0.1:8081',
    PHI3_ENDPOINT: 'https://x.example',
    PHI3_API_KEY: 'k',
  };

  it('reads the rollups container and the default cap, and names a bad cap', () => {
    expect(loadConfig(base)).toMatchObject({
      cosmos: { rollupsContainer: 'rollups' },
      defaultMaxCostPerJobInNanos: undefined,
    });
    expect(loadConfig({ ...base, COSMOS_ROLLUPS_CONTAINER: 'spend', DEFAULT_MAX_COST_PER_JOB: '12.5' })).toMatchObject({
      cosmos: { rollupsContainer: 'spend' },
      defaultMaxCostPerJobInNanos: 12_500_000_000,
    });
    expect(() => loadConfig({ ...base, DEFAULT_MAX_COST_PER_JOB: '$5' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, DEFAULT_MAX_COST_PER_JOB: '$5' })).toThrow(/DEFAULT_MAX_COST_PER_JOB/);
  });
});

describe("the costs command's table", () => {
  it('aligns the columns, prints exact amounts and a total line', () => {
    const report = buildCostReport(
      [
        rollup('2026-11-26', 'Phi-3-mini-4k-instruct', 'job_a', 1_234_567, { calls: 1200, promptTokens: 98_765 }),
        rollup('2026-11-27', 'Phi-3, custom', 'job_a', 5),
      ],
      { from: '2026-11-26', to: '2026-11-27', groupBy: ['model', 'day'], defaultCurrency: 'USD' },
    );
    expect(formatCostTable(report).split('\n')).toEqual([
      'Costs 2026-11-26 to 2026-11-27 (UTC days), by model and day',
      'MODEL                   DAY         CALLS  INPUT TOKENS  OUTPUT TOKENS  TOTAL TOKENS          COST',
      'Phi-3, custom           2026-11-27      1            10              5            15  $0.000000005',
      'Phi-3-mini-4k-instruct  2026-11-26  1,200        98,765              5        98,770  $0.001234567',
      'TOTAL                               1,201        98,775             10        98,785  $0.001234572',
    ]);
  });
});
