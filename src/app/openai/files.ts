import { BadRequestError, NotFoundError } from '../../core/errors.js';
import { TERMINAL_STATUSES } from '../../core/job.js';
import { parseFileId, uploadedFileId, type FileRef } from '../../core/openai/fileIds.js';
import { toOpenAIFile, type OpenAIFile } from '../../core/openai/openaiObjects.js';
import type { BlobStore, Clock, JobStore } from '../ports.js';
import type { FileStore } from './ports.js';

export interface FilesDeps {
  readonly files: FileStore;
  readonly jobs: JobStore;
  readonly blobs: BlobStore;
  readonly clock: Clock;
  /** 32 lowercase hex digits, new for every upload. */
  readonly newHex32: () => string;
  readonly maxFileBytes: number;
}

/** A multipart form read as it arrives: the file part is handed over as a stream, the text fields at the end. */
export interface UploadForm {
  read(
    onFile: (
      filename: string,
      content: AsyncIterable<Buffer>,
      fieldsSoFar: Readonly<Record<string, string>>,
    ) => Promise<void>,
  ): Promise<Record<string, string>>;
}

const BATCH_PURPOSE = 'batch';

function checkPurpose(purpose: string | undefined): void {
  if (purpose === undefined) throw new BadRequestError("Missing required parameter: 'purpose'", 'purpose');
  if (purpose !== BATCH_PURPOSE) {
    throw new BadRequestError(
      `Invalid purpose ${JSON.stringify(purpose)}: this service only takes files with purpose "batch"`,
      'purpose',
    );
  }
}

/**
 * `POST /v1/files`: the file part streams straight into storage as it arrives. The SDK may send
 * `purpose` after the file, so a wrong purpose seen only at the end removes what was stored.
 */
export async function createFile(deps: FilesDeps, form: UploadForm): Promise<OpenAIFile> {
  let stored: Awaited<ReturnType<FileStore['upload']>> | undefined;
  const fields = await form.read(async (filename, content, fieldsSoFar) => {
    if (fieldsSoFar['purpose'] !== undefined) checkPurpose(fieldsSoFar['purpose']);
    if (stored !== undefined) throw new BadRequestError('Only one file may be uploaded at a time', 'file');
    const id = uploadedFileId(deps.newHex32());
    stored = await deps.files.upload(
      { id, filename, purpose: BATCH_PURPOSE, createdAtInMs: deps.clock.nowInMs() },
      content,
      {
        maxBytes: deps.maxFileBytes,
      },
    );
  });
  if (stored === undefined) throw new BadRequestError("Missing required parameter: 'file'", 'file');
  try {
    checkPurpose(fields['purpose']);
  } catch (error) {
    await deps.files.delete(stored.id);
    throw error;
  }
  return toOpenAIFile({ ...stored, purpose: 'batch' });
}

function requireRef(id: string | undefined): FileRef {
  const ref = id === undefined ? undefined : parseFileId(id);
  if (ref === undefined) throw new NotFoundError(`No such File object: ${id ?? ''}`);
  return ref;
}

/** Where a job's file lives, and its object; undefined while it does not exist (yet). */
async function jobFile(deps: FilesDeps, ref: Exclude<FileRef, { kind: 'uploaded' }>) {
  const stored = await deps.jobs.getJob(ref.jobId);
  if (stored === undefined) return undefined;
  const { job } = stored;
  let location: { container: string; name: string };
  if (ref.kind === 'input') {
    location = job.input;
  } else {
    if (!TERMINAL_STATUSES.has(job.status) || job.output === undefined) return undefined;
    location = {
      container: job.output.container,
      name: ref.kind === 'output' ? job.output.resultsBlob : job.output.errorsBlob,
    };
  }
  const properties = await deps.blobs.getProperties(location.container, location.name);
  if (properties === undefined) return undefined;
  const t = job.timestamps;
  const createdAtInMs =
    ref.kind === 'input'
      ? job.createdAtInMs
      : (t.completedAt ?? t.failedAt ?? t.cancelledAt ?? t.expiredAt ?? job.createdAtInMs);
  const filename =
    ref.kind === 'input'
      ? (job.input.name.split('/').pop() ?? job.input.name)
      : `${job.id}_${ref.kind === 'output' ? 'output' : 'error'}.jsonl`;
  const file = toOpenAIFile({
    id: ref.id,
    bytes: properties.size,
    createdAtInMs,
    filename,
    purpose: ref.kind === 'input' ? 'batch' : 'batch_output',
  });
  return { file, location, etag: properties.etag, size: properties.size };
}

export async function getFile(deps: FilesDeps, id: string | undefined): Promise<OpenAIFile> {
  const ref = requireRef(id);
  if (ref.kind === 'uploaded') {
    const stored = await deps.files.get(ref.id);
    if (stored === undefined) throw new NotFoundError(`No such File object: ${ref.id}`);
    return toOpenAIFile({ ...stored, purpose: 'batch' });
  }
  const found = await jobFile(deps, ref);
  if (found === undefined) throw new NotFoundError(`No such File object: ${ref.id}`);
  return found.file;
}

/** `GET /v1/files/{id}/content`, streamed. */
export async function openFileContent(deps: FilesDeps, id: string | undefined): Promise<AsyncIterable<Buffer>> {
  const ref = requireRef(id);
  if (ref.kind === 'uploaded') {
    const content = await deps.files.openRead(ref.id);
    if (content === undefined) throw new NotFoundError(`No such File object: ${ref.id}`);
    return content;
  }
  const found = await jobFile(deps, ref);
  if (found === undefined) throw new NotFoundError(`No such File object: ${ref.id}`);
  return deps.blobs.openRead(found.location.container, found.location.name, { etag: found.etag, size: found.size });
}

export interface FilePage {
  readonly object: 'list';
  readonly data: OpenAIFile[];
  readonly first_id: string | null;
  readonly last_id: string | null;
  readonly has_more: boolean;
}

/** Uploaded files, in id order, `limit` at a time after `after` (OpenAI's cursor: the last id of the page before). */
export async function listFiles(
  deps: FilesDeps,
  query: { limit: string | null; after: string | null; purpose: string | null },
): Promise<FilePage> {
  const limit = parseLimit(query.limit, 10_000, 10_000);
  const data: OpenAIFile[] = [];
  let hasMore = false;
  if (query.purpose === null || query.purpose === BATCH_PURPOSE) {
    for await (const file of deps.files.list({ afterId: query.after ?? undefined })) {
      if (data.length === limit) {
        hasMore = true;
        break;
      }
      data.push(toOpenAIFile({ ...file, purpose: 'batch' }));
    }
  }
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
}

export async function deleteFile(
  deps: FilesDeps,
  id: string | undefined,
): Promise<{ id: string; object: 'file'; deleted: true }> {
  const ref = requireRef(id);
  if (ref.kind !== 'uploaded') {
    if ((await jobFile(deps, ref)) === undefined) throw new NotFoundError(`No such File object: ${ref.id}`);
    throw new BadRequestError(
      'The files of a batch are kept with the batch and cannot be deleted on their own',
      'file_id',
    );
  }
  if (!(await deps.files.delete(ref.id))) throw new NotFoundError(`No such File object: ${ref.id}`);
  return { id: ref.id, object: 'file', deleted: true };
}

export function parseLimit(value: string | null, fallback: number, max: number): number {
  if (value === null) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > max)
    throw new BadRequestError(`limit must be an integer from 1 to ${max}`, 'limit');
  return parsed;
}
