import { BatchFileValidator } from '../core/BatchFileValidator.js';
import { JobStatus, MAX_ERRORS_ON_JOB, newJob, type Job, type JobLineError } from '../core/job.js';
import { isValidJobId, jobIdFor } from '../core/jobId.js';
import { LineSplitter } from '../core/LineSplitter.js';
import { LineErrorCode } from '../core/lineErrors.js';
import { LineStatus, type LineOutcome } from '../core/lineOutcome.js';
import { RequestMessagePacker, type PackRequestsOptions, type RequestMessage } from '../core/requestMessage.js';
import type { Logger } from './Logger.js';
import type { Deployments } from './deployments.js';
import type { BlobStore, Clock, JobStore, MessageQueue } from './ports.js';
import { updateJob } from './updateJob.js';
import { recordOutcomesAndMaybeFinalize } from './processRequestMessage.js';

export interface IngestDeps {
  readonly jobs: JobStore;
  readonly blobs: BlobStore;
  readonly requestQueue: MessageQueue;
  readonly controlQueue: MessageQueue;
  readonly deployments: Deployments;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly defaultMaxTokens: number;
  readonly maxLineBytes: number;
  readonly maxLinesPerFile: number;
  readonly packing: PackRequestsOptions;
  /** How many work messages are sent between two checkpoints of the ingest's progress. */
  readonly messagesPerCheckpoint?: number;
}

/** Metadata key that ties a blob to its job. */
export const JOB_ID_METADATA = 'jobid';
const DEFAULT_MESSAGES_PER_CHECKPOINT = 64;
const INVALID_PER_FLUSH = 500;

export type IngestResult =
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'already-ingested'; readonly jobId: string }
  | { readonly kind: 'ingested'; readonly jobId: string; readonly requests: number; readonly invalid: number };

/**
 * Turns a dropped blob into a job: pins the blob version, validates every line while streaming,
 * and fans valid requests out onto the work queue. Safe to run again for the same blob: the job id
 * comes from the blob version, and a resumed run re-sends nothing that was already sent.
 */
export async function ingestBlob(container: string, name: string, deps: IngestDeps): Promise<IngestResult> {
  if (!name.toLowerCase().endsWith('.jsonl')) {
    deps.logger.warn(`Ignoring ${container}/${name}: only .jsonl files are batch inputs`);
    return { kind: 'ignored', reason: 'not a .jsonl file' };
  }
  const pinned = await pinBlobToJob(container, name, deps);
  if (pinned === undefined) return { kind: 'ignored', reason: 'blob no longer exists' };

  let stored = await deps.jobs.getJob(pinned.jobId);
  if (stored === undefined) {
    await deps.jobs.createJob(
      newJob({
        id: pinned.jobId,
        createdAtInMs: deps.clock.nowInMs(),
        input: { container, name, etag: pinned.etag, size: pinned.size },
        // Chosen when the first request line shows which model the file asks for.
        model: deps.deployments.primary.model,
        deployment: '',
      }),
    );
    stored = await deps.jobs.getJob(pinned.jobId);
  }
  if (stored === undefined) throw new Error(`Job ${pinned.jobId} could not be read back after creation`);
  if (stored.job.ingest.done) return { kind: 'already-ingested', jobId: pinned.jobId };
  return streamIntoJob(stored.job, deps);
}

/**
 * Labels the blob with its job id. Writing metadata changes the ETag, so the job pins the ETag that
 * results from it; a later event for the same content finds the label and maps to the same job.
 * A new upload replaces the metadata, and so becomes a new job.
 */
async function pinBlobToJob(container: string, name: string, deps: IngestDeps): Promise<{ jobId: string; etag: string; size: number } | undefined> {
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const properties = await deps.blobs.getProperties(container, name);
    if (properties === undefined) return undefined;
    const labelled = properties.metadata[JOB_ID_METADATA];
    if (labelled !== undefined && isValidJobId(labelled)) {
      return { jobId: labelled, etag: properties.etag, size: properties.size };
    }
    const jobId = jobIdFor(container, name, properties.etag);
    try {
      await deps.blobs.setMetadata(container, name, { ...properties.metadata, [JOB_ID_METADATA]: jobId }, { etag: properties.etag });
    } catch (error) {
      // Replaced between our read and write: look again at whatever is there now.
      if ((error as { code?: string }).code === 'input_changed') continue;
      throw error;
    }
  }
  throw new Error(`Blob ${container}/${name} kept changing while its job was being created`);
}

