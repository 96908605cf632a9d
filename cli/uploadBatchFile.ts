import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import { jobIdFor } from '../src/core/jobId.js';
import { parseTagPair, parseTags, tagsToBlobMetadata } from '../src/core/tags.js';
import { CliErrorCode, CliOperationError, CliUsageError } from './errors.js';

/** Where an upload goes: one container. A port, so the upload logic is testable without storage. */
export interface BlobUploader {
  readonly container: string;
  /** Streams `source` into `blobName` and returns the new blob version's ETag. */
  upload(blobName: string, source: Readable, options: BlobUploadOptions): Promise<{ etag: string }>;
}

export interface BlobUploadOptions {
  readonly sizeInBytes: number;
  /** Replace a blob of the same name; otherwise an existing blob is an error. */
  readonly overwrite: boolean;
  readonly abortSignal?: AbortSignal | undefined;
  /** Blob metadata written with the upload, so the ingest sees it with the first version. */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
}

export interface UploadBatchFileOptions {
  readonly filePath: string;
  /** Default: the file's own name. */
  readonly blobName?: string | undefined;
  readonly uploader: BlobUploader;
  readonly overwrite?: boolean;
  readonly abortSignal?: AbortSignal | undefined;
  /** Blob metadata the job reads (`cache`, `maxcost`...). */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  /** The job's tags, sent as `tag_<key>` blob metadata with the upload (so they are there before the ingest). */
  readonly tags?: Readonly<Record<string, string>> | undefined;
}

export interface UploadedBatchFile {
  readonly container: string;
  readonly blobName: string;
  readonly etag: string;
  readonly sizeInBytes: number;
  /** The job the ingest function will create for exactly this upload. */
  readonly jobId: string;
}

/** The ingest function ignores other names, so a wrong one would upload a file that never runs. */
const JSONL_EXTENSION = /\.jsonl$/i;
const MAX_BLOB_NAME_LENGTH = 1024;

/** Uploads a batch file as a stream and names the job it becomes. */
export async function uploadBatchFile(options: UploadBatchFileOptions): Promise<UploadedBatchFile> {
  const { filePath } = options;
  if (!JSONL_EXTENSION.test(filePath)) {
    throw new CliUsageError(
      CliErrorCode.notJsonl,
      `${filePath}: a batch file must be JSONL and its name must end with .jsonl`,
    );
  }
  const blobName = options.blobName ?? basename(filePath);
  validateBlobName(blobName);
  const sizeInBytes = await fileSize(filePath);

  const source = createReadStream(filePath);
  try {
    const { etag } = await options.uploader.upload(blobName, source, {
      sizeInBytes,
      overwrite: options.overwrite ?? false,
      abortSignal: options.abortSignal,
      ...withMetadata({ ...options.metadata, ...(options.tags === undefined ? {} : tagsToBlobMetadata(options.tags)) }),
    });
    const container = options.uploader.container;
    // The ingest function derives the id from the version it first sees: this upload's ETag.
    return { container, blobName, etag, sizeInBytes, jobId: jobIdFor(container, blobName, etag) };
  } finally {
    source.destroy();
  }
}

function validateBlobName(blobName: string): void {
  if (!JSONL_EXTENSION.test(blobName)) {
    throw new CliUsageError(
      CliErrorCode.invalidBlobName,
      `Blob name ${JSON.stringify(blobName)} must end with .jsonl, or the ingest function ignores it`,
    );
  }
  if (blobName.length > MAX_BLOB_NAME_LENGTH || blobName.startsWith('/') || blobName.includes('\\')) {
    throw new CliUsageError(
      CliErrorCode.invalidBlobName,
      `Blob name ${JSON.stringify(blobName)} must be at most ${MAX_BLOB_NAME_LENGTH} characters, not start with / and contain no backslash`,
    );
  }
}

