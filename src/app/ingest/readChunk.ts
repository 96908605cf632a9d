import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  INGEST_FIRST_SLICE_BYTES,
  INGEST_OUTCOMES_PER_FLUSH,
  INGEST_READ_SLICE_BYTES,
  INGEST_SEND_BATCH_MESSAGES,
} from '../tuning.js';
import { checkpoint } from './checkpoint.js';
import { handleSlice } from './handleLine.js';
import type { IngestDeps } from './IngestDeps.js';
import type { IngestRun } from './IngestRun.js';
import { dispatch } from './sendMessages.js';

/**
 * Reads the run's chunk from the pinned blob version: a range read holds thousands of lines, so they
 * are taken a slice at a time, with the sends and the rest of the process given their turn in between;
 * the first messages go out (and workers start) while the rest is read. Stops at the file's end, or
 * once the chunk is full (`run.chunkEnd` is then set).
 */
export async function readChunk(run: IngestRun, deps: IngestDeps): Promise<void> {
  const { container, name, etag, size } = run.job.input;
  // The job pinned this version's size with its ETag: no need to ask for it again.
  const stream = await deps.blobs.openRead(container, name, { etag, offset: run.chunkStart.byteOffset, size });
  for await (const chunk of stream) {
    for (let at = 0, step: number; at < chunk.length && run.chunkEnd === undefined; at += step) {
      step = sliceBytes(run);
      handleSlice(run, run.splitter.push(chunk.subarray(at, at + step)), deps);
      if (run.chunkEnd !== undefined) break;
      await sendAndCheckpoint(run, deps);
      await yieldToEventLoop();
    }
    if (run.chunkEnd !== undefined) break;
  }
}

/** Until the job's first message is out, slices are smaller, so that it goes out sooner. */
export function sliceBytes(run: Pick<IngestRun, 'messagesSent'>): number {
  return run.messagesSent === 0 ? INGEST_FIRST_SLICE_BYTES : INGEST_READ_SLICE_BYTES;
}

/**
 * After a slice: the job's first messages go out at once, and are checkpointed at once (the job shows
 * in progress); later ones in batches, with a checkpoint every `messagesPerCheckpoint` messages or when
 * many outcomes are waiting to be recorded.
 */
export async function sendAndCheckpoint(run: IngestRun, deps: IngestDeps): Promise<void> {
  const firstOut = run.messagesSent === 0;
  const batchMessages = firstOut ? 1 : Math.min(INGEST_SEND_BATCH_MESSAGES, run.messagesPerCheckpoint);
  if (run.outgoing.length >= batchMessages) await dispatch(run, deps);
  if (isCheckpointDue(run, firstOut)) {
    await checkpoint(run, deps, 'reading');
    run.lastCheckpointSeq = run.messagesSent;
  }
}

function isCheckpointDue(run: IngestRun, firstOut: boolean): boolean {
  return (
    (firstOut && run.messagesSent > 0) ||
    run.messagesSent - run.lastCheckpointSeq >= run.messagesPerCheckpoint ||
    run.directOutcomes.length >= INGEST_OUTCOMES_PER_FLUSH
  );
}
