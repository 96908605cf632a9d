import type { ChatCompletionBody, TokenUsage } from '../core/chat.js';
import { DEPLOYMENT_FAILURE_STATUSES, JobStatus, isComplete, isWindowClosed, type Job } from '../core/job.js';
import { expireLines } from './expireLines.js';
import { LineErrorCode, type LineError } from '../core/lineErrors.js';
import { LineStatus, totalsOf, type LineOutcome } from '../core/lineOutcome.js';
import { parseBatchLine } from '../core/parseBatchLine.js';
import { costInNanos, priceFor, utcDay, type ModelPrice } from '../core/pricing.js';
import type { RequestItem, RequestMessage } from '../core/requestMessage.js';
import { decideRetry, parseRetryAfterInMs, type CallOutcome, type RetryPolicy } from '../core/retryPolicy.js';
import type { ControlMessage } from './controlMessages.js';
import type { Logger } from './Logger.js';
import type { Deployment, Deployments } from './deployments.js';
import { updateJob } from './updateJob.js';
import { ensureError } from '../core/errors.js';
import { LedgerState, type ChatCallResult, type Clock, type JobSpendStore, type JobStore, type LedgerEntry, type MessageQueue, type StoredJob, type UsageLedger } from './ports.js';
import { JobSpendMeter, type SpendReservation } from './jobSpend.js';
import type { ResultParts } from './resultParts.js';
import type { CoalescingOptions, RangeRead } from './coalescedRangeReads.js';

export interface WorkerDeps {
  readonly jobs: JobStore;
  /** The job as a message sees it when it starts; messages that start together may share one read (`sharedReads`). */
  readonly readJob: (jobId: string) => Promise<StoredJob | undefined>;
  /**
   * Reads a message's lines back from the input blob. Reads asked for together may go out as one
   * (`coalescedRangeReads`, with `INPUT_RANGE_COALESCING`): a batch of messages holds neighbouring lines.
   */
  readonly readInputRange: RangeRead;
  readonly requestQueue: MessageQueue;
  readonly controlQueue: MessageQueue;
  readonly deployments: Deployments;
  readonly ledger: UsageLedger;
  readonly jobSpend: JobSpendStore;
  /** Bounds the calls under way (from their write-ahead to their answer) across every message this process handles. */
  readonly callSlots: <T>(task: () => Promise<T>) => Promise<T>;
  /**
   * Bounds, within those and per deployment, the calls written ahead and still waiting for its budget:
   * what a crash can leave in the ledger as unconfirmed without the request ever having left.
   */
  readonly admissionSlots: <T>(deployment: string, task: () => Promise<T>) => Promise<T>;
  readonly clock: Clock;
  readonly random: () => number;
  readonly sleep: (delayInMs: number) => Promise<void>;
  /** A fresh id per endpoint call (a UUID): the ledger entry's id and the request's `x-ms-client-request-id`. */
  readonly newCallId: () => string;
  readonly retry: RetryPolicy;
  readonly prices: readonly ModelPrice[];
  readonly defaultMaxTokens: number;
  readonly returnUnusedTokens: boolean;
  /** Where the output lines of recorded outcomes are staged for the job's files. */
  readonly resultParts: ResultParts;
  /** Finalises a job right away, in the invocation that recorded its last outcome. */
  readonly finalizeInline?: (jobId: string) => Promise<unknown>;
  readonly logger: Logger;
}

type LineResult =
  | { readonly kind: 'outcome'; readonly outcome: LineOutcome }
  | { readonly kind: 'requeue'; readonly item: RequestItem; readonly delayInMs: number; readonly reason: string };

export interface ProcessRequestsResult {
  readonly recorded: number;
  readonly alreadyDone: number;
  readonly requeued: number;
}

/** How the queue delivered a message; `dequeueCount` is 1 on its first delivery. */
export interface Delivery {
  readonly dequeueCount?: number | undefined;
}

/**
 * Runs one work message: every line in it gets exactly one recorded outcome, or travels on in a
 * delayed message when the endpoint asks for a longer wait than a function should sleep.
 * Safe to run twice for the same message: lines that already have an outcome are skipped.
 */
