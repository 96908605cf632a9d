import { BatchFileValidator } from '../core/BatchFileValidator.js';
import type { Job } from '../core/job.js';
import { LineSplitter } from '../core/LineSplitter.js';
import { RequestMessagePacker, type PackRequestsOptions, type RequestMessage } from '../core/requestMessage.js';
import type { BlobStore, MessageQueue } from './ports.js';
import { REQUEUE_MESSAGES_PER_SEND } from './tuning.js';

/** What re-queueing lines needs: the input blob, the work queue, and the ingest's reading and packing settings. */
export interface RequeueLinesDeps {
  readonly blobs: BlobStore;
  readonly requestQueue: MessageQueue;
  readonly maxLineBytes: number;
  readonly maxLinesPerFile: number;
  readonly packing: PackRequestsOptions;
}

/**
 * Sends chosen request lines of a job again, read back from the job's pinned blob version with the
 * same validation as the ingest (so line numbers and ids are the ones the job already has).
 * `select` says which lines, and how many calls each already had.
 */
export async function requeueLines(
  job: Job,
  select: (line: number) => { prior: number } | undefined,
  deps: RequeueLinesDeps,
): Promise<number> {
  const { container, name, etag } = job.input;
  const splitter = new LineSplitter({ maxLineBytes: deps.maxLineBytes });
  const validator = new BatchFileValidator({ maxLineBytes: deps.maxLineBytes, maxLinesPerFile: deps.maxLinesPerFile });
  const packer = new RequestMessagePacker(job.id, { container, name, etag }, deps.packing, job.ingest.messagesSent);
  let outgoing: RequestMessage[] = [];
  let requeued = 0;

  const consider = (raw: Parameters<BatchFileValidator['validate']>[0]): void => {
    const line = validator.validate(raw);
    if (line.kind !== 'request') return;
    const chosen = select(line.lineNumber);
    if (chosen === undefined) return;
    requeued += 1;
    outgoing.push(
      ...packer.add(
        line.lineNumber,
        line.customId,
        line.body,
        { offset: line.byteOffset, length: line.byteLength },
        chosen.prior,
      ),
    );
  };

  for await (const chunk of await deps.blobs.openRead(container, name, { etag, size: job.input.size })) {
    for (const raw of splitter.push(chunk)) consider(raw);
    if (outgoing.length >= REQUEUE_MESSAGES_PER_SEND) {
      await deps.requestQueue.send(outgoing);
      outgoing = [];
    }
  }
  for (const raw of splitter.end()) consider(raw);
  outgoing.push(...packer.flush());
  if (outgoing.length > 0) await deps.requestQueue.send(outgoing);
  return requeued;
}
