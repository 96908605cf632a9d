import pLimit from 'p-limit';
import type { FeedOptions } from './app/feedWork.js';
import { longestKnown, MessageServiceTimes } from './app/worker/MessageServiceTimes.js';
import { BudgetPeriodWriter } from './app/BudgetPeriodWriter.js';
import { coalescedRangeReads } from './app/coalescedRangeReads.js';
import type { Deployments } from './app/deployments.js';
import type { Logger } from './app/Logger.js';
import {
  noMetrics,
  type BlobStore,
  type Clock,
  type JobSpendStore,
  type JobStore,
  type MessageQueue,
  type Metrics,
  type SpendBudgetStore,
  type Timers,
  type UsageLedger,
} from './app/ports.js';
import type { ResultParts } from './app/resultParts.js';
import { sharedReads } from './app/sharedReads.js';
import { AdaptiveCallSlots } from './app/worker/AdaptiveCallSlots.js';
import type { ResponseCacheDeps } from './app/worker/cachedAnswers.js';
import { WatchedEndpointCalls } from './app/worker/EndpointCalls.js';
import { INPUT_RANGE_COALESCING } from './app/worker/readLineBodies.js';
import type { WorkerDeps } from './app/worker/WorkerDeps.js';
import type { CallTimeLimitOptions, StreamMode } from './core/callTimeout.js';
import {
  budgetRatePerSecond,
  DEFAULT_IN_FLIGHT_SIZER_OPTIONS,
  InFlightSizer,
  memoryCeiling,
  type InFlightSize,
} from './core/InFlightSizer.js';
import { admissionSlotsFor } from './core/PacedBudget.js';
import type { ModelPrice } from './core/pricing.js';
import type { RetryPolicy } from './core/retryPolicy.js';
import type { SpendBudget } from './core/spendBudgets.js';
import type { WebhookSender, WebhookTarget } from './app/webhooks.js';

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
  /** Where the budget's figures go (admissions, 429s, calls in flight, latency, the in-flight size); nowhere by default. */
  readonly metrics?: Metrics;
  /** Re-checks the in-flight size while lines wait for a slot; without it, only as calls start and end. */
  readonly timers?: Timers;
  /** Daily and monthly spending budgets, their documents and where alerts go; none by default. */
  readonly budgeting?: {
    readonly budgets: readonly SpendBudget[];
    readonly store: SpendBudgetStore;
    readonly sender: WebhookSender;
    readonly target: WebhookTarget | undefined;
  };
  /** Stored answers that repeated requests are answered from; absent: every request is sent. */
  readonly responseCache?: ResponseCacheDeps | undefined;
  /** Finalises a job in the invocation that recorded its last outcome (with that invocation's logger). */
  readonly finalizeInline?: ((jobId: string, logger: Logger) => Promise<unknown>) | undefined;
  /** Tops the work queue up from the backlogs after each message (decision 0012). */
  readonly feed?: ((deployment: string, options: FeedOptions) => Promise<unknown>) | undefined;
}

/** The worker's settings, from the validated configuration. */
export interface WorkerSettings {
  readonly retry: RetryPolicy;
  readonly prices: readonly ModelPrice[];
  readonly defaultMaxTokens: number;
  readonly returnUnusedTokens: boolean;
  /**
   * Endpoint calls under way at once in this process, sized to the latency the calls show (decision
   * 0010): `maxConcurrency` is a ceiling; each deployment's requests per minute (times
   * `budgetUtilization`) is the rate to keep fed, and sizes its admission slots (`admissionSlotsFor`).
   * Without it, calls are not bounded here.
   */
  readonly concurrency?: {
    readonly maxConcurrency: number;
    readonly deployments: readonly { readonly name: string; readonly requestsPerMinute: number }[];
    /** The share of each deployment's budget the limiter grants (PHI3_BUDGET_UTILIZATION); 1 by default. */
    readonly budgetUtilization?: number;
    /** Requests per queue message, for the messages the size asks for; 1 by default. */
    readonly requestsPerMessage?: number;
  };
  /** Time limits per call that fit the generation (`callTimeLimitInMs`); absent: the client's fixed limit. */
  readonly timeLimits?: CallTimeLimitOptions;
  /** Which calls are streamed (`PHI3_STREAM`); `never` when absent. */
  readonly streamMode?: StreamMode;
  /**
   * What one line may spend on calls that timed out (counted as billed at their worst case), in
   * nanodollars: it bounds the line's retries after timeouts (`timedOutAttemptsAllowed`).
   */
  readonly unconfirmedSpendPerLineInNanos?: number;
}

