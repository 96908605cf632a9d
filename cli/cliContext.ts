import type { TokenCredential } from '@azure/identity';
import type { StoragePipelineOptions } from '@azure/storage-blob';
import type { Dispatcher } from 'undici';
import { isValidJobId } from '../src/core/jobId.js';
import { BatchApiClient } from './apiClient.js';
import { readApiSettings, type CliEnv, type StorageSettings } from './cliSettings.js';
import { CliErrorCode, CliUsageError } from './errors.js';
import type { ProgressStream, WatchJobOptions } from './progress.js';
import type { BlobUploader } from './uploadBatchFile.js';

/** What a command writes to: the process's streams, or test doubles. */
export type CliOutput = ProgressStream;

/** Knobs of `submit --watch` that callers (and tests) may set. */
export type WatchSettings = Pick<
  WatchJobOptions,
  'pollIntervalInMs' | 'plainIntervalInMs' | 'tty' | 'delay' | 'maxConsecutiveFetchErrors'
>;

export interface RunCliOptions {
  readonly stdout?: CliOutput;
  readonly stderr?: CliOutput;
  /** Settings source (default: process.env). */
  readonly env?: CliEnv;
  /** Stops a running command (Ctrl-C): the command ends with exit code 130. */
  readonly abortSignal?: AbortSignal;
  readonly clock?: { nowInMs(): number };
  readonly watch?: WatchSettings;
  /** HTTP dispatcher for the API client. */
  readonly dispatcher?: Dispatcher;
  /** Replaces the storage upload (default: the container named by INPUT_CONTAINER, via the connection string or account URL). */
  readonly createUploader?: (settings: StorageSettings) => BlobUploader;
  /** Signs uploads to an account URL in (default: DefaultAzureCredential). */
  readonly credential?: TokenCredential;
  /** Options of the storage SDK's pipeline (transport, keep-alive, retries); default: the SDK's own. */
  readonly storagePipeline?: StoragePipelineOptions;
}

/** Everything a command needs, resolved once. */
export interface CliContext {
  readonly stdout: CliOutput;
  readonly stderr: CliOutput;
  readonly env: CliEnv;
  readonly abortSignal: AbortSignal | undefined;
  readonly clock: { nowInMs(): number };
  readonly watch: WatchSettings;
  readonly dispatcher: Dispatcher | undefined;
  readonly createUploader: ((settings: StorageSettings) => BlobUploader) | undefined;
  readonly credential?: TokenCredential | undefined;
  readonly storagePipeline?: StoragePipelineOptions | undefined;
}

/** The program-wide options, as commander hands them to every command. */
export interface GlobalOptions {
  readonly apiUrl?: string;
  readonly connectionString?: string;
  readonly accountUrl?: string;
}

export function writeLine(stream: CliOutput, text: string): void {
  stream.write(`${text}\n`);
}

/** The API client for the settings in effect (option, then environment, then the local default). */
export function createApiClient(context: CliContext, globals: GlobalOptions): BatchApiClient {
  const settings = readApiSettings(context.env, { apiUrl: globals.apiUrl });
  return new BatchApiClient({
    baseUrl: settings.apiUrl,
    functionKey: settings.functionKey,
    ...(context.dispatcher === undefined ? {} : { dispatcher: context.dispatcher }),
  });
}

/** Refuses ids that cannot be a job's before any request: a typo gets a clear message, not a 400. */
export function requireJobId(value: string): string {
  if (!isValidJobId(value))
    throw new CliUsageError(
      CliErrorCode.invalidJobId,
      `${JSON.stringify(value)} is not a job id (job_ followed by 32 hex digits)`,
    );
  return value;
}
