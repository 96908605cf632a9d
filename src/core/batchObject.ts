import { JobStatus, TERMINAL_STATUSES, totalTasks, type Job } from './job.js';
import { costSoFar, currencyOf, estimatedCosts, spendingCapStatus } from './jobCosts.js';
import { nanosToAmount } from './pricing.js';
import { priorityOf, priorityValue } from './priority.js';

const toSeconds = (ms: number | undefined): number | null => (ms === undefined ? null : Math.floor(ms / 1000));

/** A running job's place in its deployment's schedule, as the scheduler last saw it. */
export interface ScheduleFigures {
  /** Its part (0..1) of the deployment's budget over the last minute. */
  readonly share: number;
  readonly etaAtInMs: number | undefined;
}

/**
 * The job as an OpenAI Batch object, plus this service's own fields (input blob, model, usage, cost,
 * priority); `schedule`, the scheduler's figures for the job, gives its share and ETA while it runs.
 */
export function toBatchObject(job: Job, schedule?: ScheduleFigures) {
  const total = job.ingest.done ? totalTasks(job) : Math.max(totalTasks(job), job.counts.succeeded + job.counts.failed);
  return {
    id: job.id,
    object: 'batch',
    endpoint: '/chat/completions',
    input_blob: `${job.input.container}/${job.input.name}`,
    input_etag: job.input.etag,
    status: job.status,
    model: job.model,
    requested_model: job.requestedModel ?? null,
    deployment: job.deployment,
    tags: job.tags ?? {},
    /** When its outcomes and files were deleted (Unix seconds); the job itself stays, with its costs. */
    deleted_at: toSeconds(job.deletedAtInMs),
    ...lifecycleTimes(job),
    request_counts: { total, completed: job.counts.succeeded, failed: job.counts.failed },
    ingest: ingestOf(job),
    usage: {
      input_tokens: job.usage.promptTokens,
      output_tokens: job.usage.completionTokens,
      total_tokens: job.usage.promptTokens + job.usage.completionTokens,
    },
    /** Cost of the recorded outcomes (live); once final, the ledger's total of every billed call. */
    cost: { amount: nanosToAmount(job.usage.costInNanos), currency: currencyOf(job) },
    cost_so_far: costSoFar(job),
    estimate: {
      prompt_tokens: job.ingest.estimatedPromptTokens,
      max_completion_tokens: job.ingest.maxCompletionTokens,
      ...estimatedCosts(job),
    },
    spending_cap: spendingCapStatus(job),
    /** Lines answered from the response cache: not sent, billed nothing; `saved` is what their stored answers cost. */
    cache: {
      choice: job.cacheChoice ?? null,
      hits: job.cacheHits ?? 0,
      saved: { amount: nanosToAmount(job.cacheSavedInNanos ?? 0), currency: currencyOf(job) },
    },
    errors: errorsOf(job),
    /** Lines held back until this time because the endpoint asked for a long pause (e.g. a daily quota). */
    // A finished job waits for nothing, whatever deferral its last re-queued lines left on it.
    waiting:
      job.deferral === undefined || TERMINAL_STATUSES.has(job.status)
        ? null
        : { until: toSeconds(job.deferral.untilInMs), reason: job.deferral.reason },
    halted: job.halt === undefined ? null : { code: job.halt.code, message: job.halt.message },
    retries: job.retries ?? 0,
    /** `high`, `normal`, `low`, or a weight from 1 to 100. */
    priority: priorityValue(priorityOf(job)),
    ...scheduleOf(job, schedule),
    output_blob:
      job.output === undefined || job.deletedAtInMs !== undefined
        ? null
        : `${job.output.container}/${job.output.resultsBlob}`,
    error_blob:
      job.output === undefined || job.deletedAtInMs !== undefined
        ? null
        : `${job.output.container}/${job.output.errorsBlob}`,
  };
}

/** Digits a share is shown with: 0.125, not 0.12499999. */
const SHARE_DIGITS = 3;

/** Share and ETA of a job that is still sending lines; null otherwise, or when the scheduler has no figures for it. */
function scheduleOf(job: Job, schedule: ScheduleFigures | undefined): { share: number | null; eta: string | null } {
  const running = job.status === JobStatus.validating || job.status === JobStatus.inProgress;
  if (!running || schedule === undefined) return { share: null, eta: null };
  const scale = 10 ** SHARE_DIGITS;
  return {
    /** Of the deployment's budget over the last minute, 0 to 1. */
    share: Math.round(Math.min(1, Math.max(0, schedule.share)) * scale) / scale,
    /** When its last line should be done at its current share (ISO 8601). */
    eta: schedule.etaAtInMs === undefined ? null : new Date(schedule.etaAtInMs).toISOString(),
  };
}

/** When the job was created and reached each stage, in Unix seconds (null: not reached). */
function lifecycleTimes(job: Job) {
  const t = job.timestamps;
  return {
    created_at: toSeconds(job.createdAtInMs),
    in_progress_at: toSeconds(t.inProgressAt),
    finalizing_at: toSeconds(t.finalizingAt),
    completed_at: toSeconds(t.completedAt),
    failed_at: toSeconds(t.failedAt),
    cancelling_at: toSeconds(t.cancellingAt),
    cancelled_at: toSeconds(t.cancelledAt),
  };
}

function ingestOf(job: Job) {
  return {
    done: job.ingest.done,
    lines_read: job.ingest.linesRead,
    requests: job.ingest.requests,
    invalid_lines: job.ingest.invalid,
    default_max_tokens_applied: job.ingest.defaultMaxTokensApplied,
  };
}

/** The job's own error (if any) first, then the invalid lines' errors kept on the job; `total` counts every one. */
function errorsOf(job: Job) {
  const errorList = job.jobError === undefined ? job.errors : [{ ...job.jobError, line: null }, ...job.errors];
  return {
    object: 'list',
    data: errorList.map((e) => ({ code: e.code, message: e.message, param: e.param ?? null, line: e.line })),
    total: job.ingest.invalid + (job.jobError === undefined ? 0 : 1),
  };
}

export type BatchObject = ReturnType<typeof toBatchObject>;
