import type { ChatCompletionBody } from '../core/chat.js';
import type { CostRollup, RollupKey } from '../core/costReport.js';
import type { Job } from '../core/job.js';
import type { LineOutcome, OutcomeTotals } from '../core/lineOutcome.js';

export interface BlobProperties {
  readonly etag: string;
  readonly size: number;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface BlobStore {
  getProperties(container: string, name: string): Promise<BlobProperties | undefined>;
  /**
   * Streams a blob version from `offset`; fails with a BlobChangedError if the ETag no longer matches.
   * `size`, the version's size when the caller knows it, spares a read of its properties.
   */
  openRead(container: string, name: string, options: { etag: string; offset?: number; size?: number }): Promise<AsyncIterable<Buffer>>;
  readRange(container: string, name: string, options: { etag: string; offset: number; length: number }): Promise<Buffer>;
  setMetadata(container: string, name: string, metadata: Record<string, string>, options: { etag: string }): Promise<void>;
  upload(container: string, name: string, content: AsyncIterable<string | Buffer> | string, options: { contentType: string }): Promise<void>;
  download(container: string, name: string): Promise<Buffer | undefined>;
  ensureContainer(container: string): Promise<void>;
  /** Stages one block of a block blob, visible once committed. A blob's block ids all have one length (at most 64 bytes). */
  stageBlock(container: string, name: string, blockId: string, content: string): Promise<void>;
  /** The blob's block ids: the committed ones in order, and those staged since and not yet committed. */
  listBlocks(container: string, name: string): Promise<BlobBlocks>;
  /** Makes the blob these blocks in this order (each its latest staged or committed version); other staged blocks are dropped. */
  commitBlocks(container: string, name: string, blockIds: readonly string[], options: { contentType: string }): Promise<void>;
}

export interface BlobBlocks {
  readonly committed: readonly string[];
  readonly uncommitted: readonly string[];
}

export interface MessageQueue {
  /** Sends JSON payloads, base64-encoded as the Functions queue trigger expects. */
  send(payloads: readonly unknown[], options?: { visibilityDelayInMs?: number }): Promise<void>;
  ensureExists(): Promise<void>;
}

export interface StoredJob {
  readonly job: Job;
  readonly etag: string;
}

export type { OutcomeTotals } from '../core/lineOutcome.js';

/** `JobStore.listJobs` was given a continuation token it did not hand out (a client's bad `after`). */
export class InvalidPageTokenError extends Error {
  override readonly name = 'InvalidPageTokenError';
  readonly code = 'invalid_page_token';
  constructor(options?: { cause?: unknown }) {
    super('The page token is not one this listing handed out', options);
  }
}

export interface JobStore {
  /** Creates the job; returns false if a job with this id already exists. */
  createJob(job: Job): Promise<boolean>;
  getJob(jobId: string): Promise<StoredJob | undefined>;
  /** Replaces the job if it still has `etag`; returns the new state, or undefined if someone else changed it. */
  replaceJob(job: Job, etag: string): Promise<StoredJob | undefined>;
  /** Adds recorded outcomes to the job's counters (the fast, live view; finalisation recounts exactly) and notes the progress time. */
  addToJobCounters(jobId: string, delta: OutcomeTotals, nowInMs: number): Promise<StoredJob>;
  /** Jobs not yet in a terminal status, for the sweeper. */
  listActiveJobs(): AsyncIterable<Job>;
  /** Removes outcomes so the lines can run again (a retry of failed lines). */
  deleteOutcomes(jobId: string, lines: readonly number[]): Promise<void>;
  /** Line numbers that have an outcome, in order. */
  listOutcomeLines(jobId: string): AsyncIterable<number>;
  /** Newest first. Throws InvalidPageTokenError for a continuation token it did not hand out. */
  listJobs(options: { pageSize: number; continuationToken?: string | undefined }): Promise<{ jobs: Job[]; continuationToken: string | undefined }>;
  /** Writes outcomes that do not exist yet; returns those this call created (a line's first outcome wins). */
  recordOutcomes(outcomes: readonly LineOutcome[]): Promise<LineOutcome[]>;
  /** Which of these lines already have an outcome (point reads: the cost follows the lines asked about, not the job's size). */
  linesWithOutcome(jobId: string, lines: readonly number[]): Promise<Set<number>>;
  totalsOfOutcomes(jobId: string): Promise<OutcomeTotals>;
  /** Outcomes in line order, paged through the store. */
  listOutcomes(jobId: string, options?: { afterLine?: number; status?: 'succeeded' | 'not_succeeded' }): AsyncIterable<LineOutcome>;
}

export type ChatCallResult =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly headers: Readonly<Record<string, string | undefined>>;
      readonly body: unknown;
      readonly requestId: string;
      readonly latencyInMs: number;
    }
  | { readonly kind: 'timeout'; readonly latencyInMs: number }
  /** `neverSent`: the connection was never made (refused, unresolvable), so the endpoint cannot have billed it. */
  | { readonly kind: 'network'; readonly message: string; readonly neverSent: boolean; readonly latencyInMs: number };

