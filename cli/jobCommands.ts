import { parsePriority } from '../src/core/priority.js';
import type { BatchApiClient } from './apiClient.js';
import { createApiClient, requireJobId, writeLine, type CliContext, type GlobalOptions } from './cliContext.js';
import { CliErrorCode, CliUsageError } from './errors.js';

/** The abort signal of the context, as a request option. */
const signalOf = (context: CliContext): { abortSignal?: AbortSignal } =>
  context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal };

/**
 * One request about one job: the id checked, the request made, its answer printed whole with `--json` or
 * as one line.
 */
async function jobRequest<T>(
  jobId: string,
  options: { json?: boolean },
  globals: GlobalOptions,
  context: CliContext,
  request: (client: BatchApiClient, id: string) => Promise<T>,
  describe: (answer: T, id: string) => string,
): Promise<number> {
  const id = requireJobId(jobId);
  const answer = await request(createApiClient(context, globals), id);
  writeLine(context.stdout, options.json === true ? JSON.stringify(answer, null, 2) : describe(answer, id));
  return 0;
}

/** `cancel <jobId>`: prints the job's status after the request (cancelling, or cancelled). */
export function cancelCommand(
  jobId: string,
  options: { json?: boolean },
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  return jobRequest(
    jobId,
    options,
    globals,
    context,
    (client, id) => client.cancelJob(id, signalOf(context)),
    (job) => `${job.id} ${job.status}`,
  );
}

/** `delete <jobId>`: removes a finished job's outcomes and files; its costs stay in the reports. */
export function deleteCommand(
  jobId: string,
  options: { json?: boolean },
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  return jobRequest(
    jobId,
    options,
    globals,
    context,
    (client, id) => client.deleteJob(id, signalOf(context)),
    (job) => `${job.id} deleted: its outcomes and files are gone; its costs stay in the reports`,
  );
}

/** `retry <jobId>`: prints how many lines were sent again. */
export function retryCommand(
  jobId: string,
  options: { json?: boolean; retryableOnly?: boolean },
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  return jobRequest(
    jobId,
    options,
    globals,
    context,
    (client, id) => client.retryJob(id, { retryableOnly: options.retryableOnly === true, ...signalOf(context) }),
    (result, id) => `${id}: ${result.retried_lines} line(s) sent again; ${result.job.status}`,
  );
}

/** `priority <jobId> <priority>`: changes a running job's priority and prints it. */
export function priorityCommand(
  jobId: string,
  priority: string,
  options: { json?: boolean },
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  requireJobId(jobId);
  const chosen = requirePriority(priority);
  return jobRequest(
    jobId,
    options,
    globals,
    context,
    (client, id) => client.setPriority(id, chosen, signalOf(context)),
    (job) => `${job.id} priority ${job.priority}`,
  );
}

/** The priority as the service takes it (`high`, or `12`), checked here so that a typo costs no request or upload. */
export function requirePriority(value: string): string {
  const result = parsePriority(value);
  if (!result.ok) throw new CliUsageError(CliErrorCode.invalidOption, result.error);
  return result.value.level ?? String(result.value.weight);
}
