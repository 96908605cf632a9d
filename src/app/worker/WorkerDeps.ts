import type { FeedOptions } from '../feedWork.js';
import type { FairTurn } from '../../core/FairWaitingLine.js';
import type { MessageServiceTimes } from './MessageServiceTimes.js';
import type { ModelPrice } from '../../core/pricing.js';
import type { RetryPolicy } from '../../core/retryPolicy.js';
import type { RangeRead } from '../coalescedRangeReads.js';
import type { BudgetDeps } from '../budgetSpend.js';
import type { Deployments } from '../deployments.js';
import type { JobSpendDeps } from '../jobSpend.js';
import type { JobSpendStore, JobStore, MessageQueue, StoredJob, UsageLedger } from '../ports.js';
import type { RecordOutcomesDeps } from '../recordOutcomesAndMaybeFinalize.js';
import type { ResponseCacheDeps } from './cachedAnswers.js';
import type { SlotWaitLimit } from './AdaptiveCallSlots.js';
import type { EndpointCalls } from './EndpointCalls.js';

/** What the worker (`processRequestMessage`) needs; built by `buildWorkerDeps`. */
export interface WorkerDeps extends RecordOutcomesDeps, JobSpendDeps {
  readonly jobs: JobStore;
  /** The job as a message sees it when it starts; messages that start together may share one read (`sharedReads`). */
  readonly readJob: (jobId: string) => Promise<StoredJob | undefined>;
  /**
   * Reads a message's lines back from the input blob. Reads asked for together may go out as one
   * (`coalescedRangeReads`, with `INPUT_RANGE_COALESCING`): a batch of messages holds neighbouring lines.
   */
  readonly readInputRange: RangeRead;
  readonly requestQueue: MessageQueue;
  readonly deployments: Deployments;
  readonly ledger: UsageLedger;
  readonly jobSpend: JobSpendStore;
  /**
   * Bounds the calls under way (from their write-ahead to their answer) across every message this process
   * handles; lines waiting for one are served in weighted fair order by their job (`turn`).
   */
  readonly callSlots: <T>(task: () => Promise<T>, waitLimit?: SlotWaitLimit<T>, turn?: FairTurn) => Promise<T>;
  /**
   * Bounds, within those and per deployment, the calls written ahead and still waiting for its budget:
   * what a crash can leave in the ledger as unconfirmed without the request ever having left.
   */
  readonly admissionSlots: <T>(deployment: string, task: () => Promise<T>) => Promise<T>;
  /** Reported to and sized by: metrics, the call slots' latency, each call's time limit. */
  readonly calls: EndpointCalls;
  readonly random: () => number;
  readonly sleep: (delayInMs: number) => Promise<void>;
  /** A fresh id per endpoint call (a UUID): the ledger entry's id and the request's `x-ms-client-request-id`. */
  readonly newCallId: () => string;
  readonly retry: RetryPolicy;
  readonly prices: readonly ModelPrice[];
  readonly defaultMaxTokens: number;
  readonly returnUnusedTokens: boolean;
  /** Daily and monthly spending budgets (BUDGETS); undefined: none configured. */
  readonly spendBudgets?: BudgetDeps | undefined;
  /** Stored answers that repeated requests are answered from; absent: every request is sent. */
  readonly responseCache?: ResponseCacheDeps | undefined;
  /** With lazy fan-out (decision 0012): tops the work queue up after each message, with the time its lead is sized for. */
  readonly feed?: ((deployment: string, options: FeedOptions) => Promise<unknown>) | undefined;
  /** Messages this process holds whose lines a heavier job's overtake (`FeedOptions.heldBackMessages`). */
  readonly heldBackMessages?: (() => number) | undefined;
  /** How long messages take from their first call to their last answer (their service time). */
  readonly messageTimes?: MessageServiceTimes | undefined;
  /**
   * What the work queue's lead is sized for, once measured: the longer of the calls' latency and the
   * messages' service time (high percentiles). A message is held until its slowest line is answered.
   */
  readonly leadLatencyInMs?: (() => number | undefined) | undefined;
}
