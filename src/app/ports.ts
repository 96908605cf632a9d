import type { ChatCompletion, ChatCompletionBody, FinishReason } from '../core/chat.js';
import type { CostRollup, RollupKey } from '../core/costReport.js';
import type { Job, JobData } from '../core/job.js';
import type { LineOutcome, OutcomeTotals } from '../core/lineOutcome.js';
import { Phi3BatchError } from '../core/errors.js';
import { endpointErrorCode, LineErrorCode } from '../core/lineErrors.js';
import type { BudgetCost } from '../core/PacedBudget.js';
import type { CachedAnswer } from '../core/responseCache.js';
import type { DeploymentHalt, ScheduleState } from '../core/SliceSchedule.js';
import type { BudgetPeriodState } from '../core/spendBudgets.js';
import type { FairShareState } from '../core/fairShare.js';

export interface BlobProperties {
  readonly etag: string;
  readonly size: number;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * The blob changed (new ETag) or vanished since the caller pinned its version: what `BlobStore` reads
 * and conditional writes fail with, whatever the store. Callers match it with `instanceof`.
 */
export class BlobChangedError extends Phi3BatchError {
  override readonly name = 'BlobChangedError';
  constructor(container: string, name: string, options?: { cause?: unknown }) {
    super(
      LineErrorCode.inputChanged,
      `Blob ${container}/${name} changed or was deleted after the job started`,
      options,
    );
  }
}

export interface BlobStore {
  getProperties(container: string, name: string): Promise<BlobProperties | undefined>;
  /**
   * Streams a blob version from `offset`; fails with a BlobChangedError if the ETag no longer matches.
   * `size`, the version's size when the caller knows it, spares a read of its properties.
   */
  openRead(
    container: string,
    name: string,
    options: { etag: string; offset?: number; size?: number },
  ): Promise<AsyncIterable<Buffer>>;
  /** Reads bytes of a blob version; fails with a BlobChangedError if the ETag no longer matches. */
  readRange(
    container: string,
    name: string,
    options: { etag: string; offset: number; length: number },
  ): Promise<Buffer>;
  /** Replaces the metadata of a blob version; fails with a BlobChangedError if the ETag no longer matches. */
  setMetadata(
    container: string,
    name: string,
    metadata: Record<string, string>,
    options: { etag: string },
  ): Promise<void>;
  upload(
    container: string,
    name: string,
    content: AsyncIterable<string | Buffer> | string,
    options: { contentType: string },
  ): Promise<void>;
  download(container: string, name: string): Promise<Buffer | undefined>;
  ensureContainer(container: string): Promise<void>;
  /** Deletes every blob whose name starts with `prefix` (staged blocks and snapshots with it); returns how many. */
  deletePrefix(container: string, prefix: string): Promise<number>;
  /** Stages one block of a block blob, visible once committed. A blob's block ids all have one length (at most 64 bytes). */
  stageBlock(container: string, name: string, blockId: string, content: string): Promise<void>;
  /** The blob's block ids: the committed ones in order, and those staged since and not yet committed. */
  listBlocks(container: string, name: string): Promise<BlobBlocks>;
  /** Makes the blob these blocks in this order (each its latest staged or committed version); other staged blocks are dropped. */
  commitBlocks(
    container: string,
    name: string,
    blockIds: readonly string[],
    options: { contentType: string },
  ): Promise<void>;
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

/** A work message held in a job's backlog, with what removing it takes. */
export interface BacklogMessage {
  readonly payload: unknown;
  /** The offset just past it: where the next message of the backlog starts. */
  readonly endOffset: number;
}

export interface BacklogRead {
  /** Whole messages from the offset read at, in order; a message cut off by the read's end is left for the next. */
  readonly messages: readonly BacklogMessage[];
  /** The backlog's length in bytes when read; 0 if it does not exist. */
  readonly length: number;
}

/**
 * Each job's work messages (decision 0012): one append-only log per job, read on from an offset the
 * fair-share state keeps, so the feeder can take from any job in any order. Appends are whole messages.
 */
export interface Backlogs {
  /** Appends work messages to the job's backlog in one write (whole, or not at all), creating it on first use. */
  send(jobId: string, payloads: readonly unknown[]): Promise<void>;
  /** Whole messages from `fromOffset`, about `maxBytes` of them (more if one message is longer). */
  read(jobId: string, fromOffset: number, maxBytes: number): Promise<BacklogRead>;
  /** The backlog's length in bytes; 0 if it does not exist. */
  length(jobId: string): Promise<number>;
  /** Deletes the backlog. */
  drop(jobId: string): Promise<void>;
}

/** The work queue's outstanding messages, those leased or delayed included, as the service counts them. */
export interface QueueDepth {
  approximateCount(): Promise<number>;
}

/** Where every instance finds each deployment's fair-share state (decision 0012). */
export interface FairShareStore {
  /** Applies `change` to the deployment's state with optimistic concurrency (retrying on conflicts); returns its result. */
  update<T>(deployment: string, change: (state: FairShareState) => { state: FairShareState; result: T }): Promise<T>;
  read(deployment: string): Promise<FairShareState>;
}

/** What the job status and the dashboard show of a job's place in its deployment's schedule. */
export interface JobScheduleView {
  readonly share: number /*0..1, of the deployment's budget over the last minute*/;
  readonly etaAtInMs: number | undefined;
}

export interface ScheduleViews {
  viewsFor(deployment: string): Promise<ReadonlyMap<string /*jobId*/, JobScheduleView>>;
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
  /** Jobs that finished before `beforeInMs` and still have `data` (retention: `removed` does not name it yet). */
  listFinishedBefore(beforeInMs: number, data: JobData): AsyncIterable<Job>;
  /** Removes outcomes so the lines can run again (a retry of failed lines). */
  deleteOutcomes(jobId: string, lines: readonly number[]): Promise<void>;
  /** Line numbers that have an outcome, in order. */
  listOutcomeLines(jobId: string): AsyncIterable<number>;
  /** Newest first. Throws InvalidPageTokenError for a continuation token it did not hand out. */
  listJobs(options: {
    pageSize: number;
    continuationToken?: string | undefined;
  }): Promise<{ jobs: Job[]; continuationToken: string | undefined }>;
  /** Writes outcomes that do not exist yet; returns those this call created (a line's first outcome wins). */
  recordOutcomes(outcomes: readonly LineOutcome[]): Promise<LineOutcome[]>;
  /** Which of these lines already have an outcome (point reads: the cost follows the lines asked about, not the job's size). */
  linesWithOutcome(jobId: string, lines: readonly number[]): Promise<Set<number>>;
  totalsOfOutcomes(jobId: string): Promise<OutcomeTotals>;
  /** Outcomes in line order, paged through the store. */
  listOutcomes(
    jobId: string,
    options?: { afterLine?: number; status?: 'succeeded' | 'not_succeeded' },
  ): AsyncIterable<LineOutcome>;
}

/** A running job's place in its deployment's schedule. */
export interface JobScheduleView {
  /** Its part (0..1) of the deployment's budget over the last minute. */
  readonly share: number;
  /** When its last line should be done at its current share; undefined when that cannot be told yet. */
  readonly etaAtInMs: number | undefined;
}

/** How a deployment's budget is shared between its jobs right now, by job id (jobs with no work left are absent). */
export interface ScheduleViews {
  viewsFor(deployment: string): Promise<ReadonlyMap<string, JobScheduleView>>;
}

/** The endpoint's rate-limit headers on an answer, read as numbers (remaining counts can be negative). */
export interface RateLimitInfo {
  readonly remainingRequests?: number | undefined;
  readonly remainingTokens?: number | undefined;
  readonly limitRequests?: number | undefined;
  readonly limitTokens?: number | undefined;
}

/** Tokens the endpoint billed for a call, as its `usage` reports them. */
export interface ChatUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** `total_tokens` as sent, else prompt + completion. */
  readonly totalTokens: number;
}

/** A 2xx answer that is a well-formed chat.completion with usage: the call succeeded and was billed. */
export interface ChatCompletionResult {
  /** The completion exactly as the endpoint sent it (the line's output body). */
  readonly completion: ChatCompletion;
  readonly usage: ChatUsage;
  /** The first choice's finish reason, if it named one. */
  readonly finishReason: FinishReason | null;
  /** The HTTP status of the answer (a 2xx). */
  readonly status: number;
  /** The endpoint's id for the request (`x-request-id` or its kin), empty if it sent none. */
  readonly requestId: string;
  readonly latencyInMs: number;
  readonly rateLimit: RateLimitInfo;
}

/**
 * What a chat client promises to reject with: one class per way a call can fail, matched with
 * `instanceof`. `code` is the line error code the failure stands for (`LineErrorCode`, or for an HTTP
 * error the endpoint's own code).
 */
export abstract class ChatCallError extends Phi3BatchError {
  override readonly name: string = 'ChatCallError';
  readonly latencyInMs: number;
  /** The answer's rate-limit headers, when there was an answer. */
  readonly rateLimit: RateLimitInfo | undefined;
  /** Whether the endpoint may have billed the call: false only when its answer shows it did not. */
  abstract readonly mayHaveBilled: boolean;

