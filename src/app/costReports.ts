import {
  COST_DIMENSIONS,
  CostReportBuilder,
  isTagDimension,
  TAG_DIMENSION_PREFIX,
  type CostDimension,
  type CostReport,
} from '../core/costReport.js';
import { BadRequestError } from '../core/errors.js';
import { parseTagPair, parseTags } from '../core/tags.js';
import type { RollupStore } from './ports.js';

/** Longest range one report may cover, so a request cannot ask the store for years of rollups. */
export const MAX_REPORT_DAYS = 366;

export const REPORT_FORMATS = ['json', 'csv'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface CostReportQuery {
  readonly from: string;
  readonly to: string;
  readonly groupBy: readonly CostDimension[];
  /** Tag pairs every counted rollup must carry; absent = none. */
  readonly filter?: Readonly<Record<string, string>> | undefined;
  readonly format: ReportFormat;
}

const DAY_IN_MS = 86_400_000;

function parseDay(value: string | null, parameter: string): string {
  if (value === null || value === '')
    throw new BadRequestError(`${parameter} is required: a UTC day as YYYY-MM-DD`, parameter);
  const atInMs = Date.parse(`${value}T00:00:00Z`);
  // Date.parse rolls 2026-02-30 over into March: a real day reads back unchanged.
  const valid =
    /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(atInMs) && new Date(atInMs).toISOString().slice(0, 10) === value;
  if (!valid)
    throw new BadRequestError(
      `${parameter} must be a calendar day as YYYY-MM-DD, got ${JSON.stringify(value)}`,
      parameter,
    );
  return value;
}

/**
 * Reads `from`, `to`, `groupBy` (day, model, job, tag:<key>, or a comma list such as day,tag:project),
 * `filter` (`tag:<key>=<value>`, repeatable or comma-separated: all must hold) and `format`.
 */
export function parseCostReportQuery(query: {
  get(name: string): string | null;
  getAll?(name: string): string[];
}): CostReportQuery {
  const from = parseDay(query.get('from'), 'from');
  const to = parseDay(query.get('to'), 'to');
  if (to < from) throw new BadRequestError(`to (${to}) is before from (${from})`, 'to');
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_IN_MS + 1;
  if (days > MAX_REPORT_DAYS)
    throw new BadRequestError(`from..to covers ${days} days; at most ${MAX_REPORT_DAYS} per report`, 'to');
  const groupBy = parseGroupBy(query.get('groupBy') ?? 'day');
  const filter = parseFilter(query.getAll?.('filter') ?? [query.get('filter')].filter((f) => f !== null));
  const format = query.get('format') ?? 'json';
  if (!(REPORT_FORMATS as readonly string[]).includes(format))
    throw new BadRequestError(`format must be one of ${REPORT_FORMATS.join(', ')}`, 'format');
  return { from, to, groupBy, filter, format: format as ReportFormat };
}

/** A comma list of report dimensions, each once: day, model, job or tag:<key>. */
export function parseGroupBy(text: string): CostDimension[] {
  // Tag keys ignore case, as tags do.
  const groupBy = text.split(',').map((d) => (isTagDimension(d.trim()) ? d.trim().toLowerCase() : d.trim()));
  const valid =
    groupBy.length > 0 &&
    groupBy.every((d) => (COST_DIMENSIONS as readonly string[]).includes(d) || isTagKeyDimension(d)) &&
    new Set(groupBy).size === groupBy.length;
  if (!valid) {
    throw new BadRequestError(
      `groupBy must be one of ${COST_DIMENSIONS.join(', ')} or tag:<key>, or several of them separated by commas (e.g. day,tag:project); got ${JSON.stringify(text)}`,
      'groupBy',
    );
  }
  return groupBy as CostDimension[];
}

function isTagKeyDimension(dimension: string): boolean {
  if (!isTagDimension(dimension)) return false;
  const key = dimension.slice(TAG_DIMENSION_PREFIX.length);
  return parseTags({ [key]: 'x' }).ok;
}

/** `tag:<key>=<value>` filters (each parameter may hold several, comma-separated) as one set of tag pairs. */
export function parseFilter(texts: readonly string[]): Record<string, string> {
  const filter: Record<string, string> = {};
  for (const text of texts.flatMap((t) => t.split(',')).map((t) => t.trim())) {
    if (text === '') continue;
    const pair = text.startsWith(TAG_DIMENSION_PREFIX)
      ? parseTagPair(text.slice(TAG_DIMENSION_PREFIX.length))
      : undefined;
    if (pair === undefined || !pair.ok) {
      const why = pair === undefined ? 'it does not start with tag:' : pair.error;
      throw new BadRequestError(`filter must be tag:<key>=<value>, got ${JSON.stringify(text)}: ${why}`, 'filter');
    }
    const [key, value] = pair.value;
    if (filter[key] !== undefined && filter[key] !== value)
      throw new BadRequestError(`filter names tag ${key} twice with different values`, 'filter');
    filter[key] = value;
  }
  return filter;
}

/** Spend over a range of UTC days, from the rollups (which equal the ledger). */
export async function getCostReport(
  rollups: RollupStore,
  query: CostReportQuery,
  options: { defaultCurrency: string },
): Promise<CostReport> {
  const builder = new CostReportBuilder({
    from: query.from,
    to: query.to,
    groupBy: query.groupBy,
    filter: query.filter,
    defaultCurrency: options.defaultCurrency,
  });
  for await (const rollup of rollups.listDays(query.from, query.to)) builder.add(rollup);
  return builder.build();
}
