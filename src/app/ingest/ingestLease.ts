import type { CompletionWindowLimits } from '../../core/openai/completionWindow.js';
import { finalizeMessage } from '../../core/controlMessage.js';
import { newJob, type IngestChunkStart, type Job } from '../../core/job.js';
import { LineErrorCode } from '../../core/lineErrors.js';
import { batchRequestFromBlobMetadata, blobBatchRequestRefusal } from '../../core/openai/batchRequest.js';
import { cacheChoiceFromMetadata } from '../../core/responseCache.js';
import { priorityFromBlobMetadata } from '../../core/priority.js';
import { spendingCapFromMetadata } from '../../core/spendingCap.js';
import type { Deployments } from '../deployments.js';
import type { Logger } from '../Logger.js';
import type { Clock, JobStore, MessageQueue } from '../ports.js';
import { INGEST_LEASE_IN_MS } from '../tuning.js';
import { updateJob } from '../updateJob.js';
import { FILE_START } from './IngestTally.js';
import type { PinnedBlob } from './pinBlobToJob.js';

/** Another reader took over the file (this one was too slow to renew its lease): stop, it carries on. */
export class IngestLeaseLostError extends Error {
  override readonly name = 'IngestLeaseLostError';
  readonly code = 'ingest_lease_lost';
  constructor(jobId: string) {
    super(`Job ${jobId}: another ingest took over the file`);
  }
}

/** The job's reader; `firstReader`: nobody read its current chunk before (what it sends goes out the first time). */
export interface IngestReader {
  readonly job: Job;
  readonly owner: string;
  readonly firstReader: boolean;
}

/** Why no reading happens now: the file is read already, or another reader holds the lease. */
export type NotReading = { readonly kind: 'already-ingested' } | { readonly kind: 'busy' };

export interface LeaseDeps {
  readonly jobs: JobStore;
  readonly clock: Clock;
}

export function ingestLease(owner: string, nowInMs: number): NonNullable<Job['ingestLease']> {
  return { owner, untilInMs: nowInMs + INGEST_LEASE_IN_MS };
}

/**
 * Creates the job with the ingest lease already taken by `owner`: a new job's reading starts without
 * reading it back and writing it again. Undefined: another delivery created it first.
 */
export async function createLeasedJob(
  blob: PinnedBlob & { readonly container: string; readonly name: string },
  owner: string,
  deps: NewJobDeps,
  tags: Readonly<Record<string, string>>,
): Promise<IngestReader | undefined> {
  const job: Job = { ...jobOfBlob(blob, deps, tags), ingestLease: ingestLease(owner, deps.clock.nowInMs()) };
  return (await deps.jobs.createJob(job)) ? { job, owner, firstReader: true } : undefined;
}

type NewJobDeps = LeaseDeps & {
  readonly deployments: Deployments;
  readonly defaultMaxCostInNanos: number | undefined;
  readonly windowLimits?: CompletionWindowLimits | undefined;
};

/**
 * A dropped file whose `tag_` metadata is not valid tags: its job is created already read, with no line and
 * an `invalid_tags` error saying why, so finalisation fails it at once and nothing is spent unattributed.
 */
export async function createJobWithBadTags(
  blob: PinnedBlob & { readonly container: string; readonly name: string },
  error: string,
  deps: NewJobDeps & { readonly controlQueue: MessageQueue; readonly logger: Logger },
): Promise<void> {
  const created = jobOfBlob(blob, deps, undefined);
  const message = `The file's tag_ metadata is not valid tags (${error}); upload it again with valid tags`;
  const job: Job = {
    ...created,
    ingest: { ...created.ingest, done: true },
    jobError: { code: LineErrorCode.invalidTags, message, param: 'tags' },
  };
  // Another delivery may have created it first: finalisation is asked for either way, and runs once.
  await deps.jobs.createJob(job);
  await deps.controlQueue.send([finalizeMessage(job.id)]);
  deps.logger.warn(`Job ${job.id}: ${message}`);
}

function jobOfBlob(
  blob: PinnedBlob & { readonly container: string; readonly name: string },
  deps: NewJobDeps,
  tags: Readonly<Record<string, string>> | undefined,
): Job {
  const { deployments } = deps;
  // A dropped file takes its completion window and batch metadata from the blob's metadata.
  const batchRequest = batchRequestFromBlobMetadata(blob.metadata, deps.clock.nowInMs(), deps.windowLimits);
  const created = newJob({
    ...(tags === undefined || Object.keys(tags).length === 0 ? {} : { tags }),
    ...spendingCapFromMetadata(blob.metadata, deps.defaultMaxCostInNanos),
    id: blob.jobId,
    createdAtInMs: deps.clock.nowInMs(),
    input: { container: blob.container, name: blob.name, etag: blob.etag, size: blob.size },
    // Chosen when the first request line shows which model the file asks for; with one deployment
    // there is no choice, and pinning it now spares the first message a write before it goes out.
    model: deployments.primary.model,
    deployment: deployments.all.length === 1 ? deployments.primary.name : '',
    batchRequest,
    cacheChoice: cacheChoiceFromMetadata(blob.metadata, batchRequest.metadata),
  });
  return { ...created, ...priorityOrRefusalOfBlob(blob.metadata, deps.clock.nowInMs(), deps.windowLimits) };
}

/**
 * The job's priority from its blob metadata. A priority, window or batch metadata that cannot be read
 * halts the job from the start: its lines end as not sent, with the reason, and the job fails with it
 * (the cap's own error, if any, gives way).
 */
function priorityOrRefusalOfBlob(
  metadata: Readonly<Record<string, string>>,
  nowInMs: number,
  windowLimits: CompletionWindowLimits | undefined,
): Partial<Job> {
  const fields = priorityFromBlobMetadata(metadata);
  const refusal = 'refusal' in fields ? fields.refusal : blobBatchRequestRefusal(metadata, windowLimits);
  if (refusal !== undefined) return { jobError: refusal, halt: { ...refusal, atInMs: nowInMs } };
  return fields.priority === undefined ? {} : { priority: fields.priority };
}

/** Takes the lease of an existing job for `owner`, unless its file is read already or another live reader holds it. */
export async function takeIngestLease(
  jobId: string,
  owner: string,
  deps: LeaseDeps,
): Promise<IngestReader | NotReading> {
  let firstReader = false;
  const leased = await updateJob(deps.jobs, jobId, (current) => {
    if (current.ingest.done) return undefined;
    const lease = current.ingestLease;
    if (lease !== undefined && lease.owner !== owner && lease.untilInMs > deps.clock.nowInMs()) return undefined;
    firstReader = isUnreadChunk(current);
    return { ...current, ingestLease: ingestLease(owner, deps.clock.nowInMs()) };
  });
  if (leased.job.ingest.done) return { kind: 'already-ingested' };
  if (leased.job.ingestLease?.owner !== owner) return { kind: 'busy' };
  return { job: leased.job, owner, firstReader };
}

/** Nobody held the current chunk before (no lease left behind, nothing sent past its start). */
function isUnreadChunk(job: Job): boolean {
  const chunk: IngestChunkStart = job.ingest.chunk ?? FILE_START;
  return job.ingestLease === undefined && job.ingest.messagesSent === chunk.seq;
}
