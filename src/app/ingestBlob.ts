import { randomUUID } from 'node:crypto';
import type { IngestDeps } from './ingest/IngestDeps.js';
import { parseTags, tagsFromBlobMetadata } from '../core/tags.js';
import {
  createJobWithBadTags,
  createLeasedJob,
  takeIngestLease,
  type IngestReader,
  type NotReading,
} from './ingest/ingestLease.js';
import { openIngestRun } from './ingest/IngestRun.js';
import { pinBlobToJob } from './ingest/pinBlobToJob.js';
import { readChunk } from './ingest/readChunk.js';
import { finishIngest, handOffChunk } from './ingest/finishChunk.js';
import { checkpoint } from './ingest/checkpoint.js';
import { endIngestEarly } from './ingest/endIngestEarly.js';
import type { IngestRun } from './ingest/IngestRun.js';
import { BlobChangedError } from './ports.js';
import type { ControlMessage } from '../core/controlMessage.js';

export type { IngestDeps } from './ingest/IngestDeps.js';
export { IngestLeaseLostError } from './ingest/ingestLease.js';
export { JOB_ID_METADATA } from './ingest/pinBlobToJob.js';

export type IngestResult =
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'already-ingested'; readonly jobId: string }
  | { readonly kind: 'busy'; readonly jobId: string }
  | { readonly kind: 'continued'; readonly jobId: string; readonly linesRead: number }
  /** The job's input version was deleted or replaced before it was read to its end: the job's ingest ended. */
  | { readonly kind: 'input-lost'; readonly jobId: string }
  | { readonly kind: 'ingested'; readonly jobId: string; readonly requests: number; readonly invalid: number };

/**
 * Turns a dropped blob into a job: pins the blob version, validates every line while streaming,
 * and fans valid requests out onto the work queue. Safe to run again for the same blob: the job id
 * comes from the blob version, and a resumed run re-sends nothing that was already sent.
 */
export async function ingestBlob(container: string, name: string, deps: IngestDeps): Promise<IngestResult> {
  const unreadable = unreadableName(name);
  if (unreadable !== undefined) {
    deps.logger.warn(`Ignoring ${container}/${name}: ${unreadable.warning}`);
    return { kind: 'ignored', reason: unreadable.reason };
  }
  const pinned = await pinBlobToJob(container, name, deps);
  if (pinned === undefined) return { kind: 'ignored', reason: 'blob no longer exists' };

  // One reader per file: a second delivery of the event (or a sweeper's resume) backs off while the lease is live.
  const owner = randomUUID();
  let reader: IngestReader | NotReading | undefined;
  const stored = pinned.lookup !== undefined ? pinned.lookup.stored : await deps.jobs.getJob(pinned.jobId);
  if (stored === undefined) {
    const tags = parseTags(tagsFromBlobMetadata(pinned.metadata));
    if (!tags.ok) {
      await createJobWithBadTags({ ...pinned, container, name }, tags.error, deps);
      return { kind: 'ingested', jobId: pinned.jobId, requests: 0, invalid: 0 };
    }
    reader = await createLeasedJob({ ...pinned, container, name }, owner, deps, tags.value);
  }
  if (reader === undefined) {
    // An existing job (or one another delivery created first): take turns through the lease like any later run.
    const current = stored ?? (await deps.jobs.getJob(pinned.jobId));
    if (current === undefined) throw new Error(`Job ${pinned.jobId} could not be read back after creation`);
    if (current.job.ingest.done) return { kind: 'already-ingested', jobId: pinned.jobId };
    reader = await takeIngestLease(pinned.jobId, owner, deps);
  }
  if ('kind' in reader) return { kind: reader.kind, jobId: pinned.jobId };
  return streamIntoJob(reader, deps);
}

/** A control queue's ingest message: a job's continuation (by its id), or a blob to ingest (by its name). */
export function runIngestMessage(
  message: Extract<ControlMessage, { kind: 'ingest' }>,
  deps: IngestDeps,
): Promise<IngestResult> {
  return message.jobId === undefined
    ? ingestBlob(message.container, message.name, deps)
    : continueIngest(message.jobId, deps);
}

/**
 * Goes on with a job's ingest (the next chunk, or a resume after a crash) from the input version the
 * job pinned, never from whatever now has its name: if that version is gone, the job's ingest ends
 * (`endIngestEarly`) rather than waiting for it forever.
 */
export async function continueIngest(jobId: string, deps: IngestDeps): Promise<IngestResult> {
  const stored = await deps.jobs.getJob(jobId);
  if (stored === undefined) return { kind: 'ignored', reason: 'job no longer exists' };
  const { job } = stored;
  if (job.ingest.done) return { kind: 'already-ingested', jobId };
  const { container, name, etag } = job.input;
  const properties = await deps.blobs.getProperties(container, name);
  if (properties?.etag !== etag) {
    await endIngestEarly(jobId, properties === undefined, deps);
    return { kind: 'input-lost', jobId };
  }
  const reader = await takeIngestLease(jobId, randomUUID(), deps);
  if ('kind' in reader) return { kind: reader.kind, jobId };
  return streamIntoJob(reader, deps);
}

/** Names the ingest never reads, with why. */
function unreadableName(name: string): { reason: string; warning: string } | undefined {
  if (!name.toLowerCase().endsWith('.jsonl')) {
    return { reason: 'not a .jsonl file', warning: 'only .jsonl files are batch inputs' };
  }
  if (name.split('/').some((segment) => segment === '.' || segment === '..')) {
    // Storage keeps such names literally, but every URL client resolves the dots: reading it would read
    // another blob, maybe in another container.
    const warning = '"." and ".." segments in a blob name cannot be addressed exactly';
    return { reason: 'dot segments in the name', warning };
  }
  return undefined;
}

/**
 * Reads one chunk of the file (at most `chunkLines` lines) from where the job's ingest stands, fans it
 * out, and either finishes the job's ingest or hands the rest to a continuation message. No invocation
 * reads a whole large file, and a crash loses at most the work since the chunk's start, which a resumed
 * run repeats without re-sending what was sent: messages are numbered deterministically from there.
 */
async function streamIntoJob(reader: IngestReader, deps: IngestDeps): Promise<IngestResult> {
  const run = await openIngestRun(reader, deps);
  try {
    await readChunk(run, deps);
  } catch (error) {
    if (!(error instanceof BlobChangedError)) throw error;
    return endRunEarly(run, deps);
  }
  const jobId = run.job.id;
  if (run.chunkEnd !== undefined) {
    await handOffChunk(run, run.chunkEnd, deps);
    return { kind: 'continued', jobId, linesRead: run.tally.linesRead };
  }
  await finishIngest(run, deps);
  return { kind: 'ingested', jobId, requests: run.tally.requests, invalid: run.tally.invalid };
}

/** The pinned version vanished while the chunk was read: what was read goes out and is kept, then the ingest ends. */
async function endRunEarly(run: IngestRun, deps: IngestDeps): Promise<IngestResult> {
  run.outgoing.push(...run.packer.flush());
  await checkpoint(run, deps, 'done');
  const deleted = (await deps.blobs.getProperties(run.job.input.container, run.job.input.name)) === undefined;
  await endIngestEarly(run.job.id, deleted, deps);
  return { kind: 'input-lost', jobId: run.job.id };
}
