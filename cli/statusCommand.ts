import { createApiClient, requireJobId, writeLine, type CliContext, type GlobalOptions } from './cliContext.js';
import { CliErrorCode, CliOperationError, CliUsageError } from './errors.js';
import { formatJobSummary, formatJobTable } from './progress.js';

export interface StatusCommandOptions {
  readonly json?: boolean;
  readonly limit?: string;
  /** Only jobs in this status (the list). */
  readonly status?: string;
  /** `key=value` pairs the jobs' batch metadata must have (the list). */
  readonly metadata?: readonly string[];
}

const DEFAULT_LIST_LIMIT = 20;

/** One job's summary, or with no id a table of the most recent jobs. */
export async function statusCommand(
  jobId: string | undefined,
  options: StatusCommandOptions,
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  const id = jobId === undefined ? undefined : requireJobId(jobId);
  const limit = parseLimit(options.limit);
  const client = createApiClient(context, globals);
  const call = context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal };

  if (id !== undefined) {
    const job = await client.getJob(id, call);
    if (job === undefined) {
      throw new CliOperationError(
        CliErrorCode.jobNotFound,
        `No job ${id}. A file uploaded moments ago may not have become a job yet.`,
      );
    }
    writeLine(
      context.stdout,
      options.json === true
        ? JSON.stringify(job, null, 2)
        : formatJobSummary(job, { nowInMs: context.clock.nowInMs() }),
    );
    return 0;
  }

  const page = await client.listJobs({
    ...call,
    limit,
    ...(options.status === undefined ? {} : { status: options.status }),
    ...(options.metadata === undefined ? {} : { metadata: parseMetadataPairs(options.metadata) }),
  });
  if (options.json === true) {
    writeLine(context.stdout, JSON.stringify(page, null, 2));
    return 0;
  }
  writeLine(context.stdout, formatJobTable(page.data));
  if (page.has_more) writeLine(context.stderr, `(showing the ${page.data.length} most recent; use --limit for more)`);
  return 0;
}

function parseMetadataPairs(pairs: readonly string[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at < 1)
      throw new CliUsageError(CliErrorCode.invalidOption, `--metadata takes key=value, got ${JSON.stringify(pair)}`);
    metadata[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return metadata;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIST_LIMIT;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new CliUsageError(
      CliErrorCode.invalidOption,
      `--limit must be a whole number from 1, got ${JSON.stringify(text)}`,
    );
  return value;
}
