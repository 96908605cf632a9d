import { BatchFileValidator } from '../../core/BatchFileValidator.js';
import { CustomIdSet } from '../../core/CustomIdSet.js';
import type { IngestChunkStart, Job, JobLineError } from '../../core/job.js';
import { LineSplitter } from '../../core/LineSplitter.js';
import type { LineOutcome } from '../../core/lineOutcome.js';
import { RequestMessagePacker, type RequestMessage } from '../../core/requestMessage.js';
import type { Deployment } from '../deployments.js';
import { INGEST_MESSAGES_PER_CHECKPOINT } from '../tuning.js';
import type { IngestDeps } from './IngestDeps.js';
import { FILE_START, tallyFrom, type IngestTally, type LinePosition } from './IngestTally.js';
import type { IngestReader } from './ingestLease.js';

/** The settings a run reads a chunk by. */
export type IngestRunSettings = Pick<
  IngestDeps,
  | 'deployments'
  | 'maxLineBytes'
  | 'maxLinesPerFile'
  | 'packing'
  | 'chunkLines'
  | 'exactTokenLines'
  | 'messagesPerCheckpoint'
>;

/**
 * The state of one run of the ingest over one chunk of a file, shared by its steps (each step is a
 * function of the run and its dependencies). It starts where the job's ingest stands and ends at the
 * end of the file or after `chunkLines` lines.
 */
export class IngestRun {
  job: Job;
  /** Who holds the job's ingest lease: this run. */
  readonly owner: string;
  readonly chunkStart: IngestChunkStart;
  /** Messages numbered below this were sent by an earlier run of this chunk: they are not sent again. */
  readonly alreadySent: number;
  readonly chunkLines: number;
  readonly exactTokenLines: number;
  readonly messagesPerCheckpoint: number;
  readonly splitter: LineSplitter;
  readonly validator: BatchFileValidator;
  readonly packer: RequestMessagePacker;
  readonly tally: IngestTally;
  /** The job's deployment, once chosen (by its first request line, or already on the job). */
  deployment: Deployment | undefined;
  /** The number of the next message to go out (messages below it are sent, or were by an earlier run). */
  messagesSent: number;
  lastCheckpointSeq: number;
  /** Validation errors kept on the job document. */
  readonly errors: JobLineError[];
  /** Packed messages not yet handed to the queue. */
  outgoing: RequestMessage[] = [];
  /** Sends under way: reading goes on while a few batches are in flight, which is what keeps the ingest busy. */
  readonly inFlight: Array<Promise<void>> = [];
  /** Outcomes the ingest records itself: invalid lines, and lines of a job cancelled while it was read. */
  directOutcomes: LineOutcome[] = [];
  /** The job's work was made known to its deployment's fair sharing (after its first sends). */
  scheduled = false;
  /** The job was cancelled while being read: no further message is sent. */
  cancelled = false;
  /** Where the next chunk starts, once this one is full: right after the last line handled. */
  chunkEnd: LinePosition | undefined;

  constructor(reader: IngestReader, seenCustomIds: CustomIdSet, deps: IngestRunSettings) {
    const { job } = reader;
    const start = job.ingest.chunk ?? FILE_START;
    this.job = job;
    this.owner = reader.owner;
    this.chunkStart = start;
    this.alreadySent = job.ingest.messagesSent;
    this.chunkLines = deps.chunkLines;
    this.exactTokenLines = deps.exactTokenLines;
    this.messagesPerCheckpoint = deps.messagesPerCheckpoint ?? INGEST_MESSAGES_PER_CHECKPOINT;
    this.splitter = new LineSplitter({
      maxLineBytes: deps.maxLineBytes,
      startByteOffset: start.byteOffset,
      startLineNumber: start.lineNumber,
    });
    this.validator = new BatchFileValidator(
      { maxLineBytes: deps.maxLineBytes, maxLinesPerFile: deps.maxLinesPerFile },
      { seenCustomIds, requestedModel: start.requestedModel, tasks: start.requests },
    );
    const { container, name, etag } = job.input;
    const firstSend = reader.firstReader;
    this.packer = new RequestMessagePacker(job.id, { container, name, etag }, deps.packing, start.seq, { firstSend });
    this.tally = tallyFrom(start);
    this.deployment = job.deployment === '' ? undefined : deps.deployments.byName(job.deployment);
    this.messagesSent = Math.max(this.alreadySent, start.seq);
    this.lastCheckpointSeq = this.messagesSent;
    this.errors = [...job.errors];
  }

  /** Lines this run has read (a chunk ends after `chunkLines` of them). */
  get linesReadInChunk(): number {
    return this.tally.linesRead - this.chunkStart.linesRead;
  }
}

/** Opens a run for the reader: the custom_ids seen before the chunk come from the blob the previous chunk left. */
export async function openIngestRun(reader: IngestReader, deps: IngestDeps): Promise<IngestRun> {
  const idsBlob = (reader.job.ingest.chunk ?? FILE_START).idsBlob;
  const saved = idsBlob === undefined ? undefined : await deps.blobs.download(deps.stateContainer, idsBlob);
  const seenCustomIds = idsBlob === undefined ? new CustomIdSet() : CustomIdSet.fromBuffer(saved ?? Buffer.alloc(0));
  return new IngestRun(reader, seenCustomIds, deps);
}