async function fileSize(filePath: string): Promise<number> {
  let stats;
  try {
    stats = await stat(filePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new CliUsageError(CliErrorCode.fileNotFound, `${filePath}: no such file`);
    throw error;
  }
  if (!stats.isFile()) throw new CliUsageError(CliErrorCode.notAFile, `${filePath}: not a regular file`);
  return stats.size;
}

/** Block size of the streamed upload: memory use is about this times the concurrency. */
const UPLOAD_BLOCK_SIZE_IN_BYTES = 4 * 1024 * 1024;
const UPLOAD_CONCURRENCY = 4;

/** The real uploader: Azure Blob Storage (or Azurite) through the SDK's streaming upload. */
export function containerUploader(containerClient: ContainerClient): BlobUploader {
  return {
    container: containerClient.containerName,
    async upload(blobName, source, options) {
      const blob = containerClient.getBlockBlobClient(blobName);
      try {
        const response = await blob.uploadStream(source, UPLOAD_BLOCK_SIZE_IN_BYTES, UPLOAD_CONCURRENCY, {
          blobHTTPHeaders: { blobContentType: 'application/jsonl' },
          ...(options.metadata === undefined ? {} : { metadata: { ...options.metadata } }),
          // Replacing a blob that is being ingested would break that job: only on request.
          ...(options.overwrite ? {} : { conditions: { ifNoneMatch: '*' } }),
          ...(options.abortSignal === undefined ? {} : { abortSignal: options.abortSignal }),
        });
        if (response.etag === undefined) throw new Error(`The upload of ${blobName} returned no ETag`);
        return { etag: response.etag };
      } catch (error) {
        throw translateStorageError(error, containerClient.containerName, blobName);
      }
    },
  };
}

function translateStorageError(error: unknown, container: string, blobName: string): unknown {
  const { statusCode, code } = error as { statusCode?: number; code?: string };
  if (code === 'ContainerNotFound') {
    return new CliOperationError(
      CliErrorCode.containerNotFound,
      `Container ${container} does not exist in this storage account (INPUT_CONTAINER)`,
      { cause: error },
    );
  }
  if (code === 'AuthorizationPermissionMismatch' || code === 'AuthorizationFailure' || statusCode === 403) {
    // Signed in, but without data-plane rights (or shared keys are off and a key was used).
    return new CliOperationError(
      CliErrorCode.uploadNotAllowed,
      `Not allowed to write to ${container}: with --account-url you need the Storage Blob Data Contributor role on the account ` +
        '(role assignments can take a few minutes to apply)',
      { cause: error },
    );
  }
  if (code === 'BlobAlreadyExists' || statusCode === 409 || statusCode === 412) {
    return new CliOperationError(
      CliErrorCode.blobExists,
      `${container}/${blobName} already exists; choose another name with --name, or replace it with --overwrite (a job still reading it would fail)`,
      { cause: error },
    );
  }
  return error;
}

/** `--tag key=value` options as the job's tags, checked as the ingest will check them. */
export function parseTagOptions(pairs: readonly string[]): Readonly<Record<string, string>> | undefined {
  if (pairs.length === 0) return undefined;
  const tags: Record<string, string> = {};
  for (const text of pairs) {
    const pair = parseTagPair(text);
    if (!pair.ok) throw new CliUsageError(CliErrorCode.invalidOption, `--tag ${text}: ${pair.error}`);
    const [key, value] = pair.value;
    if (Object.hasOwn(tags, key)) throw new CliUsageError(CliErrorCode.invalidOption, `--tag ${key} given twice`);
    tags[key] = value;
  }
  const checked = parseTags(tags);
  if (!checked.ok) throw new CliUsageError(CliErrorCode.invalidOption, `--tag: ${checked.error}`);
  return checked.value;
}

function withMetadata(metadata: Readonly<Record<string, string>>): { metadata?: Readonly<Record<string, string>> } {
  return Object.keys(metadata).length === 0 ? {} : { metadata };
}
