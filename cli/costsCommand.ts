import { Option, type Command } from 'commander';
import {
  COST_DIMENSIONS,
  isTagDimension,
  type CostDimension,
  type CostReport,
  type CostTotals,
} from '../src/core/costReport.js';
import { formatNanos } from '../src/core/money.js';
import { readApiSettings } from './cliSettings.js';
import { writeLine, type CliContext, type GlobalOptions } from './cliContext.js';
import { CostsApiClient } from './costsApi.js';
import { CliErrorCode, CliUsageError } from './errors.js';
import { formatCount } from './format.js';

export interface CostsCommandOptions {
  readonly from?: string;
  readonly to?: string;
  readonly by?: string;
  readonly groupBy?: string;
  readonly filter?: readonly string[];
  readonly csv?: boolean;
}

const DEFAULT_DAYS = 30;
const DAY_IN_MS = 86_400_000;
const HEADINGS: Readonly<Record<string, string>> = { day: 'DAY', model: 'MODEL', job: 'JOB' };
const heading = (dimension: CostDimension): string => HEADINGS[dimension] ?? dimension.toUpperCase();

/** Adds `phi3-batch costs` to the program. */
export function registerCostsCommand(
  program: Command,
  context: CliContext,
  setExitCode: (code: number) => void,
): Command {
  return program
    .command('costs')
    .description(
      'spend per day, model, job or tag over a range of UTC days (from the cost rollups, which equal the usage ledger)',
    )
    .option('--from <day>', `first UTC day, YYYY-MM-DD (default: ${DEFAULT_DAYS - 1} days before --to)`)
    .option('--to <day>', 'last UTC day, YYYY-MM-DD (default: today)')
    .addOption(
      new Option(
        '--by <dimension>',
        `group by ${COST_DIMENSIONS.join(', ')} or tag:<key>, or several joined by commas`,
      ).default('day'),
    )
    .option('--group-by <dimension>', 'the same as --by (e.g. --group-by tag:project)')
    .option(
      '--filter <tag:key=value>',
      'count only jobs with this tag (repeatable: all must hold)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--csv', 'print the report as CSV (RFC 4180) instead of a table')
    .action(async (options: CostsCommandOptions, command: Command) => {
      setExitCode(await costsCommand(options, command.optsWithGlobals<GlobalOptions>(), context));
    });
}

export async function costsCommand(
  options: CostsCommandOptions,
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  const to = options.to ?? new Date(context.clock.nowInMs()).toISOString().slice(0, 10);
  requireDay(to, '--to');
  const from =
    options.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - (DEFAULT_DAYS - 1) * DAY_IN_MS).toISOString().slice(0, 10);
  requireDay(from, '--from');
  const by = options.groupBy ?? options.by ?? 'day';
  const dimensions = by.split(',').map((d) => d.trim());
  // The API checks tag keys and filters itself, and its 400 names what is wrong.
  if (
    !dimensions.every((d) => (COST_DIMENSIONS as readonly string[]).includes(d) || isTagDimension(d)) ||
    new Set(dimensions).size !== dimensions.length
  ) {
    throw new CliUsageError(
      CliErrorCode.invalidOption,
      `--by must be ${COST_DIMENSIONS.join(', ')} or tag:<key>, or several of them joined by commas, got ${JSON.stringify(by)}`,
    );
  }
  const settings = readApiSettings(context.env, { apiUrl: globals.apiUrl });
  const client = new CostsApiClient({
    baseUrl: settings.apiUrl,
    functionKey: settings.functionKey,
    ...(context.dispatcher === undefined ? {} : { dispatcher: context.dispatcher }),
  });
  const call = context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal };
  const query = { from, to, groupBy: dimensions.join(','), filter: options.filter ?? [] };
  if (options.csv === true) {
    context.stdout.write(await client.getCostsCsv(query, call));
    return 0;
  }
  writeLine(context.stdout, formatCostTable(await client.getCosts(query, call)));
  return 0;
}

function requireDay(value: string, option: string): void {
  const atInMs = Date.parse(`${value}T00:00:00Z`);
  const valid =
    /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(atInMs) && new Date(atInMs).toISOString().startsWith(value);
  if (!valid)
    throw new CliUsageError(
      CliErrorCode.invalidOption,
      `${option} must be a day as YYYY-MM-DD, got ${JSON.stringify(value)}`,
    );
}

/** Exact amounts: a cost report is read to reconcile, so nothing is rounded away. */
function formatAmount(nanos: number | null, currency: string): string {
  if (nanos === null) return '(several currencies)';
  const digits = formatNanos(nanos, 2);
  return currency === 'USD' ? `$${digits}` : `${digits} ${currency}`;
}

/** The report as an aligned table with a total line. */
export function formatCostTable(report: CostReport): string {
  const dimensions = report.groupBy.split(',') as CostDimension[];
  const metrics = (t: CostTotals, currency: string): string[] => [
    formatCount(t.calls),
    formatCount(t.input_tokens),
    formatCount(t.output_tokens),
    formatCount(t.total_tokens),
    formatAmount(t.cost_nanos, currency),
  ];
  const header = [...dimensions.map(heading), 'CALLS', 'INPUT TOKENS', 'OUTPUT TOKENS', 'TOTAL TOKENS', 'COST'];
  const body = report.rows.map((row) => [
    ...dimensions.map((d) => (isTagDimension(d) && row[d] === '' ? '(untagged)' : (row[d] ?? ''))),
    ...metrics(row, row.currency),
  ]);
  const total = ['TOTAL', ...dimensions.slice(1).map(() => ''), ...metrics(report.total, report.currency)];
  const table = [header, ...body, total];
  const widths = header.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)));
  const numeric = (column: number): boolean => column >= dimensions.length;
  const render = (cells: string[]): string =>
    cells
      .map((cell, column) => (numeric(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  const lines = [
    `Costs ${report.from} to ${report.to} (UTC days), by ${dimensions.join(' and ')}${filterText(report)}`,
    render(header),
    ...body.map(render),
  ];
  if (report.rows.length === 0) lines.push('(no billed calls in this range)');
  lines.push(render(total));
  if (report.total.unconfirmed_calls > 0) {
    lines.push(
      `${formatCount(report.total.unconfirmed_calls)} of the calls are unconfirmed: sent, but the answer never reached a worker (timeout or crash); the endpoint may have billed them, their tokens are not in these sums.`,
    );
  }
  return lines.join('\n');
}

function filterText(report: CostReport): string {
  const pairs = Object.entries(report.filter ?? {});
  return pairs.length === 0 ? '' : `, jobs tagged ${pairs.map(([key, value]) => `${key}=${value}`).join(' and ')}`;
}