export async function processRequestMessage(message: RequestMessage, deps: WorkerDeps, delivery: Delivery = {}): Promise<ProcessRequestsResult> {
  const lines = message.items.map((item) => item.line);
  // Only a redelivery, or a message that may repeat an earlier send, can carry lines that already have
  // an outcome; the first delivery of a first send cannot, and skips the lookup (one read per line).
  const mayRepeat = message.firstSend !== true || delivery.dequeueCount !== 1;
  // The lines' bodies are read back side by side with the job and outcome reads: every line of the
  // message, since which ones are done is not known yet (one range read all the same). Only a job that
  // sends lines waits for them, so a failed read cannot fail a cancelled or halted job's lines.
  const bodiesRead = resolveBodies(message, message.items, deps);
  bodiesRead.catch(() => undefined);
  const [stored, done] = await Promise.all([
    deps.readJob(message.jobId),
    mayRepeat ? deps.jobs.linesWithOutcome(message.jobId, lines) : new Set<number>(),
  ]);
  if (stored === undefined) throw new Error(`Job ${message.jobId} does not exist`);
  const pending = message.items.filter((item) => !done.has(item.line));

  let results: LineResult[];
  const spend = new JobSpendMeter(stored.job, deps);
  const status = stored.job.status;
  const halt = stored.job.halt;
  if (status === JobStatus.cancelling || status === JobStatus.cancelled) {
    const now = deps.clock.nowInMs();
    results = pending.map((item) => ({
      kind: 'outcome',
      outcome: failedOutcome(message.jobId, item, { code: LineErrorCode.batchCancelled, message: 'The batch was cancelled before this line was sent' }, priorAttempts(item), null, now, LineStatus.cancelled),
    }));
  } else if (halt !== undefined) {
    const now = deps.clock.nowInMs();
    results = pending.map((item) => ({ kind: 'outcome', outcome: haltedOutcome(message.jobId, item, halt, now) }));
  } else if (isWindowClosed(stored.job, deps.clock.nowInMs())) {
    results = (await expireLines(stored.job, pending, deps)).map((outcome) => ({ kind: 'outcome', outcome }));
  } else {
    const deployment = deps.deployments.byName(stored.job.deployment);
    const guard: HaltGuard = { halt: undefined };
    const bodies = await bodiesRead;
    const run: MessageRun = { message, deployment, guard, deps, spend, job: stored.job };
    results = await Promise.all(pending.map((item) => runLine(run, item, bodies.get(item.line)!)));
    if (guard.halt !== undefined) {
      const newHalt = guard.halt;
      await updateJob(deps.jobs, message.jobId, (job) => (job.halt === undefined ? { ...job, halt: newHalt } : undefined));
      deps.logger.error(`Job ${message.jobId} halted: ${newHalt.message}`);
    }
  }

  const outcomes = results.flatMap((r) => (r.kind === 'outcome' ? [r.outcome] : []));
  const requeue = results.flatMap((r) => (r.kind === 'requeue' ? [r] : []));
  await spend.flush();
  const created = await recordOutcomesAndMaybeFinalize(message.jobId, outcomes, deps);

  if (requeue.length > 0) {
    const delayInMs = Math.max(...requeue.map((r) => r.delayInMs));
    // Not a first send: a crash after sending it and before this delivery ends would deliver its lines twice.
    const { firstSend: _firstSend, ...rest } = message;
    const next: RequestMessage = { ...rest, items: requeue.map((r) => r.item) };
    await deps.requestQueue.send([next], { visibilityDelayInMs: delayInMs });
    const untilInMs = deps.clock.nowInMs() + delayInMs;
    const reason = requeue[0]!.reason;
    // Say on the job why it waits, and keep the sweeper from taking the wait for a stall.
    await updateJob(deps.jobs, message.jobId, (job) =>
      job.deferral !== undefined && job.deferral.untilInMs >= untilInMs ? undefined : { ...job, deferral: { untilInMs, reason } },
    );
    deps.logger.warn(`Job ${message.jobId}: ${requeue.length} line(s) re-queued for ${Math.round(delayInMs / 1000)} s: ${requeue[0]!.reason}`);
  }
  return { recorded: created, alreadyDone: done.size, requeued: requeue.length };
}

