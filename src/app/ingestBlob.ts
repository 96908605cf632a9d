import { BatchFileValidator } from '../core/BatchFileValidator.js';
import { JobStatus, MAX_ERRORS_ON_JOB, newJob, type IngestChunkStart, type Job, type JobLineError } from '../core/job.js';
import type { ChatCompletionBody } from '../core/chat.js';
import { CustomIdSet } from '../core/CustomIdSet.js';
import type { ControlMessage } from './controlMessages.js';
import { isValidJobId, jobIdFor } from '../core/jobId.js';
import { LineSplitter } from '../core/LineSplitter.js';
import { LineErrorCode } from '../core/lineErrors.js';
import { LineStatus, type LineOutcome } from '../core/lineOutcome.js';
import { RequestMessagePacker, type PackRequestsOptions, type RequestMessage } from '../core/requestMessage.js';
import { estimateJobCost } from '../core/costEstimate.js';
import { utcDay, type ModelPrice } from '../core/pricing.js';
import { spendingCapFromMetadata } from '../core/spendingCap.js';
import { batchRequestFromBlobMetadata } from '../core/openai/batchRequest.js';
import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from './Logger.js';
import type { Deployments } from './deployments.js';
import type { BlobStore, Clock, JobStore, MessageQueue } from './ports.js';
import { updateJob } from './updateJob.js';
import { recordOutcomesAndMaybeFinalize } from './processRequestMessage.js';
import type { ResultParts } from './resultParts.js';

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
  /** For the job's cost estimate. */
  readonly prices: readonly ModelPrice[];
  /** Where the ingest keeps its state between chunks (the output container). */
  readonly stateContainer: string;
  readonly chunkLines?: number;
  readonly exactTokenLines?: number;
  /** Spending cap of a job whose blob has no `maxcost` metadata; undefined = none. */
  readonly defaultMaxCostInNanos: number | undefined;
  /** Where the output lines of the outcomes the ingest records (invalid or cancelled lines) are staged. */
  readonly resultParts: ResultParts;
}

/** Another reader took over the file (this one was too slow to renew its lease): stop, it carries on. */
export class IngestLeaseLostError extends Error {
  override readonly name = 'IngestLeaseLostError';
  readonly code = 'ingest_lease_lost';
  constructor(jobId: string) {
    super(`Job ${jobId}: another ingest took over the file`);
  }
}

/** Metadata key that ties a blob to its job. */
export const JOB_ID_METADATA = 'jobid';
/** Work messages between two records of the ingest's progress on the job. */
const DEFAULT_MESSAGES_PER_CHECKPOINT = 256;
const SEND_BATCH_MESSAGES = 32;
/** About 400 lines of a typical file: the ingest lets the process breathe this often. */
const READ_SLICE_BYTES = 64 * 1024;
/**
 * Until the job's first message is out, slices are smaller: the first lines' tokens are counted exactly
 * (slowly), and a whole first slice of them held the first message back by ~150 ms.
 */
const FIRST_SLICE_BYTES = 8 * 1024;
/**
 * Batches of sends under way while reading goes on: two (up to 64 sends) keep the queue service busy
 * without flooding it. With six (~190 sends) queued at Azurite at a job's start, the workers' receives and
 * range reads waited behind them. Azure's target for one queue is 2,000 messages a second, which 64 sends
 * in flight reach (bench:ingest: 100,000 lines as fast as with six, 1,000,000 lines ~11% slower).
 */
const MAX_SEND_BATCHES_IN_FLIGHT = 2;
/** Renewed at every checkpoint; a reader that died lets another take over after this. */
const INGEST_LEASE_IN_MS = 5 * 60_000;
const INVALID_PER_FLUSH = 500;
/** Lines one invocation reads before handing on: well inside a function's time limit at any line size. */
const DEFAULT_CHUNK_LINES = 200_000;
/** Lines whose prompt tokens are counted with the real tokenizer; later ones are estimated from them. */
const DEFAULT_EXACT_TOKEN_LINES = 1_000;

