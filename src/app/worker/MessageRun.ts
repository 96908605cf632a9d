import type { Job } from '../../core/job.js';
import type { LineError } from '../../core/lineErrors.js';
import type { RequestMessage } from '../../core/requestMessage.js';
import type { Deployment } from '../deployments.js';
import type { BudgetMeter } from '../budgetSpend.js';
import type { JobSpendMeter } from '../jobSpend.js';
import type { MessageService } from './MessageServiceTimes.js';
import type { WorkerDeps } from './WorkerDeps.js';

/** Why a job stops sending: set by the first line that learns the deployment refuses us. */
export type Halt = LineError & { readonly atInMs: number };

/** Shared by the lines of one message: once one learns the deployment refuses us, the rest stop. */
export interface HaltGuard {
  halt: Halt | undefined;
}

/**
 * Why the job must not send (more): its own halt, or its deployment's when that was set after the job
 * started or was last retried (a job retried after a halt tries again: its first success lifts it).
 */
export function haltOf(job: Job, deployment: Deployment, guard?: HaltGuard): Halt | undefined {
  const own = guard?.halt ?? job.halt;
  if (own !== undefined) return own;
  const shared = deployment.limiter.halt;
  return shared !== undefined && shared.atInMs >= (job.reopenedAtInMs ?? job.createdAtInMs) ? shared : undefined;
}

/** Before a call: the halt that stops it, kept on the run so that the job is halted once its lines are in. */
export function haltBeforeCall(run: MessageRun): Halt | undefined {
  const halt = haltOf(run.job, run.deployment, run.guard);
  if (halt !== undefined) run.guard.halt ??= halt;
  return halt;
}

/** What the lines of one message share while they run. */
export interface MessageRun {
  readonly message: RequestMessage;
  /** The job as read when the message arrived (its completion window, among others). */
  readonly job: Job;
  readonly deployment: Deployment;
  readonly guard: HaltGuard;
  /** Told when the message's first call leaves (its service time runs from there to its last answer). */
  readonly service?: MessageService | undefined;
  readonly deps: WorkerDeps;
  readonly spend: JobSpendMeter;
  /** The daily and monthly budgets that apply to the job. */
  readonly budgets: BudgetMeter;
}