/** When the job is finalised inline, the queued finalisation is a backup: it shows only after this long. */
export const FINALIZE_BACKUP_DELAY_IN_MS = 60_000;

/**
 * Records outcomes, stages the output lines of the new ones for the job's files, adds them to the job's
 * counters, and has the job finalised when it is complete. The counters move last: when they say
 * complete, every counted line's output is staged. Finalisation is queued first, so it happens even if
 * this process dies; with `finalizeInline` it is also done here and now, and the queued one, shown a
 * minute later, finds the job final.
 */
export async function recordOutcomesAndMaybeFinalize(
  jobId: string,
  outcomes: readonly LineOutcome[],
  deps: Pick<WorkerDeps, 'jobs' | 'controlQueue' | 'clock' | 'resultParts' | 'finalizeInline' | 'logger'>,
): Promise<number> {
  if (outcomes.length === 0) return 0;
  const created = await deps.jobs.recordOutcomes(outcomes);
  if (created.length === 0) return 0;
  await deps.resultParts.stage(jobId, created, deps.logger);
  const updated = await deps.jobs.addToJobCounters(jobId, totalsOf(created), deps.clock.nowInMs());
  if (isComplete(updated.job)) {
    const finalize: ControlMessage = { v: 1, kind: 'finalize', jobId };
    const inline = deps.finalizeInline;
    await deps.controlQueue.send([finalize], inline === undefined ? {} : { visibilityDelayInMs: FINALIZE_BACKUP_DELAY_IN_MS });
    if (inline !== undefined) {
      try {
        await inline(jobId);
      } catch (error) {
        deps.logger.warn(`Job ${jobId}: finalising at once failed (${ensureError(error).message}); the queued finalisation will do it`);
      }
    }
  }
  return created.length;
}

/**
 * A call's way to the endpoint: held against the spending cap, written ahead to the ledger, then the
 * budget taken last, right before the request leaves (the write-ahead takes as long as the store does):
 * the endpoint then sees requests at the pace the budget grants them, not in bunches.
 */
async function admit(run: MessageRun, item: RequestItem, call: { body: ChatCompletionBody; reservedTokens: number; attempt: number }): Promise<Admission> {
  const { message, deployment, deps, spend } = run;
  const { body, reservedTokens, attempt } = call;
  // Held against the job's spending cap until the answer is billed or not.
  const reservation = await spend.reserve(deployment, body);
  if (reservation === undefined) return { kind: 'capped' };
  const openedAtInMs = deps.clock.nowInMs();
  const sent: LedgerEntry = {
    id: deps.newCallId(),
    jobId: message.jobId,
    line: item.line,
    attempt,
    deployment: deployment.name,
    model: deployment.model,
    state: LedgerState.sent,
    httpStatus: 0,
    requestId: '',
    promptTokens: 0,
    completionTokens: 0,
    reservedTokens,
    atInMs: openedAtInMs,
    day: utcDay(openedAtInMs),
    inputPerMillion: 0,
    outputPerMillion: 0,
    currency: 'USD',
    costInNanos: 0,
  };
  await spend.open(sent);
  const admission = await deployment.limiter.acquire({ requests: 1, tokens: reservedTokens }, { maxWaitInMs: deps.retry.maxInlineWaitInMs });
  if (!admission.granted) {
    await spend.notBilled(reservation, sent);
    return { kind: 'paused', waitInMs: admission.waitInMs };
  }
  return { kind: 'admitted', reservation, sent };
}

/** How a call's turn ended: never sent (the cap, a pause), admitted, or sent and answered (or not). */
type Admission =
  | { readonly kind: 'capped' }
  | { readonly kind: 'paused'; readonly waitInMs: number }
  | { readonly kind: 'admitted'; readonly reservation: SpendReservation; readonly sent: LedgerEntry };
type Sending = Exclude<Admission, { kind: 'admitted' }> | { readonly kind: 'answered'; readonly reservation: SpendReservation; readonly sent: LedgerEntry; readonly result: ChatCallResult };

/** Shared by the lines of one message: once one learns the deployment refuses us, the rest stop. */
interface HaltGuard {
  halt: (LineError & { atInMs: number }) | undefined;
}