async function streamIntoJob(startingJob: Job, deps: IngestDeps): Promise<IngestResult> {
  let job = startingJob;
  const { container, name, etag } = job.input;
  // A resumed ingest re-reads from the start (validation needs every custom_id) but re-sends only what was not sent.
  const alreadySent = job.ingest.messagesSent;
  const splitter = new LineSplitter({ maxLineBytes: deps.maxLineBytes });
  const validator = new BatchFileValidator({ maxLineBytes: deps.maxLineBytes, maxLinesPerFile: deps.maxLinesPerFile });
  const packer = new RequestMessagePacker(job.id, { container, name, etag }, deps.packing);

  let deployment = job.deployment === '' ? undefined : deps.deployments.byName(job.deployment);
  let linesRead = 0;
  let requests = 0;
  let invalid = 0;
  let messagesSent = alreadySent;
  let defaultMaxTokensApplied = 0;
  let estimatedPromptTokens = 0;
  let maxCompletionTokens = 0;
  const errors: JobLineError[] = [];
  let outgoing: RequestMessage[] = [];
  /** Outcomes the ingest records itself: invalid lines, and lines of a job cancelled while it was read. */
  let directOutcomes: LineOutcome[] = [];
  let cancelled = false;
  const cancelledOutcome = (line: number, customId: string): LineOutcome => ({
    jobId: job.id,
    line,
    customId,
    status: LineStatus.cancelled,
    response: null,
    error: { code: LineErrorCode.batchCancelled, message: 'The batch was cancelled before this line was sent' },
    usage: null,
    costInNanos: 0,
    attempts: 0,
    startedAtInMs: null,
    finishedAtInMs: deps.clock.nowInMs(),
    latencyInMs: null,
  });

  const checkpoint = async (done: boolean): Promise<void> => {
    if (job.deployment === '' && deployment !== undefined) {
      // Workers read the deployment from the job, so it is recorded before the first message goes out.
      const chosen = deployment;
      await updateJob(deps.jobs, job.id, (current) => ({ ...current, deployment: chosen.name, model: chosen.model }));
      job = { ...job, deployment: chosen.name };
    }
    const latest = await deps.jobs.getJob(job.id);
    cancelled ||= latest?.job.status === JobStatus.cancelling || latest?.job.status === JobStatus.cancelled;
    const fresh = outgoing.filter((m) => m.seq >= alreadySent);
    if (cancelled) {
      // Cancelled while reading: what is not sent yet is never sent; each line still gets its outcome.
      for (const message of fresh) for (const item of message.items) directOutcomes.push(cancelledOutcome(item.line, item.id));
    } else if (fresh.length > 0) {
      await deps.requestQueue.send(fresh);
    }
    messagesSent = Math.max(messagesSent, outgoing.length === 0 ? messagesSent : outgoing[outgoing.length - 1]!.seq + 1);
    outgoing = [];
    await recordOutcomesAndMaybeFinalize(job.id, directOutcomes, deps);
    directOutcomes = [];
    await updateJob(deps.jobs, job.id, (current) => ({
      ...current,
      status: done && requests === 0 ? current.status : current.status === JobStatus.validating && messagesSent > 0 ? JobStatus.inProgress : current.status,
      requestedModel: validator.requestedModel,
      ingest: { done, linesRead, requests, invalid, messagesSent, defaultMaxTokensApplied, estimatedPromptTokens, maxCompletionTokens },
      errors,
      timestamps:
        current.timestamps.inProgressAt === undefined && messagesSent > 0
          ? { ...current.timestamps, inProgressAt: deps.clock.nowInMs() }
          : current.timestamps,
    }));
  };

  const handle = (raw: Parameters<BatchFileValidator['validate']>[0]): void => {
    linesRead += 1;
    const line = validator.validate(raw);
    if (line.kind === 'blank') return;
    if (line.kind === 'invalid') {
      invalid += 1;
      if (errors.length < MAX_ERRORS_ON_JOB) errors.push({ ...line.error, line: line.lineNumber });
      directOutcomes.push({
        jobId: job.id,
        line: line.lineNumber,
        customId: line.customId,
        status: LineStatus.failed,
        response: null,
        error: line.error,
        usage: null,
        costInNanos: 0,
        attempts: 0,
        startedAtInMs: null,
        finishedAtInMs: deps.clock.nowInMs(),
        latencyInMs: null,
      });
      return;
    }
    requests += 1;
    deployment ??= deps.deployments.forJob(line.body.model, job.id);
    const maxTokens = line.body.max_tokens;
    if (maxTokens === undefined || maxTokens === null) defaultMaxTokensApplied += 1;
    maxCompletionTokens += maxTokens ?? deps.defaultMaxTokens;
    estimatedPromptTokens += deployment.tokenCounter.countChatPrompt(line.body.messages);
    if (cancelled) {
      directOutcomes.push(cancelledOutcome(line.lineNumber, line.customId));
      return;
    }
    outgoing.push(...packer.add(line.lineNumber, line.customId, line.body, { offset: line.byteOffset, length: line.byteLength }));
  };

  const stream = await deps.blobs.openRead(container, name, { etag });
  for await (const chunk of stream) {
    for (const raw of splitter.push(chunk)) handle(raw);
    if (outgoing.length >= (deps.messagesPerCheckpoint ?? DEFAULT_MESSAGES_PER_CHECKPOINT) || directOutcomes.length >= INVALID_PER_FLUSH) await checkpoint(false);
  }
  for (const raw of splitter.end()) handle(raw);
  outgoing.push(...packer.flush());
  await checkpoint(true);

  // Every line may already have its outcome (all invalid, or workers were quick): finalisation needs asking for here.
  const final = await deps.jobs.getJob(job.id);
  if (final !== undefined && final.job.counts.succeeded + final.job.counts.failed >= requests + invalid) {
    await deps.controlQueue.send([{ v: 1, kind: 'finalize', jobId: job.id }]);
  }
  deps.logger.info(`Job ${job.id}: ingested ${container}/${name}: ${requests} requests, ${invalid} invalid lines`);
  return { kind: 'ingested', jobId: job.id, requests, invalid };
}
