import type { CompletionWindowLimits } from '../../core/openai/completionWindow.js';
import type { PackRequestsOptions } from '../../core/requestMessage.js';
import type { ModelPrice } from '../../core/pricing.js';
import type { Deployments } from '../deployments.js';
import type { Logger } from '../Logger.js';
import type { Backlogs, BlobStore, Clock, FairShareStore, JobStore, MessageQueue } from '../ports.js';
import type { ResultParts } from '../resultParts.js';

/** What the ingest of a blob needs: its ports and the settings it reads a file by. */
export interface IngestDeps {
  readonly jobs: JobStore;
  readonly blobs: BlobStore;
  readonly requestQueue: MessageQueue;
  readonly controlQueue: MessageQueue;
  readonly deployments: Deployments;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly defaultMaxTokens: number;
  readonly maxLineBytes: number;
  readonly maxLinesPerFile: number;
  readonly packing: PackRequestsOptions;
  /** How many work messages are sent between two checkpoints of the ingest's progress (default: the tuning value). */
  readonly messagesPerCheckpoint?: number | undefined;
  /** For the job's cost estimate. */
  readonly prices: readonly ModelPrice[];
  /** Where the ingest keeps its state between chunks (the output container). */
  readonly stateContainer: string;
  /** Lines one invocation reads before a continuation message takes over (setting INGEST_CHUNK_LINES). */
  readonly chunkLines: number;
  /** Lines whose prompt tokens are counted with the real tokenizer; later ones are estimated from them. */
  readonly exactTokenLines: number;
  /** Spending cap of a job whose blob has no `maxcost` metadata; undefined = none. */
  readonly defaultMaxCostInNanos: number | undefined;
  /** The completion windows a dropped file's `completionwindow` may ask for (as the Batches API allows); default: the built-in limits. */
  readonly windowLimits?: CompletionWindowLimits | undefined;
  /** Where the output lines of the outcomes the ingest records (invalid or cancelled lines) are staged. */
  readonly resultParts: ResultParts;
  /** Lazy fan-out (decision 0012): work messages go to the job's backlog and are fed fairly. Absent: straight to the work queue. */
  readonly scheduling?: IngestScheduling | undefined;
}

/** What sending a job's work through its backlog needs. */
export interface IngestScheduling {
  readonly backlogs: Backlogs;
  readonly fairShare: FairShareStore;
  /** Tops the work queue up from the backlogs of the deployment's jobs; a failure is the caller's to log. */
  readonly feed: (deployment: string) => Promise<unknown>;
}