/** What the lines of one message share while they run. */
interface MessageRun {
  readonly message: RequestMessage;
  readonly deployment: Deployment;
  readonly guard: HaltGuard;
  readonly deps: WorkerDeps;
  readonly spend: JobSpendMeter;
  readonly job: Job;
}

function priorAttempts(item: RequestItem): number {
  return item.prior ?? 0;
}

function haltedOutcome(jobId: string, item: RequestItem, halt: LineError, nowInMs: number): LineOutcome {
  return failedOutcome(jobId, item, { code: LineErrorCode.batchHalted, message: `Not sent: ${halt.message}` }, priorAttempts(item), null, nowInMs);
}

function failedOutcome(
  jobId: string,
  item: RequestItem,
  error: LineError,
  attempts: number,
  response: LineOutcome['response'],
  nowInMs: number,
  status: LineStatus = LineStatus.failed,
  startedAtInMs: number | null = null,
): LineOutcome {
  return {
    jobId,
    line: item.line,
    customId: item.id,
    status,
    response,
    error,
    usage: null,
    costInNanos: 0,
    attempts,
    startedAtInMs,
    finishedAtInMs: nowInMs,
    latencyInMs: null,
  };
}

/** Ref items of one message are neighbouring lines: one range read covers them all when the span is modest. */
const MAX_SHARED_READ_BYTES = 8 * 1024 * 1024;

/** Messages started together read their lines as one when the bytes between them are few (a 64 KB read costs what a 3 KB one does). */
export const INPUT_RANGE_COALESCING: CoalescingOptions = { maxSpanBytes: MAX_SHARED_READ_BYTES, maxGapBytes: 64 * 1024 };

type ResolvedBody = ChatCompletionBody | LineError;

/** Reads the bodies of items sent by reference, from the pinned blob version, in as few reads as possible. */
async function resolveBodies(message: RequestMessage, items: readonly RequestItem[], deps: WorkerDeps): Promise<Map<number, ResolvedBody>> {
  const bodies = new Map<number, ResolvedBody>();
  const refs: Array<{ line: number; offset: number; length: number }> = [];
  for (const item of items) {
    if ('body' in item) bodies.set(item.line, item.body);
    else refs.push({ line: item.line, offset: item.ref.offset, length: item.ref.length });
  }
  if (refs.length === 0) return bodies;
  const { container, name, etag } = message.input;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const readBack = (line: number, bytes: Buffer): ResolvedBody => {
    const parsed = parseBatchLine(decoder.decode(bytes));
    return parsed.kind === 'request'
      ? parsed.body
      : { code: LineErrorCode.inputChanged, message: `Line ${line} read back from the input blob is no longer a valid request` };
  };
  try {
    const start = Math.min(...refs.map((r) => r.offset));
    const end = Math.max(...refs.map((r) => r.offset + r.length));
    if (end - start <= MAX_SHARED_READ_BYTES) {
      const span = await deps.readInputRange(container, name, { etag, offset: start, length: end - start });
      for (const ref of refs) bodies.set(ref.line, readBack(ref.line, span.subarray(ref.offset - start, ref.offset - start + ref.length)));
    } else {
      for (const ref of refs) {
        bodies.set(ref.line, readBack(ref.line, await deps.readInputRange(container, name, { etag, offset: ref.offset, length: ref.length })));
      }
    }
  } catch (error) {
    if ((error as { code?: string }).code !== 'input_changed') throw error;
    for (const ref of refs) {
      bodies.set(ref.line, { code: LineErrorCode.inputChanged, message: `The input blob changed while the job ran; line ${ref.line} could not be read back` });
    }
  }
  return bodies;
}

function toCallOutcome(result: ChatCallResult, nowInMs: number): CallOutcome {
  if (result.kind !== 'response') return result.kind === 'timeout' ? { kind: 'timeout' } : { kind: 'network', message: result.message };
  return { kind: 'response', status: result.status, retryAfterInMs: parseRetryAfterInMs(result.headers, nowInMs) };
}

function numberHeader(headers: Readonly<Record<string, string | undefined>>, name: string): number | undefined {
  const raw = headers[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) ? value : undefined;
}

