import type { BatchObject } from '../src/core/batchObject.js';
import { formatCost, formatCount, formatDurationInSeconds, formatTimestamp, formatTokens } from './format.js';
import { describeProgress, formatPercent } from './jobProgress.js';

export interface FormatJobSummaryOptions {
  /** For a job still running: its duration so far is measured up to this instant. */
  readonly nowInMs?: number;
}

/** A multi-line human summary of one job. Pure: the same job always gives the same text. */
export function formatJobSummary(job: BatchObject, options: FormatJobSummaryOptions = {}): string {
  const rows: [string, string][] = [];
  const progress = describeProgress(job);
  rows.push([
    'Status',
    progress.fraction === undefined ? job.status : `${job.status} (${formatPercent(progress.fraction)})`,
  ]);
  rows.push(['Input', job.input_blob]);
  rows.push([
    'Model',
    job.requested_model !== null && job.requested_model !== job.model
      ? `${job.model} (file asked for ${job.requested_model})`
      : job.model,
  ]);
  const reading = job.ingest.done ? '' : ', still reading';
  rows.push([
    'Lines',
    `${formatCount(job.ingest.lines_read)} read: ${formatCount(job.ingest.requests)} requests, ${formatCount(job.ingest.invalid_lines)} invalid${reading}`,
  ]);
  rows.push(['Succeeded', formatCount(job.request_counts.completed)]);
  rows.push(['Failed', formatCount(job.request_counts.failed)]);
  for (const [label, value] of failureBreakdown(job)) rows.push([`  ${label}`, value]);
  const jobError = job.errors.data.find((e) => e.line === null);
  if (jobError !== undefined) rows.push(['Error', `${jobError.code}: ${jobError.message}`]);
  rows.push([
    'Tokens',
    `${formatCount(job.usage.input_tokens)} in, ${formatCount(job.usage.output_tokens)} out, ${formatCount(job.usage.total_tokens)} total`,
  ]);
  rows.push(['Cost', formatCost(job.cost)]);
  // A server older than the response cache sends no `cache`.
  const cache = (job as Partial<BatchObject>).cache;
  if (cache !== undefined && cache.hits > 0)
    rows.push(['Cached', `${formatCount(cache.hits)} lines answered from the cache, ${formatCost(cache.saved)} saved`]);
  rows.push(['Duration', formatDuration(job, options.nowInMs)]);
  if (job.output_blob !== null) rows.push(['Output', job.output_blob]);
  if (job.error_blob !== null) rows.push(['Errors', job.error_blob]);

  const width = Math.max(...rows.map(([label]) => label.length));
  return [job.id, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)].join('\n');
}

/**
 * Failed lines by error code. The job lists validation errors by code (up to a cap); failures of
 * the requests themselves are itemised only in the error file.
 */
function failureBreakdown(job: BatchObject): [string, string][] {
  const byCode = new Map<string, number>();
  let listed = 0;
  for (const error of job.errors.data) {
    if (error.line === null) continue;
    byCode.set(error.code, (byCode.get(error.code) ?? 0) + 1);
    listed += 1;
  }
  const rows: [string, string][] = [...byCode]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([code, count]) => [code, formatCount(count)]);
  const unlisted = job.ingest.invalid_lines - listed;
  if (unlisted > 0) rows.push(['other invalid lines', formatCount(unlisted)]);
  const requestFailures = job.request_counts.failed - job.ingest.invalid_lines;
  if (requestFailures > 0)
    rows.push(['failed requests', `${formatCount(requestFailures)} (codes per line in the error file)`]);
  return rows;
}

function formatDuration(job: BatchObject, nowInMs: number | undefined): string {
  const start = job.created_at;
  if (start === null) return '-';
  const end = job.completed_at ?? job.failed_at ?? job.cancelled_at;
  if (end !== null)
    return `${formatDurationInSeconds(end - start)} (${formatTimestamp(start)} to ${formatTimestamp(end)})`;
  if (nowInMs !== undefined)
    return `${formatDurationInSeconds(nowInMs / 1000 - start)} so far (since ${formatTimestamp(start)})`;
  return `started ${formatTimestamp(start)}`;
}

const TABLE_HEADER = ['ID', 'STATUS', 'DONE/TOTAL', 'TOKENS IN/OUT', 'COST', 'CREATED'] as const;

/** Recent jobs as an aligned text table, one row per job. */
export function formatJobTable(jobs: readonly BatchObject[]): string {
  if (jobs.length === 0) return 'No jobs yet.';
  const rows = jobs.map((job) => {
    // A `+` marks a total that is still growing while the file is read.
    const total = `${formatCount(job.request_counts.total)}${job.ingest.done ? '' : '+'}`;
    const done = job.request_counts.completed + job.request_counts.failed;
    return [
      job.id,
      job.status,
      `${formatCount(done)}/${total}`,
      `${formatTokens(job.usage.input_tokens)}/${formatTokens(job.usage.output_tokens)}`,
      formatCost(job.cost),
      formatTimestamp(job.created_at),
    ];
  });
  const all = [[...TABLE_HEADER], ...rows];
  const widths = TABLE_HEADER.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  return all
    .map((row) =>
      row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '),
    )
    .join('\n');
}
