import { parsePriority } from '../src/core/priority.js';
import { createApiClient, requireJobId, writeLine, type CliContext, type GlobalOptions } from './cliContext.js';
import { CliErrorCode, CliUsageError } from './errors.js';

/** `cancel <jobId>`: prints the job's status after the request (cancelling, or cancelled). */
export async function cancelCommand(
  jobId: string,
  options: { json?: boolean },
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  const id = requireJobId(jobId);
  const client = createApiClient(context, globals);
  const job = await client.cancelJob(id, context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal });
  writeLine(context.stdout, options.json === true ? JSON.stringify(job, null, 2) : `${job.id} ${job.status}`);
  return 0;
}

/** `delete <jobId>`: removes a finished job's outcomes and files; its costs stay in the reports. */
export async function deleteCommand(
  jobId: string,
  options: { json?: boolean },
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  const id = requireJobId(jobId);
  const client = createApiClient(context, globals);
  const job = await client.deleteJob(id, context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal });
  writeLine(
    context.stdout,
    options.json === true
      ? JSON.stringify(job, null, 2)
      : `${job.id} deleted: its outcomes and files are gone; its costs stay in the reports`,
  );
  return 0;
}

/** `retry <jobId>`: prints how many lines were sent again. */
export async function retryCommand(
  jobId: string,
  options: { json?: boolean; retryableOnly?: boolean },
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  const id = requireJobId(jobId);
  const client = createApiClient(context, globals);
  const result = await client.retryJob(id, {
    retryableOnly: options.retryableOnly === true,
    ...(context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal }),
  });
  writeLine(
    context.stdout,
    options.json === true
      ? JSON.stringify(result, null, 2)
      : `${id}: ${result.retried_lines} line(s) sent again; ${result.job.status}`,
  );
  return 0;
}

/** `priority <jobId> <priority>`: changes a running job's priority and prints it. */
export async function priorityCommand(
  jobId: string,
  priority: string,
  options: { json?: boolean },
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  const id = requireJobId(jobId);
  const chosen = requirePriority(priority);
  const client = createApiClient(context, globals);
  const job = await client.setPriority(
    id,
    chosen,
    context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal },
  );
  writeLine(
    context.stdout,
    options.json === true ? JSON.stringify(job, null, 2) : `${job.id} priority ${job.priority}`,
  );
  return 0;
}

/** The priority as the service takes it (`high`, or `12`), checked here so that a typo costs no request or upload. */
export function requirePriority(value: string): string {
  const result = parsePriority(value);
  if (!result.ok) throw new CliUsageError(CliErrorCode.invalidOption, result.error);
  return result.value.level ?? String(result.value.weight);
}
