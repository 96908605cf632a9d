import { Command, CommanderError, Option } from 'commander';
import { ConfigError, ensureError, Phi3BatchError } from '../src/core/errors.js';
import { ApiError, ApiErrorCode } from './apiClient.js';
import { writeLine, type CliContext, type GlobalOptions, type RunCliOptions } from './cliContext.js';
import { CliSetting } from './cliSettings.js';
import { CliUsageError } from './errors.js';
import { resultsCommand, type ResultsCommandOptions } from './resultsCommand.js';
import { statusCommand, type StatusCommandOptions } from './statusCommand.js';
import { submitCommand, type SubmitCommandOptions } from './submitCommand.js';
import { registerCostsCommand } from './costsCommand.js';
import { cancelCommand, deleteCommand, priorityCommand, retryCommand } from './jobCommands.js';

export type { RunCliOptions } from './cliContext.js';

/** Exit codes: 0 success, 1 the work failed (job failed, API or storage error), 2 bad usage or settings, 130 interrupted. */
export const ExitCode = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/**
 * Runs the phi3-batch command line. `argv` is the arguments after the program name. Resolves with the
 * exit code; never calls process.exit, so it can run inside tests and other programs.
 */
export async function runCli(argv: readonly string[], options: RunCliOptions = {}): Promise<number> {
  const context: CliContext = {
    stdout: options.stdout ?? process.stdout,
    stderr: options.stderr ?? process.stderr,
    env: options.env ?? process.env,
    abortSignal: options.abortSignal,
    clock: options.clock ?? { nowInMs: () => Date.now() },
    watch: options.watch ?? {},
    dispatcher: options.dispatcher,
    createUploader: options.createUploader,
    credential: options.credential,
    storagePipeline: options.storagePipeline,
  };
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(context, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (thrown) {
    return reportError(thrown, context);
  }
}

function buildProgram(context: CliContext, setExitCode: (code: number) => void): Command {
  const program = new Command('phi3-batch')
    .description('Run OpenAI Batch JSONL files of chat prompts through the Phi-3 batch service.')
    .addOption(
      new Option(
        '--api-url <url>',
        `base URL of the jobs API (default: ${CliSetting.apiUrl} or http://127.0.0.1:7071/api)`,
      ),
    )
    .addOption(
      new Option(
        '--connection-string <connectionString>',
        `storage connection string for uploads (default: ${CliSetting.storage}; prefer the variable, options show in process lists)`,
      ),
    )
    .addOption(
      new Option(
        '--account-url <url>',
        `storage blob endpoint for uploads signed in with Entra ID, e.g. https://<account>.blob.core.windows.net (default: ${CliSetting.accountUrl})`,
      ),
    )
    .configureOutput({
      writeOut: (text) => context.stdout.write(text),
      writeErr: (text) => context.stderr.write(text),
    })
    .exitOverride()
    .showHelpAfterError('(run phi3-batch --help for usage)')
    .allowExcessArguments(false);

  const globals = (command: Command): GlobalOptions => command.optsWithGlobals<GlobalOptions>();

  program
    .command('submit')
    .description('upload a .jsonl batch file and print the id of the job it becomes')
    .argument('<file>', 'the batch file (OpenAI Batch JSONL)')
    .option('--name <blobName>', 'blob name in the input container (default: the file name)')
    .option('--overwrite', 'replace an existing blob of the same name')
    .option('--priority <priority>', 'high, normal (the default), low, or a weight from 1 to 100')
    .option('--watch', 'show progress until the job ends, then a summary; exit code 1 unless it completed')
    .option('--cache', 'answer repeated requests from the response cache, whatever their temperature')
    .option('--no-cache', 'never answer this job from the response cache nor store its answers')
    .option(
      '--tag <key=value>',
      'tag the job for cost reports, e.g. --tag project=apollo (repeatable)',
      (pair: string, all: string[] = []) => [...all, pair],
    )
    .action(async (file: string, options: SubmitCommandOptions, command: Command) => {
      setExitCode(await submitCommand(file, options, globals(command), context));
    });

  program
    .command('status')
    .description('show one job, or without an id the most recent jobs')
    .argument('[jobId]', 'the job id printed by submit')
    .option('--json', 'print the raw job object (or page of jobs) as JSON')
    .option('--limit <count>', 'how many recent jobs to list', '20')
    .addOption(
      new Option('--status <status>', 'list only jobs in this status').choices([
        'validating',
        'in_progress',
        'finalizing',
        'completed',
        'failed',
        'cancelling',
        'cancelled',
        'expired',
      ]),
    )
    .option(
      '--metadata <key=value>',
      'list only jobs whose batch metadata has this pair (repeatable)',
      (pair: string, all: string[] = []) => [...all, pair],
    )
    .action(async (jobId: string | undefined, options: StatusCommandOptions, command: Command) => {
      setExitCode(await statusCommand(jobId, options, globals(command), context));
    });

  program
    .command('results')
    .description("write a job's output lines (JSONL) to stdout or a file")
    .argument('<jobId>', 'the job id printed by submit')
    .addOption(new Option('--errors', 'only the lines that failed').conflicts('all'))
    .addOption(new Option('--all', 'every line, succeeded or failed').conflicts('errors'))
    .option('--output <file>', 'write to this file instead of stdout')
    .action(async (jobId: string, options: ResultsCommandOptions, command: Command) => {
      setExitCode(await resultsCommand(jobId, options, globals(command), context));
    });

  program
    .command('cancel')
    .description('cancel a job: lines not yet sent end as batch_cancelled, finished ones are kept')
    .argument('<jobId>', 'the job id printed by submit')
    .option('--json', 'print the job object as JSON')
    .action(async (jobId: string, options: { json?: boolean }, command: Command) => {
      setExitCode(await cancelCommand(jobId, options, globals(command), context));
    });

  program
    .command('delete')
    .description(
      "delete a finished job's outcomes and files (cancel a running job first); its costs stay in the reports",
    )
    .argument('<jobId>', 'the job id printed by submit')
    .option('--json', 'print the job object as JSON')
    .action(async (jobId: string, options: { json?: boolean }, command: Command) => {
      setExitCode(await deleteCommand(jobId, options, globals(command), context));
    });

  program
    .command('retry')
    .description("send a finished job's failed lines again (never those that failed validation)")
    .argument('<jobId>', 'the job id printed by submit')
    .option(
      '--retryable-only',
      'only lines whose failure a retry can fix (throttling, timeouts, 5xx, cancelled, expired)',
    )
    .option('--json', 'print the answer as JSON')
    .action(async (jobId: string, options: { json?: boolean; retryableOnly?: boolean }, command: Command) => {
      setExitCode(await retryCommand(jobId, options, globals(command), context));
    });

  program
    .command('priority')
    .description("change a running job's share of the budget: high, normal, low, or a weight from 1 to 100")
    .argument('<jobId>', 'the job id printed by submit')
    .argument('<priority>', 'high, normal, low, or a weight from 1 to 100')
    .option('--json', 'print the job object as JSON')
    .action(async (jobId: string, priority: string, options: { json?: boolean }, command: Command) => {
      setExitCode(await priorityCommand(jobId, priority, options, globals(command), context));
    });

  registerCostsCommand(program, context, setExitCode);
  return program;
}

/** Turns whatever ended a command into one clear line on stderr and an exit code. */
function reportError(thrown: unknown, context: CliContext): number {
  if (thrown instanceof CommanderError) {
    // Commander has already printed its message (or the help text).
    return thrown.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (context.abortSignal?.aborted === true) return ExitCode.interrupted;
  const error = ensureError(thrown);
  const say = (text: string): void => writeLine(context.stderr, `phi3-batch: ${text}`);
  if (error instanceof ConfigError || error instanceof CliUsageError) {
    say(error.message);
    return ExitCode.usage;
  }
  if (error instanceof ApiError) {
    say(error.message);
    const hint = apiHint(error);
    if (hint !== undefined) say(hint);
    return ExitCode.failed;
  }
  if (error instanceof Phi3BatchError) {
    say(error.message);
    return ExitCode.failed;
  }
  const code = (error as { code?: unknown }).code;
  // Storage SDK errors carry a service code; their first line is the useful part.
  say(`${typeof code === 'string' ? `${code}: ` : ''}${error.message.split('\n')[0] ?? error.name}`);
  return ExitCode.failed;
}

function apiHint(error: ApiError): string | undefined {
  switch (error.code) {
    case ApiErrorCode.unreachable:
      return `Is the functions host running? The API address comes from ${CliSetting.apiUrl} or --api-url.`;
    case ApiErrorCode.unauthorized:
      return `Set ${CliSetting.functionKey} to a key of the function app.`;
    case ApiErrorCode.routeNotFound:
      return `Check ${CliSetting.apiUrl} or --api-url: it should end with /api.`;
    default:
      return undefined;
  }
}
