import { formatNanos, nanosToNumber } from './money.js';

/**
 * Cost of one job's calls on one UTC day with one model: the unit of reports. Always a recomputation
 * of the ledger (never incremented), so it equals the ledger's sums for its key.
 */
export interface CostRollup {
  /** `${day}|${model}|${jobId}` (see {@link rollupId}). */
  readonly id: string;
  readonly day: string;
  readonly model: string;
  readonly jobId: string;
  readonly calls: number;
  /** Calls whose answer never reached us (timeout, crash): counted, their tokens unknown. Absent on older rollups. */
  readonly unconfirmedCalls?: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly costInNanos: number;
  readonly currency: string;
  readonly refreshedAtInMs: number;
  /** The job's tags, copied from its ledger entries: reports group and filter by them. Absent = none. */
  readonly tags?: Readonly<Record<string, string>>;
}

export interface RollupKey {
  readonly day: string;
  readonly model: string;
}

/** Cosmos ids may not contain / \ ? #; model names are configuration, so they are made safe here. */
export function rollupId(day: string, model: string, jobId: string): string {
  return `${day}|${model.replace(/[/\\?#]/g, '_')}|${jobId}`;
}

export const COST_DIMENSIONS = ['day', 'model', 'job'] as const;
/** A tag's key as a report dimension: `tag:project` groups by the value of the `project` tag. */
export type TagDimension = `tag:${string}`;
export type CostDimension = (typeof COST_DIMENSIONS)[number] | TagDimension;

export const TAG_DIMENSION_PREFIX = 'tag:';

/** Rows of rollups without the grouped tag show this value (a tag value is never empty). */
export const UNTAGGED = '';

export function isTagDimension(dimension: string): dimension is TagDimension {
  return dimension.startsWith(TAG_DIMENSION_PREFIX);
}

export interface CostTotals {
  readonly calls: number;
  /** Of `calls`, those whose answer never reached the worker: possibly billed, tokens unknown (not in the sums). */
  readonly unconfirmed_calls: number;
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly total_tokens: number;
  /** In `currency`, exact to the nano-unit; null when the rows mix currencies. */
  readonly cost: number | null;
  /** The same in integer nano-units (1e-9 of the currency), for exact reconciliation. */
  readonly cost_nanos: number | null;
}

export interface CostReportRow extends CostTotals {
  /** The grouping values joined by "|", in `groupBy` order. */
  readonly key: string;
  readonly day?: string;
  readonly model?: string;
  readonly job?: string;
  /** A grouped tag's value (`"tag:project": "apollo"`), empty for jobs without that tag. */
  readonly [tag: TagDimension]: string;
  readonly currency: string;
  readonly cost: number;
  readonly cost_nanos: number;
}

export interface CostReport {
  readonly from: string;
  readonly to: string;
  readonly groupBy: string;
  /** The tag pairs a rollup had to carry to be counted (`filter=tag:project=apollo`); absent = all. */
  readonly filter?: Readonly<Record<string, string>>;
  /** The rows' currency; "mixed" when prices in the range use several (then `total.cost` is null). */
  readonly currency: string;
  readonly rows: readonly CostReportRow[];
  readonly total: CostTotals;
}

interface Sum {
  calls: number;
  unconfirmedCalls: number;
  promptTokens: number;
  completionTokens: number;
  costInNanos: number;
}

function valueOf(rollup: CostRollup, dimension: CostDimension): string {
  if (isTagDimension(dimension)) return rollup.tags?.[dimension.slice(TAG_DIMENSION_PREFIX.length)] ?? UNTAGGED;
  return dimension === 'day' ? rollup.day : dimension === 'model' ? rollup.model : rollup.jobId;
}

export interface CostReportOptions {
  readonly from: string;
  readonly to: string;
  readonly groupBy: readonly CostDimension[];
  /** Only rollups whose tags hold every one of these pairs; absent or empty = all. */
  readonly filter?: Readonly<Record<string, string>> | undefined;
  readonly defaultCurrency: string;
}

/** Sums rollups by the chosen dimensions, in exact integers, one rollup at a time (rows sorted by key). */
export class CostReportBuilder {
  readonly #options: CostReportOptions;
  readonly #groups = new Map<string, { values: string[]; currency: string; sum: Sum }>();
  readonly #currencies = new Set<string>();
  readonly #total: Sum = { calls: 0, unconfirmedCalls: 0, promptTokens: 0, completionTokens: 0, costInNanos: 0 };