function describeFailure(result: ChatCallResult): LineError {
  if (result.kind === 'timeout') return { code: 'endpoint_timeout', message: 'The endpoint did not answer in time' };
  if (result.kind === 'network') return { code: 'endpoint_unreachable', message: result.message };
  const body = result.body as { error?: { code?: unknown; message?: unknown }; code?: unknown; message?: unknown } | null;
  const code = body?.error?.code ?? body?.code ?? result.headers['x-ms-error-code'];
  const message = body?.error?.message ?? body?.message;
  return {
    code: typeof code === 'string' && code.length > 0 ? code : `http_${result.status}`,
    message: typeof message === 'string' ? message : `The endpoint answered HTTP ${result.status}`,
  };
}

function usageOf(body: unknown): TokenUsage | null {
  const usage = (body as { usage?: Partial<TokenUsage> } | null)?.usage;
  if (usage === undefined || typeof usage.prompt_tokens !== 'number' || typeof usage.completion_tokens !== 'number') return null;
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
  };
}

async function runLine(run: MessageRun, item: RequestItem, resolved: ResolvedBody): Promise<LineResult> {
  const { message, deployment, guard, deps, spend } = run;
  const { chat, limiter, tokenCounter } = deployment;
  if (!('messages' in resolved)) return { kind: 'outcome', outcome: failedOutcome(message.jobId, item, resolved, 0, null, deps.clock.nowInMs()) };
  const body: ChatCompletionBody =
    resolved.max_tokens === undefined || resolved.max_tokens === null ? { ...resolved, max_tokens: deps.defaultMaxTokens } : resolved;
  // Counted once the line has a call slot, not when its message arrives: a batch of messages brings
  // hundreds of lines at once, and counting them all in one go held up the budget's timers.
  let reservedTokens: number | undefined;

  let attempts = priorAttempts(item);
  let failedAttempts = 0;
  const requeueForBudget = (waitInMs: number): LineResult => ({
    kind: 'requeue',
    item: { ...item, prior: attempts },
    delayInMs: Math.min(waitInMs, deps.retry.maxRequeueDelayInMs),
    reason: 'the deployment budget is paused by the endpoint',
  });
  let startedAtInMs: number | null = null;
  for (;;) {
    if (guard.halt !== undefined) return { kind: 'outcome', outcome: haltedOutcome(message.jobId, item, guard.halt, deps.clock.nowInMs()) };
    if (isWindowClosed(run.job, deps.clock.nowInMs())) return { kind: 'outcome', outcome: (await expireLines(run.job, [{ ...item, prior: attempts }], deps))[0]! };
    const capped = (): LineResult => ({ kind: 'outcome', outcome: failedOutcome(message.jobId, item, spend.refusal, attempts, null, deps.clock.nowInMs(), LineStatus.failed, startedAtInMs) });
    if (spend.stopped) return capped();
    // A pause longer than a line may wait (a daily quota's 429) is known before anything is written.
    const pausedForInMs = limiter.pausedUntilInMs - deps.clock.nowInMs();
    if (pausedForInMs > deps.retry.maxInlineWaitInMs) return requeueForBudget(pausedForInMs);
    // A slot covers a call from its reservation and write-ahead to its answer: what is held against the
    // cap is bounded by the slots, not by the lines waiting. Fewer still may be written ahead and wait for
    // the budget at once: a crash leaves those unconfirmed though they were never sent.
    const sending = await deps.callSlots(async (): Promise<Sending> => {
      const tokens = (reservedTokens ??= tokenCounter.countChatPrompt(body.messages) + (body.max_tokens as number));
      const call = { body, reservedTokens: tokens, attempt: attempts + 1 };
      const admission = await deps.admissionSlots(deployment.name, () => admit(run, item, call));
      if (admission.kind !== 'admitted') return admission;
      const { reservation, sent } = admission;
      return { kind: 'answered', reservation, sent, result: await chat.complete(body, { customId: item.id, callId: sent.id }) };
    });
    if (sending.kind === 'capped') return capped();
    if (sending.kind === 'paused') return requeueForBudget(sending.waitInMs);
    const { reservation, sent, result } = sending;
    const now = deps.clock.nowInMs();
    startedAtInMs ??= now - result.latencyInMs;
    attempts += 1;
    if (result.kind === 'response') {
      limiter.correct({
        requests: numberHeader(result.headers, 'x-ratelimit-remaining-requests'),
        tokens: numberHeader(result.headers, 'x-ratelimit-remaining-tokens'),
      });
    }
    const outcome = toCallOutcome(result, now);
    if (outcome.kind === 'response' && outcome.status === 429) {
      // A daily quota's "retry after 86400 s" pauses the deployment for at most the re-queue cap: then it is probed again.
      limiter.pauseUntil(now + Math.min(outcome.retryAfterInMs ?? deps.retry.baseDelayInMs, deps.retry.maxRequeueDelayInMs));
    }
    const decision = decideRetry(outcome, failedAttempts, deps.retry, deps.random());

    const usage = result.kind === 'response' ? usageOf(result.body) : null;
    let callCostInNanos = 0;
    if (usage !== null && result.kind === 'response') {
      // Billed: the ledger entry settled before the outcome, so a crash after this point cannot hide the spend.
      const day = utcDay(now);
      const price = priceFor(deps.prices, deployment.model, day);
      callCostInNanos = price === undefined ? 0 : costInNanos(price, usage.prompt_tokens, usage.completion_tokens);
      await spend.bill(reservation, {
        ...sent,
        state: LedgerState.billed,
        httpStatus: result.status,
        requestId: result.requestId,
        promptTokens: usage.prompt_tokens,
        completionTokens: usage.completion_tokens,
        atInMs: now,
        day,
        inputPerMillion: price?.inputPerMillion ?? 0,
        outputPerMillion: price?.outputPerMillion ?? 0,
        currency: price?.currency ?? 'USD',
        costInNanos: callCostInNanos,
      });
    } else if (result.kind === 'response' || (result.kind === 'network' && result.neverSent)) {
      await spend.notBilled(reservation, sent);
    } else {
      spend.unconfirmed();
    }

    if (decision.action === 'done' && result.kind === 'response') {
      if (usage !== null && deps.returnUnusedTokens) {
        limiter.refundTokens(Math.max(0, (reservedTokens ?? 0) - usage.total_tokens));
      }
      return {
        kind: 'outcome',
        outcome: {
          jobId: message.jobId,
          line: item.line,
          customId: item.id,
          status: LineStatus.succeeded,
          response: { status_code: result.status, request_id: result.requestId, body: result.body },
          error: null,
          usage,
          costInNanos: callCostInNanos,
          attempts,
          startedAtInMs,
          finishedAtInMs: now,
          latencyInMs: result.latencyInMs,
        },
      };
    }
    if (decision.action === 'fail' || decision.action === 'done') {
      const error = describeFailure(result);
      if (result.kind === 'response' && DEPLOYMENT_FAILURE_STATUSES.has(result.status) && guard.halt === undefined) {
        guard.halt = {
          code: LineErrorCode.deploymentRejected,
          message: `The endpoint answered HTTP ${result.status} (${error.code}: ${error.message}); check PHI3_ENDPOINT and PHI3_API_KEY, then retry the failed lines`,
          atInMs: now,
        };
      }
      const response = result.kind === 'response' ? { status_code: result.status, request_id: result.requestId, body: result.body } : null;
      const finalError = outcome.kind === 'response' ? error : { code: LineErrorCode.retriesExhausted, message: `${error.message} (after ${attempts} attempts)` };
      return { kind: 'outcome', outcome: failedOutcome(message.jobId, item, finalError, attempts, response, now, LineStatus.failed, startedAtInMs) };
    }
    if (!decision.throttled) failedAttempts += 1;
    if (decision.action === 'requeue') {
      const reason = decision.throttled
        ? `the endpoint asked to retry after ${Math.round(decision.requestedDelayInMs / 1000)} s`
        : 'backing off after repeated failures';
      return { kind: 'requeue', item: { ...item, prior: attempts }, delayInMs: decision.delayInMs, reason };
    }
    if (!decision.throttled) await deps.sleep(decision.delayInMs);
  }
}