/** Memory the calls under way may hold, and about what one holds (request, answer, socket buffers). */
export const CALL_MEMORY = { budgetBytes: 256 * 1024 * 1024, bytesPerCall: 64 * 1024 } as const;

/** What a line may spend on timed-out calls when nothing is configured: one US cent. */
export const DEFAULT_UNCONFIRMED_SPEND_PER_LINE_IN_NANOS = 10_000_000;

/** How often the in-flight size is looked at again while lines wait for a slot and no call ends. */
const RECHECK_EVERY_IN_MS = 1_000;

/**
 * The worker's dependencies for one invocation (its logger), over parts shared by every invocation of
 * the process: one job read shared by messages that start together, coalesced range reads of the
 * input, and the call and admission slots. Used by the composition root and by the tests alike.
 */
export function buildWorkerDeps(adapters: WorkerAdapters, settings: WorkerSettings): (logger: Logger) => WorkerDeps {
  const { jobs, blobs, finalizeInline, metrics: _metrics, timers: _timers, budgeting, ...rest } = adapters;
  // One writer per process: its calls to the same budget document go out together, not against each other.
  const budgetPeriods =
    budgeting === undefined || budgeting.budgets.length === 0 ? undefined : new BudgetPeriodWriter(budgeting.store);
  const readJob = sharedReads((jobId: string) => jobs.getJob(jobId));
  const readInputRange = coalescedRangeReads(
    (container, name, range) => blobs.readRange(container, name, range),
    INPUT_RANGE_COALESCING,
  );
  const metrics = adapters.metrics ?? noMetrics;
  const lead = leadSizing(adapters, settings);
  const { callSlots, admissionSlots, adaptive } = slotsFor(settings.concurrency, adapters, metrics, lead.tellFeeder);
  lead.callsSizedBy(adaptive);
  const calls = new WatchedEndpointCalls({
    clock: adapters.clock,
    metrics,
    ...(adaptive === undefined ? {} : { slots: adaptive }),
    ...(settings.timeLimits === undefined ? {} : { timeLimits: settings.timeLimits }),
    ...(settings.streamMode === undefined ? {} : { streamMode: settings.streamMode }),
    unconfirmedSpendPerLineInNanos:
      settings.unconfirmedSpendPerLineInNanos ?? DEFAULT_UNCONFIRMED_SPEND_PER_LINE_IN_NANOS,
  });
  const { retry, prices, defaultMaxTokens, returnUnusedTokens } = settings;
  return (logger) => ({
    ...rest,
    jobs,
    readJob,
    readInputRange,
    callSlots,
    admissionSlots,
    calls,
    retry,
    prices,
    defaultMaxTokens,
    returnUnusedTokens,
    finalizeInline: finalizeInline === undefined ? undefined : (jobId) => finalizeInline(jobId, logger),
    messageTimes: lead.messageTimes,
    leadLatencyInMs: lead.latencyInMs,
    heldBackMessages: () =>
      adaptive === undefined ? 0 : Math.ceil(adaptive.overtaken / (settings.concurrency?.requestsPerMessage ?? 1)),
    logger,
    spendBudgets:
      budgeting === undefined || budgetPeriods === undefined
        ? undefined
        : {
            budgets: budgeting.budgets,
            budgetPeriods,
            sender: budgeting.sender,
            target: budgeting.target,
            clock: adapters.clock,
            logger,
            metrics,
          },
  });
}

/** A latency this much above the one last told to the feeder is told again (it sizes the work queue's lead). */
const LATENCY_GROWTH_TO_REPORT = 1.2;

/**
 * What the work queue's lead is sized for, as this process sees it: the longer of the calls' latency
 * (what the call slots are sized for) and the messages' service time (a message is held until its
 * slowest line is answered). The feeder is told as it grows: when the call slots resize and, while
 * messages are in service, every second (no message of a slow endpoint ends for a minute or more).
 */