  constructor(
    code: string,
    message: string,
    latencyInMs: number,
    options: { cause?: unknown; rateLimit?: RateLimitInfo } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.latencyInMs = latencyInMs;
    this.rateLimit = options.rateLimit;
  }
}

/** An answer as the endpoint sent it, kept for the line's output record (the worker never looks inside `body`). */
export interface EndpointResponse {
  readonly status: number;
  readonly requestId: string;
  /** The parsed JSON body, or the text when it was not JSON. */
  readonly body: unknown;
}

/** Details of an HTTP error answer, as the adapter read them from its body and headers. */
export interface EndpointErrorDetails {
  readonly response: EndpointResponse;
  /** The error code the body (or `x-ms-error-code`) named, if any. */
  readonly errorCode: string | undefined;
  /** The endpoint's own error message, if its body had one. */
  readonly endpointMessage: string | undefined;
  readonly rateLimit: RateLimitInfo;
  /** `retry-after-ms` / `retry-after` as a delay from when the answer arrived. */
  readonly retryAfterInMs: number | undefined;
  /** Usage the error body reported, if any: such a call was billed. */
  readonly usage: ChatUsage | undefined;
  readonly latencyInMs: number;
}

/** A non-2xx answer. Subclasses name the kinds the worker treats apart; the status decides retries. */
export class EndpointHttpError extends ChatCallError {
  override readonly name: string = 'EndpointHttpError';
  override readonly mayHaveBilled = false;
  readonly status: number;
  readonly response: EndpointResponse;
  readonly errorCode: string | undefined;
  readonly endpointMessage: string | undefined;
  readonly retryAfterInMs: number | undefined;
  readonly usage: ChatUsage | undefined;

