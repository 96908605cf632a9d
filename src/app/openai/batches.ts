import { BadRequestError, NotFoundError } from '../../core/errors.js';
import { newJob, type Job } from '../../core/job.js';
import { jobMatches, type JobFilter } from '../jobFilter.js';
import { isValidJobId } from '../../core/jobId.js';
import { parseBatchMetadata } from '../../core/openai/batchMetadata.js';
import { parseCompletionWindow, type CompletionWindowLimits } from '../../core/openai/completionWindow.js';
import { cacheChoiceFromMetadata } from '../../core/responseCache.js';
import { parseFileId } from '../../core/openai/fileIds.js';
import { parsePriority, PRIORITY_METADATA, type JobPriority } from '../../core/priority.js';
import { parseTags } from '../../core/tags.js';
import { CHAT_COMPLETIONS_ENDPOINT, toOpenAIBatch, type OpenAIBatch } from '../../core/openai/openaiObjects.js';
import { cancelJob } from '../cancelJob.js';
import { ingestMessage } from '../../core/controlMessage.js';
import type { Deployments } from '../deployments.js';
import { JOB_ID_METADATA } from '../ingestBlob.js';
import type { Clock, FairShareStore, JobStore, MessageQueue } from '../ports.js';
import type { FileStore } from './ports.js';
import { parseLimit } from './files.js';

export interface BatchesDeps {
  readonly jobs: JobStore;
  readonly files: FileStore;
  readonly controlQueue: MessageQueue;
  readonly deployments: Deployments;
  readonly clock: Clock;
  /** 32 lowercase hex digits, new for every batch. */
  readonly newHex32: () => string;
  /** Where a batch keeps its own copy of its input file, beside its output. */
  readonly outputContainer: string;
  readonly windowLimits: CompletionWindowLimits;
  readonly defaultMaxCostInNanos: number | undefined;
  /** With lazy fan-out (decision 0012): a cancelled batch stops being fed at once. */
  readonly fairShare?: FairShareStore | undefined;
}

function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new BadRequestError('The request body must be a JSON object');
  return body as Record<string, unknown>;
}

/**
 * `POST /v1/batches`: the batch gets its own server-side copy of the file (deleting the file later leaves
 * it alone), labelled with its job id, and its ingest starts through the control queue like a dropped
 * file's. The job exists before the ingest can run, so the batch is visible at once.
 */
export async function createBatch(deps: BatchesDeps, body: unknown): Promise<OpenAIBatch> {
  const request = parseCreateBatchRequest(body, deps.windowLimits);
  await requireBatchFile(deps.files, request.inputFileId);

  const jobId = `job_${deps.newHex32()}`;
  const target = { container: deps.outputContainer, name: `${jobId}/input.jsonl` };
  const copied = await deps.files.copyTo(request.inputFileId, target, { [JOB_ID_METADATA]: jobId });
  if (copied === undefined) throw new NotFoundError(`No such File object: ${request.inputFileId}`, 'input_file_id');
  const now = deps.clock.nowInMs();
  const job = newJob({
    id: jobId,
    createdAtInMs: now,
    input: { ...target, etag: copied.etag, size: copied.size },
    model: deps.deployments.primary.model,
    deployment: deps.deployments.all.length === 1 ? deps.deployments.primary.name : '',
    ...(deps.defaultMaxCostInNanos === undefined ? {} : { maxCostInNanos: deps.defaultMaxCostInNanos }),
    ...(request.priority === undefined ? {} : { priority: request.priority }),
    ...(request.tags === undefined ? {} : { tags: request.tags }),
    batchRequest: {
      completionWindow: request.completionWindow,
      expiresAtInMs: now + request.windowInMs,
      metadata: request.metadata,
      inputFileId: request.inputFileId,
    },
    cacheChoice: cacheChoiceFromMetadata({}, request.metadata),
  });
  if (!(await deps.jobs.createJob(job))) throw new Error(`Job ${jobId} exists already`);
  await deps.controlQueue.send([ingestMessage(target.container, target.name)]);
  return toOpenAIBatch(job);
}

interface CreateBatchRequest {
  /** The id of an uploaded file (`file-...`). */
  readonly inputFileId: string;
  readonly completionWindow: string;
  readonly windowInMs: number;
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** From `metadata.priority`; undefined = the default. */
  readonly priority: JobPriority | undefined;
  /** The metadata's pairs as the job's tags; undefined when it has none. */
  readonly tags: Readonly<Record<string, string>> | undefined;
}

