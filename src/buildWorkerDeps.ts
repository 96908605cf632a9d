import pLimit from 'p-limit';
import { coalescedRangeReads } from './app/coalescedRangeReads.js';
import type { Deployments } from './app/deployments.js';
import type { Logger } from './app/Logger.js';
import type { BlobStore, Clock, JobSpendStore, JobStore, MessageQueue, UsageLedger } from './app/ports.js';
import type { ResultParts } from './app/resultParts.js';
import { sharedReads } from './app/sharedReads.js';
import { INPUT_RANGE_COALESCING } from './app/worker/readLineBodies.js';
import type { WorkerDeps } from './app/worker/WorkerDeps.js';
import { admissionSlotsFor } from './core/PacedBudget.js';
import type { ModelPrice } from './core/pricing.js';
import type { RetryPolicy } from './core/retryPolicy.js';

/** The adapters the worker runs on, built once per process. */
export interface WorkerAdapters {
  readonly jobs: JobStore;
  readonly blobs: Pick<BlobStore, 'readRange'>;
  readonly requestQueue: MessageQueue;
  readonly controlQueue: MessageQueue;
  readonly deployments: Deployments;
  readonly ledger: UsageLedger;
  readonly jobSpend: JobSpendStore;
  readonly resultParts: ResultParts;
  readonly clock: Clock;
  readonly random: () => number;
  readonly sleep: (delayInMs: number) => Promise<void>;
  readonly newCallId: () => string;
  /** Finalises a job in the invocation that recorded its last outcome (with that invocation's logger). */
  readonly finalizeInline?: ((jobId: string, logger: Logger) => Promise<unknown>) | undefined;
}

/** The worker's settings, from the validated configuration. */
export interface WorkerSettings {
  readonly retry: RetryPolicy;
  readonly prices: readonly ModelPrice[];
  readonly defaultMaxTokens: number;
  readonly returnUnusedTokens: boolean;
  /**
   * Endpoint calls under way at once in this process, and each deployment's requests per minute (which
   * sizes its admission slots, `admissionSlotsFor`). Without it, calls are not bounded here.
   */
  readonly concurrency?: {
    readonly maxConcurrency: number;
    readonly deployments: readonly { readonly name: string; readonly requestsPerMinute: number }[];
  };
}

/**
 * The worker's dependencies for one invocation (its logger), over parts shared by every invocation of
 * the process: one job read shared by messages that start together, coalesced range reads of the
 * input, and the call and admission slots. Used by the composition root and by the tests alike.
 */
export function buildWorkerDeps(adapters: WorkerAdapters, settings: WorkerSettings): (logger: Logger) => WorkerDeps {
  const { jobs, blobs, finalizeInline, ...rest } = adapters;
  const readJob = sharedReads((jobId: string) => jobs.getJob(jobId));
  const readInputRange = coalescedRangeReads(
    (container, name, range) => blobs.readRange(container, name, range),
    INPUT_RANGE_COALESCING,
  );
  const { callSlots, admissionSlots } = slotsFor(settings.concurrency);
  const { retry, prices, defaultMaxTokens, returnUnusedTokens } = settings;
  return (logger) => ({
    ...rest,
    jobs,
    readJob,
    readInputRange,
    callSlots,
    admissionSlots,
    retry,
    prices,
    defaultMaxTokens,
    returnUnusedTokens,
    finalizeInline: finalizeInline === undefined ? undefined : (jobId) => finalizeInline(jobId, logger),
    logger,
  });
}

function slotsFor(concurrency: WorkerSettings['concurrency']): Pick<WorkerDeps, 'callSlots' | 'admissionSlots'> {
  if (concurrency === undefined) return { callSlots: (task) => task(), admissionSlots: (_deployment, task) => task() };
  const { maxConcurrency, deployments } = concurrency;
  const callSlots = pLimit(maxConcurrency);
  const admissionSlots = new Map(
    deployments.map((d) => [d.name, pLimit(admissionSlotsFor(d.requestsPerMinute, maxConcurrency))] as const),
  );
  return {
    callSlots: (task) => callSlots(task),
    admissionSlots: (deployment, task) => {
      const slots = admissionSlots.get(deployment);
      if (slots === undefined) throw new Error(`No deployment named ${deployment}`);
      return slots(task);
    },
  };
}