  constructor(details: EndpointErrorDetails) {
    const { status } = details.response;
    const message = details.endpointMessage ?? `The endpoint answered HTTP ${status}`;
    super(endpointErrorCode(status, details.errorCode), message, details.latencyInMs, { rateLimit: details.rateLimit });
    this.status = details.response.status;
    this.response = details.response;
    this.errorCode = details.errorCode;
    this.endpointMessage = details.endpointMessage;
    this.retryAfterInMs = details.retryAfterInMs;
    this.usage = details.usage;
  }
}

/** 429: the deployment's budget is spent for now; `retryAfterInMs` says for how long, when the endpoint said. */
export class RateLimitedError extends EndpointHttpError {
  override readonly name: string = 'RateLimitedError';
}

/** 401 or 403: the key is wrong or not allowed. No line of the job can do better. */
export class AuthenticationError extends EndpointHttpError {
  override readonly name: string = 'AuthenticationError';
}

/** 404: the endpoint (its URL or path) does not exist. No line of the job can do better. */
export class NotFoundError extends EndpointHttpError {
  override readonly name: string = 'NotFoundError';
}

/** Another 4xx (400, 422...): the endpoint refused this request. */
export class BadRequestError extends EndpointHttpError {
  override readonly name: string = 'BadRequestError';
}

/** The request (or its answer) tripped the content filter (`content_filter`). */
export class ContentFilterError extends BadRequestError {
  override readonly name: string = 'ContentFilterError';
}

/** The prompt and `max_tokens` do not fit the model's context (`context_length_exceeded`). */
export class ContextLengthError extends BadRequestError {
  override readonly name: string = 'ContextLengthError';
}

/** 5xx: the endpoint failed; a later attempt may succeed. */
export class ServerError extends EndpointHttpError {
  override readonly name: string = 'ServerError';
}

/** No answer in time: the request may have been processed and billed. */
export class TimeoutError extends ChatCallError {
  override readonly name = 'TimeoutError';
  override readonly mayHaveBilled = true;

  constructor(latencyInMs: number, options: { cause?: unknown } = {}) {
    super(LineErrorCode.endpointTimeout, 'The endpoint did not answer in time', latencyInMs, options);
  }
}

/** The connection failed. `neverSent`: it was never made (refused, unresolvable), so nothing can have been billed. */
export class ConnectionError extends ChatCallError {
  override readonly name = 'ConnectionError';
  readonly neverSent: boolean;
  override get mayHaveBilled(): boolean {
    return !this.neverSent;
  }