export type IngestResult =
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'already-ingested'; readonly jobId: string }
  | { readonly kind: 'busy'; readonly jobId: string }
  | { readonly kind: 'continued'; readonly jobId: string; readonly linesRead: number }
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
  if (name.split('/').some((segment) => segment === '.' || segment === '..')) {
    // Storage keeps such names literally, but every URL client resolves the dots: reading it would read another blob, maybe in another container.
    deps.logger.warn(`Ignoring ${container}/${name}: "." and ".." segments in a blob name cannot be addressed exactly`);
    return { kind: 'ignored', reason: 'dot segments in the name' };
  }
  const pinned = await pinBlobToJob(container, name, deps);
  if (pinned === undefined) return { kind: 'ignored', reason: 'blob no longer exists' };

  // One reader per file: a second delivery of the event (or a sweeper's resume) backs off while the lease is live.
  const owner = randomUUID();
  let stored = await deps.jobs.getJob(pinned.jobId);
  if (stored === undefined) {
    const created = newJob({
      ...spendingCapFromMetadata(pinned.metadata, deps.defaultMaxCostInNanos),
      id: pinned.jobId,
      createdAtInMs: deps.clock.nowInMs(),
      input: { container, name, etag: pinned.etag, size: pinned.size },
      // Chosen when the first request line shows which model the file asks for; with one deployment
      // there is no choice, and pinning it now spares the first message a write before it goes out.
      model: deps.deployments.primary.model,
      deployment: deps.deployments.all.length === 1 ? deps.deployments.primary.name : '',
      batchRequest: batchRequestFromBlobMetadata(pinned.metadata, deps.clock.nowInMs()),
    });
    // Created with the lease already ours: a new job's reading starts without reading it back and writing it again.
    const leasedAtCreation: Job = { ...created, ingestLease: { owner, untilInMs: deps.clock.nowInMs() + INGEST_LEASE_IN_MS } };
    if (await deps.jobs.createJob(leasedAtCreation)) return streamIntoJob(leasedAtCreation, owner, deps, true);
    // Another delivery created it first: take turns through the lease like any later run.
    stored = await deps.jobs.getJob(pinned.jobId);
  }
  if (stored === undefined) throw new Error(`Job ${pinned.jobId} could not be read back after creation`);
  if (stored.job.ingest.done) return { kind: 'already-ingested', jobId: pinned.jobId };

  let firstReader = false;
  const leased = await updateJob(deps.jobs, pinned.jobId, (current) => {
    if (current.ingest.done) return undefined;
    const lease = current.ingestLease;
    if (lease !== undefined && lease.owner !== owner && lease.untilInMs > deps.clock.nowInMs()) return undefined;
    // Nobody held this chunk before (no lease left behind, nothing sent past its start): what this run sends is sent for the first time.
    firstReader = lease === undefined && current.ingest.messagesSent === (current.ingest.chunk ?? FILE_START).seq;
    return { ...current, ingestLease: { owner, untilInMs: deps.clock.nowInMs() + INGEST_LEASE_IN_MS } };
  });
  if (leased.job.ingest.done) return { kind: 'already-ingested', jobId: pinned.jobId };
  if (leased.job.ingestLease?.owner !== owner) return { kind: 'busy', jobId: pinned.jobId };
  return streamIntoJob(leased.job, owner, deps, firstReader);
}

/**
 * Labels the blob with its job id. Writing metadata changes the ETag, so the job pins the ETag that
 * results from it; a later event for the same content finds the label and maps to the same job.
 * A new upload replaces the metadata, and so becomes a new job.
 */
async function pinBlobToJob(
  container: string,
  name: string,
  deps: IngestDeps,
): Promise<{ jobId: string; etag: string; size: number; metadata: Readonly<Record<string, string>> } | undefined> {
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const properties = await deps.blobs.getProperties(container, name);
    if (properties === undefined) return undefined;
    const labelled = properties.metadata[JOB_ID_METADATA];
    if (labelled !== undefined && isValidJobId(labelled)) {
      return { jobId: labelled, etag: properties.etag, size: properties.size, metadata: properties.metadata };
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

/** Prompt text of a request, for estimating tokens from characters beyond the exactly counted sample. */
function promptChars(body: ChatCompletionBody): number {
  let chars = 0;
  for (const message of body.messages) {
    const content = message.content;
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content)) for (const part of content) chars += typeof part.text === 'string' ? part.text.length : 0;
  }
  return chars;
}