function leadSizing(adapters: WorkerAdapters, settings: WorkerSettings) {
  let adaptive: AdaptiveCallSlots | undefined;
  const latencyInMs = (): number | undefined => longestKnown(adaptive?.size.latencyInMs, messageTimes.estimateInMs());
  const feed = adapters.feed;
  const names = settings.concurrency?.deployments.map((d) => d.name) ?? [];
  const tell = feed === undefined ? undefined : feedOnLatencyGrowth(feed);
  const tellFeeder =
    tell === undefined
      ? undefined
      : (): void => {
          const latency = latencyInMs();
          if (latency !== undefined) for (const name of names) tell(name, latency);
        };
  const messageTimes = new MessageServiceTimes({
    clock: adapters.clock,
    ...(tellFeeder === undefined || adapters.timers === undefined
      ? {}
      : { check: { timers: adapters.timers, everyInMs: RECHECK_EVERY_IN_MS, onCheck: tellFeeder } }),
  });
  return {
    messageTimes,
    latencyInMs,
    tellFeeder,
    callsSizedBy: (slots: AdaptiveCallSlots | undefined): void => {
      adaptive = slots;
    },
  };
}

/**
 * Tells the feeder when the latency the calls are sized for grows: on a slow endpoint no message ends for
 * the first tens of seconds, so the reports that come with finished messages would leave the work queue's
 * lead sized for the default latency meanwhile, too short to feed the calls the budget needs.
 */
export function feedOnLatencyGrowth(
  feed: (deployment: string, options: FeedOptions) => Promise<unknown>,
): (deployment: string, latencyInMs: number) => void {
  const reported = new Map<string, number>();
  return (deployment, latencyInMs) => {
    const last = reported.get(deployment);
    if (last !== undefined && latencyInMs < last * LATENCY_GROWTH_TO_REPORT) return;
    reported.set(deployment, latencyInMs);
    // Best effort: the finished messages' feeds and the feeder's timer come anyway.
    feed(deployment, { latencyInMs }).catch(() => undefined);
  };
}

function slotsFor(
  concurrency: WorkerSettings['concurrency'],
  adapters: WorkerAdapters,
  metrics: Metrics,
  onResize?: () => void,
): Pick<WorkerDeps, 'callSlots' | 'admissionSlots'> & { readonly adaptive?: AdaptiveCallSlots } {
  if (concurrency === undefined) return { callSlots: (task) => task(), admissionSlots: (_deployment, task) => task() };
  const { maxConcurrency, deployments } = concurrency;
  const admissionCounts = deployments.map((d) => admissionSlotsFor(d.requestsPerMinute, maxConcurrency));
  const admissionSlots = new Map(deployments.map((d, i) => [d.name, pLimit(admissionCounts[i]!)] as const));
  // Calls the budget has not admitted yet wait in admission slots, on top of those at the endpoint.
  const extraSlots = Math.min(
    maxConcurrency - 1,
    admissionCounts.reduce((sum, count) => sum + count, 0),
  );
  const ratePerSecond = deployments.reduce(
    // Requests per minute bind: tokens per call vary by line, and sizing for more calls costs memory only.
    (sum, d) =>
      sum +
      budgetRatePerSecond({
        requestsPerMinute: d.requestsPerMinute,
        tokensPerMinute: Number.POSITIVE_INFINITY,
        tokensPerCall: 1,
        share: concurrency.budgetUtilization ?? 1,
      }),
    0,
  );
  const sizer = new InFlightSizer({
    ...DEFAULT_IN_FLIGHT_SIZER_OPTIONS,
    ceilings: {
      operator: Math.max(1, maxConcurrency - extraSlots),
      memory: memoryCeiling(CALL_MEMORY.budgetBytes, CALL_MEMORY.bytesPerCall),
    },
  });
  const report = (size: InFlightSize): void => {
    for (const d of deployments) {
      metrics.setInFlightTarget(d.name, size.calls, size.latencyInMs);
    }
    onResize?.();
  };
  const adaptive = new AdaptiveCallSlots({
    sizer,
    clock: adapters.clock,
    ratePerSecond,
    requestsPerMessage: concurrency.requestsPerMessage ?? 1,
    extraSlots,
    onResize: report,
    ...(adapters.timers === undefined ? {} : { recheck: { timers: adapters.timers, everyInMs: RECHECK_EVERY_IN_MS } }),
  });
  return {
    adaptive,
    callSlots: (task, waitLimit, turn) => adaptive.run(task, waitLimit, turn),
    admissionSlots: (deployment, task) => {
      const slots = admissionSlots.get(deployment);
      if (slots === undefined) throw new Error(`No deployment named ${deployment}`);
      return slots(task);
    },
  };
}
