import { createApiClient, requireJobId, writeLine, type CliContext, type GlobalOptions } from './cliContext.js';

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