  constructor(options: CostReportOptions) {
    this.#options = options;
  }

  add(rollup: CostRollup): void {
    if (rollup.day < this.#options.from || rollup.day > this.#options.to) return;
    // A rollup with no calls (its entries were all discarded) has nothing to report.
    if (rollup.calls === 0) return;
    const filter = this.#options.filter ?? {};
    if (!Object.entries(filter).every(([key, value]) => rollup.tags?.[key] === value)) return;
    const values = this.#options.groupBy.map((d) => valueOf(rollup, d));
    // Amounts of different currencies are never added: the currency is part of the group.
    const id = JSON.stringify([...values, rollup.currency]);
    let group = this.#groups.get(id);
    if (group === undefined)
      this.#groups.set(
        id,
        (group = {
          values,
          currency: rollup.currency,
          sum: { calls: 0, unconfirmedCalls: 0, promptTokens: 0, completionTokens: 0, costInNanos: 0 },
        }),
      );
    add(group.sum, rollup);
    add(this.#total, rollup);
    this.#currencies.add(rollup.currency);
  }

  build(): CostReport {
    const { groupBy } = this.#options;
    const rows = [...this.#groups.values()]
      .map(({ values, currency, sum }): CostReportRow => {
        const dimensions: Partial<Record<string, string>> = {};
        groupBy.forEach((d, i) => (dimensions[d] = values[i]!));
        return {
          key: values.join('|'),
          ...dimensions,
          ...totalsOf(sum),
          cost: nanosToNumber(sum.costInNanos),
          cost_nanos: sum.costInNanos,
          currency,
        };
      })
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.currency < b.currency ? -1 : 1));
    const single = this.#currencies.size <= 1;
    return {
      from: this.#options.from,
      to: this.#options.to,
      groupBy: groupBy.join(','),
      ...(this.#options.filter === undefined || Object.keys(this.#options.filter).length === 0
        ? {}
        : { filter: this.#options.filter }),
      currency: single ? ([...this.#currencies][0] ?? this.#options.defaultCurrency) : 'mixed',
      rows,
      total: {
        ...totalsOf(this.#total),
        cost: single ? nanosToNumber(this.#total.costInNanos) : null,
        cost_nanos: single ? this.#total.costInNanos : null,
      },
    };
  }
}

export function buildCostReport(rollups: Iterable<CostRollup>, options: CostReportOptions): CostReport {
  const builder = new CostReportBuilder(options);
  for (const rollup of rollups) builder.add(rollup);
  return builder.build();
}

function add(sum: Sum, rollup: CostRollup): void {
  sum.calls += rollup.calls;
  sum.unconfirmedCalls += rollup.unconfirmedCalls ?? 0;
  sum.promptTokens += rollup.promptTokens;
  sum.completionTokens += rollup.completionTokens;
  sum.costInNanos += rollup.costInNanos;
}

function totalsOf(sum: Sum): Omit<CostTotals, 'cost' | 'cost_nanos'> {
  return {
    calls: sum.calls,
    unconfirmed_calls: sum.unconfirmedCalls,
    input_tokens: sum.promptTokens,
    output_tokens: sum.completionTokens,
    total_tokens: sum.promptTokens + sum.completionTokens,
  };
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF; quotes doubled. */
export function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The report as RFC 4180 CSV: a header row, one record per row, CRLF line ends. Costs are written as
 * exact decimals (never in exponent notation), so a spreadsheet sums them without rounding.
 */
export function costReportCsv(report: CostReport): string {
  const dimensions = report.groupBy.split(',') as CostDimension[];
  const header = [
    ...dimensions,
    'calls',
    'unconfirmed_calls',
    'input_tokens',
    'output_tokens',
    'total_tokens',
    'cost',
    'currency',
  ];
  const lines = [header.map(csvField).join(',')];
  for (const row of report.rows) {
    const cells: Array<string | number> = [
      ...dimensions.map((d) => row[d] ?? ''),
      row.calls,
      row.unconfirmed_calls,
      row.input_tokens,
      row.output_tokens,
      row.total_tokens,
      formatNanos(row.cost_nanos, 2),
      row.currency,
    ];
    lines.push(cells.map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
