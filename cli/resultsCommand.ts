import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { formatCount } from './format.js';
import { isTerminalStatus } from './jobProgress.js';
import type { ResultKind } from './apiClient.js';
import { createApiClient, requireJobId, writeLine, type CliContext, type GlobalOptions } from './cliContext.js';
import { CliErrorCode, CliUsageError } from './errors.js';
import type { JobStatus } from '../src/core/job.js';

export interface ResultsCommandOptions {
  readonly errors?: boolean;
  readonly all?: boolean;
  readonly output?: string;
}

/** Streams a job's output lines (JSONL) to stdout or to a file, never holding them in memory. */
export async function resultsCommand(
  jobId: string,
  options: ResultsCommandOptions,
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  const id = requireJobId(jobId);
  if (options.errors === true && options.all === true) {
    throw new CliUsageError(CliErrorCode.invalidOption, '--errors and --all cannot be used together');
  }
  const kind: ResultKind = options.all === true ? 'all' : options.errors === true ? 'errors' : 'results';
  const client = createApiClient(context, globals);
  const results = await client.getResults(id, {
    kind,
    ...(context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal }),
  });
  if (results.jobStatus !== undefined && !isKnownTerminal(results.jobStatus)) {
    writeLine(context.stderr, `Note: job ${id} is ${results.jobStatus}; these results are partial.`);
  }

  const counter = new LineCounter();
  const signal = context.abortSignal === undefined ? {} : { signal: context.abortSignal };
  if (options.output === undefined) {
    try {
      // stdout stays open: it is not ours to end.
      await pipeline(results.body, counter, context.stdout, { ...signal, end: false });
    } catch (error) {
      // A reader that stopped early (`| head`) is not a failure.
      if ((error as NodeJS.ErrnoException).code === 'EPIPE') return 0;
      throw error;
    }
    return 0;
  }

  // Written aside and renamed when complete, so a failed download never looks like a finished file.
  const partial = `${options.output}.partial-${process.pid}`;
  try {
    await pipeline(results.body, counter, createWriteStream(partial), signal);
    await rename(partial, options.output);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  writeLine(
    context.stderr,
    `Wrote ${formatCount(counter.lines)} ${kind === 'results' ? 'result' : kind === 'errors' ? 'error' : 'output'} lines to ${options.output}`,
  );
  return 0;
}

function isKnownTerminal(status: string): boolean {
  return isTerminalStatus(status as JobStatus);
}

/** Passes bytes through and counts line breaks on the way. */
class LineCounter extends Transform {
  lines = 0;

  override _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null, data?: Buffer) => void,
  ): void {
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) this.lines += 1;
    callback(null, chunk);
  }
}
