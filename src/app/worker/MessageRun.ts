import type { Job } from '../../core/job.js';
import type { LineError } from '../../core/lineErrors.js';
import type { RequestMessage } from '../../core/requestMessage.js';
import type { Deployment } from '../deployments.js';
import type { JobSpendMeter } from '../jobSpend.js';
import type { WorkerDeps } from './WorkerDeps.js';

/** Why a job stops sending: set by the first line that learns the deployment refuses us. */
export type Halt = LineError & { readonly atInMs: number };

/** Shared by the lines of one message: once one learns the deployment refuses us, the rest stop. */
export interface HaltGuard {
  halt: Halt | undefined;
}

/** What the lines of one message share while they run. */
export interface MessageRun {
  readonly message: RequestMessage;
  /** The job as read when the message arrived (its completion window, among others). */
  readonly job: Job;
  readonly deployment: Deployment;
  readonly guard: HaltGuard;
  readonly deps: WorkerDeps;
  readonly spend: JobSpendMeter;
}
