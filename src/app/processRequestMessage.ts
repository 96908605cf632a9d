import { ensureError } from '../core/errors.js';
import { isWindowClosed, JobStatus, type Job } from '../core/job.js';
import { expireLines } from './expireLines.js';
import type { RequestMessage } from '../core/requestMessage.js';
import { BudgetMeter } from './budgetSpend.js';
import { JobSpendMeter } from './jobSpend.js';
import type { StoredJob } from './ports.js';
import { recordOutcomesAndMaybeFinalize } from './recordOutcomesAndMaybeFinalize.js';
import { updateJob } from './updateJob.js';
import { cancelledOutcome, haltedOutcome, outcomeResult } from './worker/lineResults.js';
import type { LineResult } from './worker/LineState.js';
import { haltOf, type Halt, type MessageRun } from './worker/MessageRun.js';
import { readLineBodies, type LineBody } from './worker/readLineBodies.js';
import { deferLines, type DeferredLine } from './worker/deferLines.js';
import { runLine } from './worker/runLine.js';
import {
  cachedOutcome,
  cacheKeysOf,
  lookUpAnswers,
  storeAnswers,
  type MessageCacheKeys,
} from './worker/cachedAnswers.js';
import type { WorkerDeps } from './worker/WorkerDeps.js';

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
export async function processRequestMessage(
  message: RequestMessage,
  deps: WorkerDeps,
  delivery: Delivery = {},
): Promise<ProcessRequestsResult> {
  // The lines' bodies are read back side by side with the job and outcome reads: every line of the
  // message, since which ones are done is not known yet (one range read all the same). Only a job that
  // sends lines waits for them, so a failed read cannot fail a cancelled or halted job's lines.
  const bodiesRead = readLineBodies(message, deps);
  bodiesRead.catch(() => undefined);
  const { stored, done } = await readMessageState(message, deps, delivery);
  const spend = new JobSpendMeter(stored.job, deps);
  const budgets = new BudgetMeter(stored.job, deps.spendBudgets);
  const { results, cacheKeys } = await runPendingLines(message, stored.job, done, {
    deps,
    spend,
    budgets,
    bodiesRead,
  });
  const outcomes = results.flatMap((r) => (r.kind === 'outcome' ? [r.outcome] : []));
  const requeue = results.flatMap((r): DeferredLine[] => (r.kind === 'requeue' ? [r] : []));
  await spend.flush();
  await budgets.flush();
  const created = await recordOutcomesAndMaybeFinalize(message.jobId, outcomes, deps);
  // After the outcomes: a crash before this only loses a store, never gives a line a second outcome.
  if (cacheKeys !== undefined) await storeAnswers(cacheKeys, outcomes, deps);
  if (requeue.length > 0) await deferLines(message, requeue, deps);
  await feedAfter(stored.job, deps);
  return { recorded: created, alreadyDone: done.size, requeued: requeue.length };
}

/** The message is done: the work queue is topped up from the backlogs. A failed feed is only logged (the next one makes up for it). */
async function feedAfter(job: Job, deps: WorkerDeps): Promise<void> {
  if (deps.feed === undefined || job.deployment === '') return;
  try {
    await deps.feed(job.deployment, {
      latencyInMs: deps.leadLatencyInMs?.(),
      heldBackMessages: deps.heldBackMessages?.(),
    });
  } catch (thrown) {
    deps.logger.warn(`Feeding the work queue after a message of job ${job.id} failed: ${ensureError(thrown).message}`);
  }
}

/** The job, and which of the message's lines already have an outcome. */
async function readMessageState(
  message: RequestMessage,
  deps: WorkerDeps,
  delivery: Delivery,
): Promise<{ stored: StoredJob; done: Set<number> }> {
  // Only a redelivery, or a message that may repeat an earlier send, can carry lines that already have
  // an outcome; the first delivery of a first send cannot, and skips the lookup (one read per line).
  const mayRepeat = message.firstSend !== true || delivery.dequeueCount !== 1;
  const lines = message.items.map((item) => item.line);
  const [stored, done] = await Promise.all([
    deps.readJob(message.jobId),
    mayRepeat ? deps.jobs.linesWithOutcome(message.jobId, lines) : new Set<number>(),
  ]);
  if (stored === undefined) throw new Error(`Job ${message.jobId} does not exist`);
  return { stored, done };
}

/** The lines' results, and the cache keys of those that went through the cache. */
interface PendingRun {
  readonly results: LineResult[];
  readonly cacheKeys?: MessageCacheKeys;
}

/**
 * The lines without an outcome: cancelled, not sent because the job halted, answered from the response
 * cache, or run against the endpoint.
 */
async function runPendingLines(
  message: RequestMessage,
  job: Job,
  done: ReadonlySet<number>,
  context: {
    deps: WorkerDeps;
    spend: JobSpendMeter;
    budgets: BudgetMeter;
    bodiesRead: Promise<Map<number, LineBody>>;
  },
): Promise<PendingRun> {
  const { deps, spend, budgets } = context;
  const pending = message.items.filter((item) => !done.has(item.line));
  if (job.status === JobStatus.cancelling || job.status === JobStatus.cancelled) {
    const now = deps.clock.nowInMs();
    return { results: pending.map((item) => outcomeResult(cancelledOutcome(message.jobId, item, now))) };
  }
  const deployment = deps.deployments.byName(job.deployment);
  const halt = haltOf(job, deployment);
  if (halt !== undefined) {
    const now = deps.clock.nowInMs();
    if (job.halt === undefined) await haltJob(message.jobId, halt, deps);
    return { results: pending.map((item) => outcomeResult(haltedOutcome(message.jobId, item, halt, now))) };
  }
  if (isWindowClosed(job, deps.clock.nowInMs())) {
    return { results: (await expireLines(job, pending, deps)).map(outcomeResult) };
  }
  const bodies = await context.bodiesRead;
  // Before any line takes a call slot, budget or spend reservation: a hit needs none of them.
  const cacheKeys = cacheKeysOf(job, deployment, pending, bodies, deps);
  const hits = await lookUpAnswers(cacheKeys, deps);
  const run: MessageRun = {
    message,
    job,
    deployment,
    guard: { halt: undefined },
    service: deps.messageTimes?.begin(),
    deps,
    spend,
    budgets,
  };
  let results: LineResult[];
  try {
    results = await Promise.all(
      pending.map(async (item) => {
        const hit = hits.get(item.line);
        if (hit !== undefined) return outcomeResult(cachedOutcome(message.jobId, item, hit, deps.clock.nowInMs()));
        return runLine(run, item, bodies.get(item.line)!);
      }),
    );
  } finally {
    run.service?.end();
  }
  if (run.guard.halt !== undefined) await haltJob(message.jobId, run.guard.halt, deps);
  return { results, cacheKeys };
}

async function haltJob(jobId: string, halt: Halt, deps: WorkerDeps): Promise<void> {
  await updateJob(deps.jobs, jobId, (job) => (job.halt === undefined ? { ...job, halt } : undefined));
  deps.logger.error(`Job ${jobId} halted: ${halt.message}`);
}
