import { ConfigError } from '../src/core/errors.js';
import { CACHE_METADATA } from '../src/core/responseCache.js';
import { PRIORITY_METADATA } from '../src/core/priority.js';
import { ApiError } from './apiClient.js';
import { createApiClient, writeLine, type CliContext, type GlobalOptions } from './cliContext.js';
import { maskConnectionString, readStorageSettings, type StorageSettings } from './cliSettings.js';
import { requirePriority } from './jobCommands.js';
import { formatJobSummary, watchJob } from './progress.js';
import { containerUploader, parseTagOptions, uploadBatchFile, type BlobUploader } from './uploadBatchFile.js';

export interface SubmitCommandOptions {
  readonly name?: string;
  readonly watch?: boolean;
  readonly overwrite?: boolean;
  /** `--cache` / `--no-cache`: the job's response-cache choice (blob metadata `cache`); absent: the service's rule. */
  readonly cache?: boolean;
  /** Set as the blob's `priority` metadata. */
  readonly priority?: string;
  /** `key=value` pairs: the job's tags. */
  readonly tag?: readonly string[];
}

/**
 * Uploads a batch file and prints its job id on stdout (alone, for scripts). With `watch`, follows
 * the job to its end and prints the summary: exit code 0 only if it completed.
 */
export async function submitCommand(
  file: string,
  options: SubmitCommandOptions,
  globals: GlobalOptions,
  context: CliContext,
): Promise<number> {
  const priority = options.priority === undefined ? undefined : requirePriority(options.priority);
  const tags = parseTagOptions(options.tag ?? []);
  const storage = readStorageSettings(context.env, {
    connectionString: globals.connectionString,
    accountUrl: globals.accountUrl,
  });
  // Read the API settings before uploading: a bad URL should stop us before a job starts.
  const api = options.watch === true ? createApiClient(context, globals) : undefined;
  const uploader = context.createUploader?.(storage) ?? (await defaultUploader(storage, context));

  const uploaded = await uploadBatchFile({
    filePath: file,
    blobName: options.name,
    uploader,
    overwrite: options.overwrite ?? false,
    metadata: uploadMetadata(priority, options.cache),
    abortSignal: context.abortSignal,
    tags,
  });
  writeLine(
    context.stderr,
    `Uploaded ${file} (${formatBytes(uploaded.sizeInBytes)}) to ${uploaded.container}/${uploaded.blobName}`,
  );
  writeLine(context.stdout, uploaded.jobId);
  if (api === undefined) return 0;

  let job;
  try {
    job = await watchJob({
      ...context.watch,
      fetchJob: () =>
        api.getJob(uploaded.jobId, context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal }),
      // A refused key or a wrong URL will not get better by asking again.
      isRetryableError: (error) => !(error instanceof ApiError) || error.retryable,
      stream: context.stderr,
      clock: context.clock,
      ...(context.abortSignal === undefined ? {} : { abortSignal: context.abortSignal }),
    });
  } catch (error) {
    // The upload worked and the job runs without us: say how to find it again.
    const what = context.abortSignal?.aborted === true ? 'Stopped watching' : 'Could not follow the job';
    writeLine(context.stderr, `${what}; the job goes on. Check it with: phi3-batch status ${uploaded.jobId}`);
    throw error;
  }
  writeLine(context.stdout, formatJobSummary(job, { nowInMs: context.clock.nowInMs() }));
  return job.status === 'completed' ? 0 : 1;
}

async function defaultUploader(storage: StorageSettings, context: CliContext): Promise<BlobUploader> {
  // Loaded on demand: the storage SDK is most of the start-up time of the other commands.
  const { BlobServiceClient } = await import('@azure/storage-blob');
  const pipeline = context.storagePipeline ?? {};
  let service;
  if (storage.kind === 'accountUrl') {
    // The user's own sign-in (az login, azd auth login, environment, managed identity): no account key anywhere.
    const credential = context.credential ?? new (await import('@azure/identity')).DefaultAzureCredential();
    service = new BlobServiceClient(storage.accountUrl, credential, pipeline);
  } else {
    try {
      service = BlobServiceClient.fromConnectionString(storage.connectionString, pipeline);
    } catch {
      throw new ConfigError(
        storage.connectionStringSetting,
        'a valid storage connection string',
        maskConnectionString(storage.connectionString),
      );
    }
  }
  return containerUploader(service.getContainerClient(storage.inputContainer));
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** The blob metadata the job reads its choices from; only what was asked for is set. */
function uploadMetadata(priority: string | undefined, cache: boolean | undefined): Record<string, string> {
  return {
    ...(priority === undefined ? {} : { [PRIORITY_METADATA]: priority }),
    ...(cache === undefined ? {} : { [CACHE_METADATA]: String(cache) }),
  };
}
