import { estimateJobCost } from '../../core/costEstimate.js';
import { JobStatus, type IngestChunkStart, type Job } from '../../core/job.js';
import { utcDay } from '../../core/pricing.js';
import { recordOutcomesAndMaybeFinalize } from '../recordOutcomesAndMaybeFinalize.js';
import { updateJob } from '../updateJob.js';
import type { IngestDeps } from './IngestDeps.js';
import { ingestLease, IngestLeaseLostError } from './ingestLease.js';
import type { IngestRun } from './IngestRun.js';
import type { LinePosition } from './IngestTally.js';
import { dispatch, pinDeployment, scheduleWork, settleSends } from './sendMessages.js';

/** Part-way through a chunk, at its end (a continuation takes over), or at the file's end. */
export type CheckpointKind = 'reading' | 'chunk-end' | 'done';

/**
 * Records the run's progress on the job: every message packed so far is sent, every outcome the ingest
 * holds is recorded, then the job gets the counts, the place to resume from and (while reading) a renewed
 * lease. Fails with IngestLeaseLostError if another reader took the job over.
 */
export async function checkpoint(
  run: IngestRun,
  deps: IngestDeps,
  kind: CheckpointKind,
  end?: LinePosition,
): Promise<void> {
  await pinDeployment(run, deps);
  await checkCancelled(run, deps);
  await dispatch(run, deps);
  await settleSends(run);
  if (!run.cancelled) await scheduleWork(run, deps);
  await recordOutcomesAndMaybeFinalize(run.job.id, run.directOutcomes, deps);
  run.directOutcomes = [];
  const nextChunk = kind === 'chunk-end' ? await saveChunkStart(run, deps, end) : run.job.ingest.chunk;
  await updateJob(deps.jobs, run.job.id, (current) => progressedJob(current, run, kind, nextChunk, deps));
  run.job = { ...run.job, ingest: { ...run.job.ingest, chunk: nextChunk } };
}

/** A job cancelled while it is read gets no further message: the run learns it at each checkpoint. */
export async function checkCancelled(run: IngestRun, deps: Pick<IngestDeps, 'jobs'>): Promise<void> {
  const latest = await deps.jobs.getJob(run.job.id);
  run.cancelled ||= latest?.job.status === JobStatus.cancelling || latest?.job.status === JobStatus.cancelled;
}

/**
 * What the next chunk needs to carry on from `end` (by default, after the last complete line): the
 * counts, the next message number, and the custom_ids seen so far, saved as a blob named by where it starts.
 */
export async function saveChunkStart(
  run: IngestRun,
  deps: Pick<IngestDeps, 'blobs' | 'stateContainer'>,
  end?: LinePosition,
): Promise<IngestChunkStart> {
  const at = end ?? { byteOffset: run.splitter.committedByteOffset, lineNumber: run.splitter.nextLineNumber };
  const idsBlob = `${run.job.id}/.ingest/custom-ids-${at.lineNumber}.bin`;
  const ids = run.validator.state.seenCustomIds.toBuffer();
  const content = (async function* () {
    yield ids;
  })();
  await deps.blobs.upload(deps.stateContainer, idsBlob, content, { contentType: 'application/octet-stream' });
  return {
    byteOffset: at.byteOffset,
    lineNumber: at.lineNumber,
    seq: run.packer.nextSeq,
    idsBlob,
    requestedModel: run.validator.requestedModel,
    ...run.tally,
  };
}

/** The job as a checkpoint leaves it. Between chunks nobody reads: the continuation's run takes the lease afresh. */
export function progressedJob(
  current: Job,
  run: IngestRun,
  kind: CheckpointKind,
  nextChunk: IngestChunkStart | undefined,
  deps: Pick<IngestDeps, 'clock' | 'prices'>,
): Job {
  if (current.ingestLease?.owner !== run.owner) throw new IngestLeaseLostError(run.job.id);
  const done = kind === 'done';
  const { messagesSent, tally } = run;
  const { linesRead, requests, invalid, defaultMaxTokensApplied, estimatedPromptTokens, maxCompletionTokens } = tally;
  const started = current.status === JobStatus.validating && messagesSent > 0;
  return {
    ...current,
    ingestLease: kind === 'reading' ? ingestLease(run.owner, deps.clock.nowInMs()) : undefined,
    progressAtInMs: deps.clock.nowInMs(),
    status: done && requests === 0 ? current.status : started ? JobStatus.inProgress : current.status,
    requestedModel: run.validator.requestedModel,
    ingest: {
      done,
      linesRead,
      requests,
      invalid,
      messagesSent,
      defaultMaxTokensApplied,
      estimatedPromptTokens,
      maxCompletionTokens,
      chunk: nextChunk,
    },
    costEstimate: estimateJobCost(
      deps.prices,
      current.model,
      utcDay(current.createdAtInMs),
      estimatedPromptTokens,
      maxCompletionTokens,
    ),
    errors: run.errors,
    timestamps:
      current.timestamps.inProgressAt === undefined && messagesSent > 0
        ? { ...current.timestamps, inProgressAt: deps.clock.nowInMs() }
        : current.timestamps,
  };
}