export interface ChatClient {
  /**
   * `callId` travels as `x-ms-client-request-id`, so a call in our ledger can be matched with the
   * endpoint's own logs; `customId` is the line's custom_id, for tracing.
   */
  complete(body: ChatCompletionBody, options?: { abortSignal?: AbortSignal; customId?: string; callId?: string }): Promise<ChatCallResult>;
  close(): Promise<void>;
}

export interface Clock {
  nowInMs(): number;
}

export const LedgerState = {
  /** Written just before the request goes out; if it stays so, the answer never reached us (timeout, crash). */
  sent: 'sent',
  /** The endpoint answered with usage: tokens and cost are the endpoint's. */
  billed: 'billed',
} as const;
export type LedgerState = (typeof LedgerState)[keyof typeof LedgerState];

/**
 * One endpoint call that may be billed. Written before the request leaves (state `sent`), then
 * settled to `billed` with the endpoint's usage, or discarded when the answer shows it was not
 * billed (429, 4xx, 5xx without usage). An entry left `sent` is a call the endpoint may have billed
 * without us learning it: counted as a call, with its tokens unknown (0 here, `reservedTokens` at most).
 */
export interface LedgerEntry {
  /** Our id for the call, sent as `x-ms-client-request-id`: unique per request sent, so a retried write is one entry. */
  readonly id: string;
  readonly jobId: string;
  readonly line: number;
  /** The line's attempt number for this call (1-based, throttled attempts included). */
  readonly attempt: number;
  readonly deployment: string;
  readonly model: string;
  readonly state: LedgerState;
  /** The endpoint's answer: its HTTP status (0 while `sent`) and its request id (empty while `sent`). */
  readonly httpStatus: number;
  readonly requestId: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Prompt tokens as we counted them plus max_tokens: the most an unconfirmed call can have used. */
  readonly reservedTokens: number;
  readonly atInMs: number;
  /** UTC day of the call (YYYY-MM-DD): the day its price is taken from. */
  readonly day: string;
  readonly inputPerMillion: number;
  readonly outputPerMillion: number;
  readonly currency: string;
  readonly costInNanos: number;
}

/** Sums over ledger entries. `calls` counts every entry; `unconfirmedCalls` those still `sent`. */
export interface LedgerTotals {
  readonly calls: number;
  readonly unconfirmedCalls: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly costInNanos: number;
}

/** A job's ledger sums for one (UTC day, model), and the currency its entries were priced in. */
export interface LedgerKeyTotals {
  readonly key: RollupKey;
  readonly currency: string;
  readonly totals: LedgerTotals;
}

export interface UsageLedger {
  /** Idempotent by entry id: true if this call created the entry, false if it was already recorded. */
  record(entry: LedgerEntry): Promise<boolean>;
  /** Writes the entry as it now stands (the `sent` entry settled to `billed`), created if missing. */
  settle(entry: LedgerEntry): Promise<void>;
  /** Removes a `sent` entry whose answer shows the call was not billed; nothing if it is gone already. */
  discard(jobId: string, id: string): Promise<void>;
  /** The job's entries summed per UTC day and model, from one listing of its partition; only pairs with entries. */
  totalsByKey(jobId: string): Promise<LedgerKeyTotals[]>;
  /** The job's entries, oldest first. */
  listEntries(jobId: string): AsyncIterable<LedgerEntry>;
}

/** Cost rollups per day × model × job, each a recomputation of the ledger for its key. */
export interface RollupStore {
  get(jobId: string, key: RollupKey): Promise<{ readonly rollup: CostRollup; readonly etag: string } | undefined>;
  /** Every rollup of the job (all its days and models), each with its etag. */
  listJob(jobId: string): Promise<Array<{ readonly rollup: CostRollup; readonly etag: string }>>;
  /** Creates the rollup; false if one with its id exists already. */
  create(rollup: CostRollup): Promise<boolean>;
  /** Replaces the rollup if it still has `etag`; false if another write came first. */
  replace(rollup: CostRollup, etag: string): Promise<boolean>;
  /** Every rollup of the UTC days from `fromDay` to `toDay` (inclusive), all jobs. */
  listDays(fromDay: string, toDay: string): AsyncIterable<CostRollup>;
}

/** The live spend counters on a job document (see JobSpend). */
export interface JobSpendStore {
  /**
   * Adds `amountInNanos` to the job's reserved spend if committed + reserved + amount stays within
   * `capInNanos`, in one conditional write; false (and nothing changed) otherwise.
   */
  reserve(jobId: string, amountInNanos: number, capInNanos: number): Promise<boolean>;
  /** After a call: adds its billed cost (0 if not billed) and call count, and releases its reservation. */
  settle(
    jobId: string,
    settlement: { readonly costInNanos: number; readonly calls: number; readonly releaseInNanos: number; readonly unconfirmedCalls?: number },
  ): Promise<void>;
  markCapReached(jobId: string, atInMs: number): Promise<void>;
}
