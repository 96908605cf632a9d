import type { CostEstimate } from './costEstimate.js';
import type { LineError } from './lineErrors.js';
import type { BatchRequest } from './openai/batchRequest.js';
import type { WebhookRecord } from './openai/webhookRecord.js';
import type { JobPriority } from './priority.js';
import type { InputBlobRef } from './requestMessage.js';
import { NO_SPEND, type JobSpend } from './spendingCap.js';

export const JobStatus = {
  validating: 'validating',
  inProgress: 'in_progress',
  finalizing: 'finalizing',
  completed: 'completed',
  failed: 'failed',
  cancelling: 'cancelling',
  cancelled: 'cancelled',
  /** The completion window closed first: what finished is kept, the rest ended as `batch_expired`. */
  expired: 'expired',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

export const ACTIVE_STATUSES: readonly JobStatus[] = [
  JobStatus.validating,
  JobStatus.inProgress,
  JobStatus.finalizing,
  JobStatus.cancelling,
];

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set([
  JobStatus.completed,
  JobStatus.failed,
  JobStatus.cancelled,
  JobStatus.expired,
]);

/** Validation errors kept on the job document itself; the rest are in the line outcomes and the error file. */
export const MAX_ERRORS_ON_JOB = 100;

/** Everything needed to carry on reading a file from a line boundary, as it stood there. */
export interface IngestChunkStart {
  readonly byteOffset: number;
  readonly lineNumber: number;
  readonly seq: number;
  /** Blob (in the output container) holding the custom_ids seen before this point; none at the file's start. */
  readonly idsBlob: string | undefined;
  readonly requestedModel: string | undefined;
  readonly linesRead: number;
  readonly requests: number;
  readonly invalid: number;
  readonly defaultMaxTokensApplied: number;
  readonly estimatedPromptTokens: number;
  readonly maxCompletionTokens: number;
  /** Prompt characters and exact tokens of the lines tokenised so far, to estimate the rest from. */
  readonly sampledChars: number;
  readonly sampledTokens: number;
  readonly sampledLines: number;
}

export interface JobUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly costInNanos: number;
}

export interface JobLineError extends LineError {
  readonly line: number;
}

export interface Job {
  readonly id: string;
  readonly status: JobStatus;
  readonly createdAtInMs: number;
  /** When a retry last reopened the job: a deployment halt set before then no longer stops it. */
  readonly reopenedAtInMs?: number | undefined;
  readonly input: InputBlobRef & { readonly size: number };
  /** The deployment's model: what actually answers. */
  readonly model: string;
  /** The model the file's lines named, when they named one. */
  readonly requestedModel?: string | undefined;
  readonly deployment: string;
  readonly ingest: {
    readonly done: boolean;
    /** Lines read, blank ones included. */
    readonly linesRead: number;
    /** Lines that became requests (valid). */
    readonly requests: number;
    /** Lines that failed validation. */
    readonly invalid: number;
    readonly messagesSent: number;
    /** Lines whose body had no max_tokens and got the default for admission and the request. */
    readonly defaultMaxTokensApplied: number;
    readonly estimatedPromptTokens: number;
    readonly maxCompletionTokens: number;
    /** Where the current chunk of the file starts: a resumed or continued ingest starts here. */
    readonly chunk?: IngestChunkStart | undefined;
  };
  /** Outcomes recorded so far (invalid lines count as failed). */
  readonly counts: { readonly succeeded: number; readonly failed: number };
  readonly usage: JobUsage;
  readonly errors: readonly JobLineError[];
  readonly jobError?: LineError | undefined;
  /**
   * Set when the deployment itself refused the job (wrong key, wrong endpoint): lines not yet sent
   * fail at once with this error instead of each burning a call. Cleared by a retry.
   */
  readonly halt?: (LineError & { readonly atInMs: number }) | undefined;
  readonly timestamps: Partial<
    Record<
      'inProgressAt' | 'finalizingAt' | 'completedAt' | 'failedAt' | 'cancellingAt' | 'cancelledAt' | 'expiredAt',
      number
    >
  >;
  readonly output?:
    { readonly container: string; readonly resultsBlob: string; readonly errorsBlob: string } | undefined;
  /** Last time a line got its outcome or the ingest moved on: how the sweeper tells a stalled job. */
  readonly progressAtInMs?: number | undefined;
  /** Lines wait in delayed messages until then (the endpoint asked for a long pause), and why. */
  readonly deferral?: { readonly untilInMs: number; readonly reason: string } | undefined;
  /** Held by the one ingest that reads the file; another delivery of the same blob backs off while it is live. */
  readonly ingestLease?: { readonly owner: string; readonly untilInMs: number } | undefined;
  /** How many times failed lines were sent again. */
  readonly retries?: number | undefined;
  /** Spending cap in nano-units of the price currency (blob metadata `maxcost`, else the default); absent = none. */
  readonly maxCostInNanos?: number | undefined;
  /** Live spend, increased as each call is billed (repeats included); exact ledger totals once final. */
  readonly spend?: JobSpend | undefined;
  /** Cost range before spending, priced at ingest (see CostEstimate). */
  readonly costEstimate?: CostEstimate | undefined;
  /** The completion window, metadata and input file the batch was asked for with (OpenAI Batch API). */
  readonly batchRequest?: BatchRequest | undefined;
  /** When a line was first refused for the closed window: finalisation then makes the job `expired`. */
  readonly windowClosedAtInMs?: number | undefined;
  /** The delivery of the job's final event to the webhook endpoint: attempts and how the last one went. */
  readonly webhook?: WebhookRecord | undefined;
  /** The job's weight in its deployment's fair sharing; absent: DEFAULT_PRIORITY. */
  readonly priority?: JobPriority | undefined;
}

export function newJob(fields: {
  id: string;
  createdAtInMs: number;
  input: Job['input'];
  model: string;
  deployment: string;
  maxCostInNanos?: number;
  jobError?: LineError;
  batchRequest?: BatchRequest;
}): Job {
  return {
    ...fields,
    status: JobStatus.validating,
    ingest: {
      done: false,
      linesRead: 0,
      requests: 0,
      invalid: 0,
      messagesSent: 0,
      defaultMaxTokensApplied: 0,
      estimatedPromptTokens: 0,
      maxCompletionTokens: 0,
    },
    counts: { succeeded: 0, failed: 0 },
    usage: { promptTokens: 0, completionTokens: 0, costInNanos: 0 },
    spend: { ...NO_SPEND },
    errors: [],
    timestamps: {},
  };
}

/** Lines that will each get exactly one outcome. */
export function totalTasks(job: Job): number {
  return job.ingest.requests + job.ingest.invalid;
}

/** Whether the job's completion window has closed: from then on no line is sent. */
export function isWindowClosed(job: Job, nowInMs: number): boolean {
  return job.batchRequest !== undefined && nowInMs >= job.batchRequest.expiresAtInMs;
}

export function isComplete(job: Job): boolean {
  return job.ingest.done && job.counts.succeeded + job.counts.failed >= totalTasks(job);
}