const FILE_START: IngestChunkStart = {
  byteOffset: 0,
  lineNumber: 1,
  seq: 0,
  idsBlob: undefined,
  requestedModel: undefined,
  linesRead: 0,
  requests: 0,
  invalid: 0,
  defaultMaxTokensApplied: 0,
  estimatedPromptTokens: 0,
  maxCompletionTokens: 0,
  sampledChars: 0,
  sampledTokens: 0,
  sampledLines: 0,
};

/**
 * Reads one chunk of the file (at most `chunkLines` lines) from where the job's ingest stands, fans it
 * out, and either finishes the job's ingest or hands the rest to a continuation message. No invocation
 * reads a whole large file, and a crash loses at most the work since the chunk's start, which a resumed
 * run repeats without re-sending what was sent: messages are numbered deterministically from there.
 */
async function streamIntoJob(startingJob: Job, owner: string, deps: IngestDeps, firstReader: boolean): Promise<IngestResult> {
  let job = startingJob;
  const { container, name, etag } = job.input;
  const chunkStart = job.ingest.chunk ?? FILE_START;
  const alreadySent = job.ingest.messagesSent;
  const chunkLines = deps.chunkLines ?? DEFAULT_CHUNK_LINES;
  const exactTokenLines = deps.exactTokenLines ?? DEFAULT_EXACT_TOKEN_LINES;

  const seenCustomIds =
    chunkStart.idsBlob === undefined ? new CustomIdSet() : CustomIdSet.fromBuffer((await deps.blobs.download(deps.stateContainer, chunkStart.idsBlob)) ?? Buffer.alloc(0));
  const splitter = new LineSplitter({ maxLineBytes: deps.maxLineBytes, startByteOffset: chunkStart.byteOffset, startLineNumber: chunkStart.lineNumber });
  const validator = new BatchFileValidator(
    { maxLineBytes: deps.maxLineBytes, maxLinesPerFile: deps.maxLinesPerFile },
    { seenCustomIds, requestedModel: chunkStart.requestedModel, tasks: chunkStart.requests },
  );
  const packer = new RequestMessagePacker(job.id, { container, name, etag }, deps.packing, chunkStart.seq, { firstSend: firstReader });

  let deployment = job.deployment === '' ? undefined : deps.deployments.byName(job.deployment);
  let { linesRead, requests, invalid, defaultMaxTokensApplied, estimatedPromptTokens, maxCompletionTokens, sampledChars, sampledTokens, sampledLines } = chunkStart;
  let messagesSent = Math.max(alreadySent, chunkStart.seq);
  const errors: JobLineError[] = [...job.errors];
  let outgoing: RequestMessage[] = [];
  /** Sends under way: reading goes on while up to MAX_SEND_BATCHES_IN_FLIGHT batches are in flight, which is what keeps the ingest busy. */
  const inFlight: Promise<void>[] = [];
  /** Workers read the deployment from the job: it is recorded before any message can reach one. */
  const pinDeployment = async (): Promise<void> => {
    if (job.deployment !== '' || deployment === undefined) return;
    const chosen = deployment;
    await updateJob(deps.jobs, job.id, (current) => ({ ...current, deployment: chosen.name, model: chosen.model }));
    job = { ...job, deployment: chosen.name };
  };
  const dispatch = async (): Promise<void> => {
    if (outgoing.length > 0) await pinDeployment();
    const batch = outgoing.filter((m) => m.seq >= alreadySent);
    if (outgoing.length > 0) messagesSent = Math.max(messagesSent, outgoing[outgoing.length - 1]!.seq + 1);
    outgoing = [];
    if (batch.length === 0) return;
    if (cancelled) {
      // Cancelled while reading: what is not sent yet is never sent; each line still gets its outcome.
      for (const message of batch) for (const item of message.items) directOutcomes.push(cancelledOutcome(item.line, item.id));
      return;
    }
    const sending = deps.requestQueue.send(batch);
    // Awaited in turn below or at the checkpoint; until then a failure must not count as unhandled (that ends the process).
    sending.catch(() => undefined);
    inFlight.push(sending);
    if (inFlight.length >= MAX_SEND_BATCHES_IN_FLIGHT) await inFlight.shift();
  };
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

  const checkpoint = async (state: 'reading' | 'chunk-end' | 'done', end?: { byteOffset: number; lineNumber: number }): Promise<void> => {
    await pinDeployment();
    const latest = await deps.jobs.getJob(job.id);
    cancelled ||= latest?.job.status === JobStatus.cancelling || latest?.job.status === JobStatus.cancelled;
    await dispatch();
    await Promise.all(inFlight.splice(0));
    await recordOutcomesAndMaybeFinalize(job.id, directOutcomes, deps);
    directOutcomes = [];

    let nextChunk: IngestChunkStart | undefined = job.ingest.chunk;
    if (state === 'chunk-end') {
      // The custom_ids seen so far travel to the next chunk as a blob named by where it starts.
      const at = end ?? { byteOffset: splitter.committedByteOffset, lineNumber: splitter.nextLineNumber };
      const idsBlob = `${job.id}/.ingest/custom-ids-${at.lineNumber}.bin`;
      await deps.blobs.upload(deps.stateContainer, idsBlob, (async function* () { yield validator.state.seenCustomIds.toBuffer(); })(), {
        contentType: 'application/octet-stream',
      });
      nextChunk = {
        byteOffset: at.byteOffset,
        lineNumber: at.lineNumber,
        seq: packer.nextSeq,
        idsBlob,
        requestedModel: validator.requestedModel,
        linesRead,
        requests,
        invalid,
        defaultMaxTokensApplied,
        estimatedPromptTokens,
        maxCompletionTokens,
        sampledChars,
        sampledTokens,
        sampledLines,
      };
    }
    const done = state === 'done';
    await updateJob(deps.jobs, job.id, (current) => {
      if (current.ingestLease?.owner !== owner) throw new IngestLeaseLostError(job.id);
      return {
        ...current,
        // Between chunks nobody reads: the continuation message's run takes the lease afresh.
        ingestLease: state === 'reading' ? { owner, untilInMs: deps.clock.nowInMs() + INGEST_LEASE_IN_MS } : undefined,
        progressAtInMs: deps.clock.nowInMs(),
        status: done && requests === 0 ? current.status : current.status === JobStatus.validating && messagesSent > 0 ? JobStatus.inProgress : current.status,
        requestedModel: validator.requestedModel,
        ingest: { done, linesRead, requests, invalid, messagesSent, defaultMaxTokensApplied, estimatedPromptTokens, maxCompletionTokens, chunk: nextChunk },
        costEstimate: estimateJobCost(deps.prices, current.model, utcDay(current.createdAtInMs), estimatedPromptTokens, maxCompletionTokens),
        errors,
        timestamps:
          current.timestamps.inProgressAt === undefined && messagesSent > 0
            ? { ...current.timestamps, inProgressAt: deps.clock.nowInMs() }
            : current.timestamps,
      };
    });
    job = { ...job, ingest: { ...job.ingest, chunk: nextChunk } };
  };

  const handle = (raw: Parameters<BatchFileValidator['validate']>[0]): void => {
    linesRead += 1;
    const line = validator.validate(raw);
    if (line.kind === 'blank') return;
    if (line.kind === 'invalid') {
      invalid += 1;
      if (errors.length < MAX_ERRORS_ON_JOB && !errors.some((e) => e.line === line.lineNumber)) errors.push({ ...line.error, line: line.lineNumber });
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
    // The tokenizer is exact but slow: the first lines are counted exactly, the rest estimated from their length.
    if (sampledLines < exactTokenLines) {
      const tokens = deployment.tokenCounter.countChatPrompt(line.body.messages);
      estimatedPromptTokens += tokens;
      sampledTokens += tokens;
      sampledChars += promptChars(line.body);
      sampledLines += 1;
    } else {
      const perChar = sampledChars === 0 ? 0.25 : sampledTokens / sampledChars;
      estimatedPromptTokens += Math.ceil(promptChars(line.body) * perChar + (sampledTokens - sampledChars * perChar) / Math.max(1, sampledLines));
    }
    if (cancelled) {
      directOutcomes.push(cancelledOutcome(line.lineNumber, line.customId));
      return;
    }
    outgoing.push(...packer.add(line.lineNumber, line.customId, line.body, { offset: line.byteOffset, length: line.byteLength }));
  };

  const linesAtStart = chunkStart.linesRead;
  let lastCheckpointSeq = messagesSent;
  const perCheckpoint = deps.messagesPerCheckpoint ?? DEFAULT_MESSAGES_PER_CHECKPOINT;
  /** Where the next chunk starts, once this one is full: right after the last line handled. */
  let chunkEnd: { byteOffset: number; lineNumber: number } | undefined;
  // The job pinned this version's size with its ETag: no need to ask for it again.
  const stream = await deps.blobs.openRead(container, name, { etag, offset: chunkStart.byteOffset, size: job.input.size });
  for await (const chunk of stream) {
    // A range read holds thousands of lines: they are taken a slice at a time, with the sends and the
    // rest of the process given their turn in between, so the first messages go out (and workers start)
    // while the rest is read.
    for (let at = 0, step = READ_SLICE_BYTES; at < chunk.length && chunkEnd === undefined; at += step) {
      step = messagesSent === 0 ? FIRST_SLICE_BYTES : READ_SLICE_BYTES;
      const rawLines = splitter.push(chunk.subarray(at, at + step));
      for (const [index, raw] of rawLines.entries()) {
        handle(raw);
        if (linesRead - linesAtStart >= chunkLines) {
          const next = rawLines[index + 1];
          chunkEnd = { byteOffset: next?.byteOffset ?? splitter.committedByteOffset, lineNumber: raw.lineNumber + 1 };
          break;
        }
      }
      if (chunkEnd !== undefined) break;
      // The job's first messages go out at once, and are checkpointed at once (the job shows in progress);
      // later ones in batches.
      const firstOut = messagesSent === 0;
      if (outgoing.length >= (firstOut ? 1 : Math.min(SEND_BATCH_MESSAGES, perCheckpoint))) await dispatch();
      if ((firstOut && messagesSent > 0) || messagesSent - lastCheckpointSeq >= perCheckpoint || directOutcomes.length >= INVALID_PER_FLUSH) {
        await checkpoint('reading');
        lastCheckpointSeq = messagesSent;
      }
      await yieldToEventLoop();
    }
    if (chunkEnd !== undefined) break;
  }
  if (chunkEnd !== undefined) {
    // Stop at a line boundary; the lines after it are read by the continuation.
    outgoing.push(...packer.flush());
    await checkpoint('chunk-end', chunkEnd);
    const next: ControlMessage = { v: 1, kind: 'ingest', container, name };
    await deps.controlQueue.send([next]);
    deps.logger.info(`Job ${job.id}: read ${linesRead} lines of ${container}/${name} so far; continuing in a new invocation`);
    return { kind: 'continued', jobId: job.id, linesRead };
  }
  for (const raw of splitter.end()) handle(raw);
  outgoing.push(...packer.flush());
  await checkpoint('done');

  // Every line may already have its outcome (all invalid, or workers were quick): finalisation needs asking for here.
  const final = await deps.jobs.getJob(job.id);
  if (final !== undefined && final.job.counts.succeeded + final.job.counts.failed >= requests + invalid) {
    await deps.controlQueue.send([{ v: 1, kind: 'finalize', jobId: job.id }]);
  }
  deps.logger.info(`Job ${job.id}: ingested ${container}/${name}: ${requests} requests, ${invalid} invalid lines`);
  return { kind: 'ingested', jobId: job.id, requests, invalid };
}