  constructor(message: string, neverSent: boolean, latencyInMs: number, options: { cause?: unknown } = {}) {
    super(LineErrorCode.endpointUnreachable, message, latencyInMs, options);
    this.neverSent = neverSent;
  }
}

/**
 * A 2xx whose body is not a well-formed chat.completion with usage (an HTML page, truncated JSON,
 * `{"choices":[]}`): not a success, and the call may have been billed.
 */
export class MalformedResponseError extends ChatCallError {
  override readonly name = 'MalformedResponseError';
  override readonly mayHaveBilled = true;
  readonly response: EndpointResponse;

  constructor(response: EndpointResponse, reason: string, latencyInMs: number, rateLimit: RateLimitInfo) {
    const message = `The endpoint answered HTTP ${response.status} with ${reason}`;
    super(LineErrorCode.malformedResponse, message, latencyInMs, { rateLimit });
    this.response = response;
  }
}

/** The options of one call. */
export interface ChatCompleteOptions {
  readonly abortSignal?: AbortSignal;
  /** The line's custom_id, for tracing. */
  readonly customId?: string;
  /** Sent as `x-ms-client-request-id`, so a call in our ledger can be matched with the endpoint's own logs. */
  readonly callId?: string;
  /**
   * This call's time limit, fitted to what it may generate (decision 0010); absent, the client's own.
   * A call cut off by it may still have been generated and billed (`TimeoutError.mayHaveBilled`).
   */
  readonly timeoutInMs?: number;
  /**
   * Stream this call (`stream: true`) with these idle limits instead of a time limit for the whole
   * answer: a generation that keeps sending is never cut off. The result is the same `chat.completion`.
   */
  readonly stream?: { readonly firstChunkInMs: number; readonly idleInMs: number };
}

export interface ChatClient {
  /**
   * One chat/completions call: resolves with a billed, well-formed completion, or rejects with a
   * `ChatCallError` subclass (any other rejection is a bug or an abort, not an endpoint failure).
   */
  complete(body: ChatCompletionBody, options?: ChatCompleteOptions): Promise<ChatCompletionResult>;
  close(): Promise<void>;
}

export interface Clock {
  nowInMs(): number;
}

/** Timers the rate limiters schedule with: injected, so that tests drive time. */
export interface Timers {
  setTimeout(callback: () => void, delayInMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type AcquireResult = { readonly granted: true } | { readonly granted: false; readonly waitInMs: number };

/** A deployment's budget as the worker sees it: wait for capacity, and pass on what the server said. */
export interface RateLimiter {
  /** Resolves when the cost may be spent, or at once with `granted: false` if that would take longer than `maxWaitInMs`. */
  acquire(cost: BudgetCost, options: { maxWaitInMs: number }): Promise<AcquireResult>;
  pauseUntil(untilInMs: number): void;
  correct(remaining: { requests?: number | undefined; tokens?: number | undefined }): void;
  refundTokens(tokens: number): void;
  /** When a pause the server asked for ends (0 if none). */
  readonly pausedUntilInMs: number;
  /** The deployment refused our key or address, as this process last learned it (shared through the budget's state). */
  readonly halt: DeploymentHalt | undefined;
  /** A 401/403/404: jobs started before it stop sending, here at once and in other instances at their next claim. */
  haltSending(halt: DeploymentHalt): void;
  /** A call sent at `sentAtInMs` succeeded: a halt set before it is lifted (here and in the shared state). */
  resumeSending(sentAtInMs: number): void;
}

/** Where every instance finds a deployment's schedule. Updates are read-modify-write with optimistic concurrency. */
export interface BudgetStore {
  /** Applies `change` atomically to the deployment's state (retrying on conflicts) and returns what `change` returned. */
  update<T>(deploymentId: string, change: (state: ScheduleState) => { state: ScheduleState; result: T }): Promise<T>;
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
  /** The job's tags when the call was made, so that spend can be attributed from the ledger alone. */
  readonly tags?: Readonly<Record<string, string>>;
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
  /** The tags of the key's first entry (a job's entries all carry the job's tags); absent = none. */
  readonly tags?: Readonly<Record<string, string>>;
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
  /**
   * Calls recorded since `sinceInMs` (by their entry's time: the write-ahead, or the answer once billed),
   * all jobs and instances, per deployment, with the tokens charged at admission (`reservedTokens`).
   */
  recentUse(sinceInMs: number): Promise<DeploymentUse[]>;
}

/** A deployment's calls in a recent window, as the ledger holds them. */
export interface DeploymentUse {
  readonly deployment: string;
  readonly calls: number;
  /** Prompt + max_tokens of those calls: what the deployment's tokens-per-minute limit counts. */
  readonly tokens: number;
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

/**
 * Stored answers of the response cache, by cache key (`cacheKeyOf`). Whether one is still good (its age,
 * its deployment and model) is the caller's to check: a store's own expiry is only housekeeping.
 */
export interface ResponseCache {
  /** The answers stored under these keys (point reads); a key with none is absent from the map. */
  getMany(keys: readonly string[]): Promise<Map<string, CachedAnswer>>;
  /** Stores the answer under its key, replacing any older one. */
  put(answer: CachedAnswer): Promise<void>;
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
    settlement: {
      readonly costInNanos: number;
      readonly calls: number;
      readonly releaseInNanos: number;
      readonly unconfirmedCalls?: number;
    },
  ): Promise<void>;
  markCapReached(jobId: string, atInMs: number): Promise<void>;
}

/**
 * The documents of spending budgets, one per budget and period (see BudgetPeriodState), changed only
 * by read and ETag-conditional create or replace: concurrent writers on any number of instances
 * cannot both act on the same state.
 */
export interface SpendBudgetStore {
  get(id: string): Promise<{ readonly state: BudgetPeriodState; readonly etag: string } | undefined>;
  /** Creates the document; undefined if one with its id already exists. */
  create(state: BudgetPeriodState): Promise<string | undefined>;
  /** Replaces the document if it is still at `etag`; undefined if it changed (or went). */
  replace(state: BudgetPeriodState, etag: string): Promise<string | undefined>;
}

/**
 * What the app reports about its use of each deployment's budget, as it happens. One instance reports its
 * own figures; the backend adds up the instances. Counts are per call, so a retried line counts each call.
 */

/** How an endpoint call ended, as the latency histogram splits it. */
export const CallResult = {
  succeeded: 'succeeded',
  /** 429: refused by the deployment's rate limit (it still counts against the budget). */
  throttled: 'throttled',
  /** Any other error status. */
  failed: 'failed',
  /** Our time limit passed first: the endpoint may have finished and billed the call. */
  timedOut: 'timed_out',
  network: 'network',
} as const;
export type CallResult = (typeof CallResult)[keyof typeof CallResult];

export const LineResult = {
  succeeded: 'succeeded',
  failed: 'failed',
} as const;
export type LineResult = (typeof LineResult)[keyof typeof LineResult];

export interface DeploymentLimits {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
}

export interface Metrics {
  /** The deployment's limits, so that use can be shown against them. Set at start-up and when they change. */
  setDeploymentLimits(deployment: string, limits: DeploymentLimits): void;
  /** A call the budget admitted and sent, with the tokens it is charged at admission (prompt + max_tokens). */
  recordAdmission(deployment: string, tokens: number): void;
  /** A call answered 429 by the endpoint. */
  recordThrottled(deployment: string): void;
  /** A call left for the endpoint: one more in flight until {@link callEnded}. */
  callStarted(deployment: string): void;
  /** A call came back (whatever the result), `durationInMs` after it left. */
  callEnded(deployment: string, durationInMs: number, result: CallResult): void;
  /** What the in-flight sizing chose for this instance: the calls it keeps under way and the latency it sized for. */
  setInFlightTarget(deployment: string, calls: number, latencyInMs: number): void;
  /** Messages waiting in a queue, as last seen. */
  setQueueDepth(queue: string, depth: number): void;
  /** Lines whose outcome became final. */
  recordLines(count: number, result: LineResult): void;
  /** A spending budget reached a threshold (percent) in its period: once per threshold and period, over all instances. */
  recordBudgetAlert(budget: string, thresholdPercent: number): void;
}

/** Metrics that go nowhere: the default when no backend is configured. */
export const noMetrics: Metrics = {
  setDeploymentLimits: () => undefined,
  recordAdmission: () => undefined,
  recordThrottled: () => undefined,
  callStarted: () => undefined,
  callEnded: () => undefined,
  setInFlightTarget: () => undefined,
  setQueueDepth: () => undefined,
  recordLines: () => undefined,
  recordBudgetAlert: () => undefined,
};