/** The body of `POST /v1/batches`, checked field by field in OpenAI's order; a BadRequestError names the field. */
function parseCreateBatchRequest(body: unknown, windowLimits: CompletionWindowLimits): CreateBatchRequest {
  const request = asObject(body);
  const inputFileId = request['input_file_id'];
  if (typeof inputFileId !== 'string' || inputFileId === '')
    throw new BadRequestError("Missing required parameter: 'input_file_id'", 'input_file_id');
  if (request['endpoint'] !== CHAT_COMPLETIONS_ENDPOINT) {
    throw new BadRequestError(
      `Invalid endpoint ${JSON.stringify(request['endpoint'])}: only "${CHAT_COMPLETIONS_ENDPOINT}" is supported`,
      'endpoint',
    );
  }
  const completionWindow = request['completion_window'];
  const windowInMs = parseCompletionWindow(completionWindow, windowLimits);
  const metadata = parseBatchMetadata(request['metadata']);
  const tags = tagsOfMetadata(metadata);
  const ref = parseFileId(inputFileId);
  if (ref?.kind !== 'uploaded')
    throw new BadRequestError(
      `Invalid input_file_id ${JSON.stringify(inputFileId)}: not an uploaded batch file`,
      'input_file_id',
    );
  // parseCompletionWindow accepts only strings.
  return {
    inputFileId: ref.id,
    completionWindow: completionWindow as string,
    windowInMs,
    metadata,
    priority: priorityOfMetadata(metadata),
    tags,
  };
}

/** The batch's priority from its metadata's `priority` pair: refused with a 400 when it cannot be read. */
function priorityOfMetadata(metadata: Readonly<Record<string, string>> | undefined): JobPriority | undefined {
  const text = metadata?.[PRIORITY_METADATA];
  if (text === undefined) return undefined;
  const result = parsePriority(text);
  if (!result.ok) throw new BadRequestError(`metadata.${result.error}`, `metadata.${PRIORITY_METADATA}`);
  return result.value;
}

/**
 * Every metadata pair is a tag: metadata is how an OpenAI client attributes a batch, and no key is
 * reserved. Pairs that cannot be tags are refused, as OpenAI refuses metadata over its limits, rather than
 * leaving the batch's spend unattributed.
 */
function tagsOfMetadata(metadata: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (metadata === undefined || Object.keys(metadata).length === 0) return undefined;
  const tags = parseTags(metadata);
  if (!tags.ok) throw new BadRequestError(`Invalid metadata: every pair is a cost tag, and ${tags.error}`, 'metadata');
  return { ...tags.value };
}

/** The uploaded file exists and is meant for batches. */
async function requireBatchFile(files: FileStore, id: string): Promise<void> {
  const file = await files.get(id);
  if (file === undefined) throw new NotFoundError(`No such File object: ${id}`, 'input_file_id');
  if (file.purpose !== 'batch')
    throw new BadRequestError(`File ${id} has purpose ${JSON.stringify(file.purpose)}, not "batch"`, 'input_file_id');
}

async function requireBatch(jobs: JobStore, id: string | undefined): Promise<Job> {
  const stored = id !== undefined && isValidJobId(id) ? await jobs.getJob(id) : undefined;
  if (stored === undefined) throw new NotFoundError(`No such Batch object: ${id ?? ''}`);
  return stored.job;
}

export async function getBatch(jobs: JobStore, id: string | undefined): Promise<OpenAIBatch> {
  return toOpenAIBatch(await requireBatch(jobs, id));
}

export async function cancelBatch(
  deps: Pick<BatchesDeps, 'jobs' | 'controlQueue' | 'clock'>,
  id: string | undefined,
): Promise<OpenAIBatch> {
  const job = await requireBatch(deps.jobs, id);
  return toOpenAIBatch(await cancelJob(deps, job.id));
}

export interface BatchPage {
  readonly object: 'list';
  readonly data: OpenAIBatch[];
  readonly first_id: string | null;
  readonly last_id: string | null;
  readonly has_more: boolean;
}

const STORE_PAGE = 100;

/**
 * Newest first, `limit` at a time after the batch `after` (OpenAI's cursor: the last id of the page
 * before). The store is paged through from the newest, so a deep cursor costs a longer walk.
 */
export async function listBatches(
  jobs: JobStore,
  query: { limit: string | null; after: string | null; filter?: JobFilter },
): Promise<BatchPage> {
  const limit = parseLimit(query.limit, 20, 100);
  const filter = query.filter ?? {};
  const data: OpenAIBatch[] = [];
  let hasMore = false;
  for await (const job of jobsAfter(jobsNewestFirst(jobs), query.after)) {
    if (!jobMatches(job, filter)) continue;
    if (data.length === limit) {
      hasMore = true;
      break;
    }
    data.push(toOpenAIBatch(job));
  }
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
}

/** Every job, newest first, a store page at a time as they are consumed. */
async function* jobsNewestFirst(jobs: JobStore): AsyncIterable<Job> {
  let continuationToken: string | undefined;
  do {
    const page = await jobs.listJobs({ pageSize: STORE_PAGE, continuationToken });
    yield* page.jobs;
    continuationToken = page.continuationToken;
  } while (continuationToken !== undefined);
}

/** The jobs that come after the one with id `cursor` (all of them when there is none). */
async function* jobsAfter(jobs: AsyncIterable<Job>, cursor: string | null): AsyncIterable<Job> {
  let passedCursor = cursor === null;
  for await (const job of jobs) {
    if (passedCursor) yield job;
    else passedCursor = job.id === cursor;
  }
}
