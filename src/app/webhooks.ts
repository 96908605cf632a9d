import { batchEventFor, signWebhook, type BatchEvent } from '../core/openai/standardWebhooks.js';
import type { WebhookRecord } from '../core/openai/webhookRecord.js';
import { TERMINAL_STATUSES, type Job } from '../core/job.js';
import { webhookMessage } from '../core/controlMessage.js';
import type { Logger } from './Logger.js';
import type { Clock, JobStore, MessageQueue } from './ports.js';
import { updateJob } from './updateJob.js';

/** One HTTP POST of a webhook; a network failure or timeout is an answer too (status 0). */
export interface WebhookSender {
  post(
    url: string,
    body: string,
    headers: Readonly<Record<string, string>>,
  ): Promise<{ readonly status: number; readonly error?: string }>;
}

export interface WebhookTarget {
  readonly url: string;
  /** `whsec_...`, from Key Vault in Azure. */
  readonly secret: string;
  /** Waits before each retry; when they run out the event is given up. */
  readonly retryDelaysInMs: readonly number[];
}

export interface WebhookDeps {
  readonly jobs: JobStore;
  readonly controlQueue: MessageQueue;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sender: WebhookSender;
  /** Undefined: no webhooks configured. */
  readonly target: WebhookTarget | undefined;
}

/**
 * Queues the delivery of the job's final event, once the job is final. Safe to call again (a re-run of
 * finalisation): a delivery already done or under way is not queued twice, and the event's id is stable,
 * so a receiver that gets it twice can tell.
 */
export async function queueFinalEvent(job: Job, deps: Pick<WebhookDeps, 'controlQueue' | 'target'>): Promise<void> {
  if (deps.target === undefined || !TERMINAL_STATUSES.has(job.status)) return;
  const event = batchEventFor(job);
  const record = job.webhook;
  if (event === undefined || (record !== undefined && record.eventId === event.id && record.attempts > 0)) return;
  await deps.controlQueue.send([webhookMessage(job.id, event.id, 1)]);
}

export interface WebhookAttempt {
  readonly jobId: string;
  readonly eventId: string;
  /** From 1. */
  readonly attempt: number;
}

/** What the receiver answered one attempt. */
type WebhookAnswer = Awaited<ReturnType<WebhookSender['post']>>;

/**
 * One delivery attempt. A 2xx ends it; anything else is recorded on the job and tried again after the
 * next delay of the schedule (a delayed control message), until the schedule runs out.
 */
export async function deliverWebhook(
  message: WebhookAttempt,
  deps: WebhookDeps,
): Promise<'delivered' | 'retrying' | 'gave-up' | 'skipped'> {
  const target = deps.target;
  const event = target === undefined ? undefined : await eventStillToDeliver(message, deps);
  if (target === undefined || event === undefined) return 'skipped';

  const now = deps.clock.nowInMs();
  const body = JSON.stringify(event);
  const answer = await deps.sender.post(
    target.url,
    body,
    signWebhook(target.secret, event.id, Math.floor(now / 1000), body),
  );
  const delivered = answer.status >= 200 && answer.status < 300;
  const delay = target.retryDelaysInMs[message.attempt - 1];
  const gaveUp = !delivered && delay === undefined;
  await updateJob(deps.jobs, message.jobId, (job) => ({
    ...job,
    webhook: attemptRecord(event, message.attempt, answer, { nowInMs: now, delivered, gaveUp }),
  }));
  if (delivered) return 'delivered';
  if (gaveUp) {
    deps.logger.error(
      `Webhook ${event.type} for job ${message.jobId} given up after ${message.attempt} attempt(s); last status ${answer.status}`,
    );
    return 'gave-up';
  }
  await deps.controlQueue.send([webhookMessage(message.jobId, event.id, message.attempt + 1)], {
    visibilityDelayInMs: delay,
  });
  return 'retrying';
}

/**
 * The job's final event, unless this attempt has nothing to do: the job is gone or not final, its event
 * changed, or the event was delivered or this attempt already made (a message delivered twice).
 */
async function eventStillToDeliver(message: WebhookAttempt, deps: WebhookDeps): Promise<BatchEvent | undefined> {
  const stored = await deps.jobs.getJob(message.jobId);
  const event = stored === undefined ? undefined : batchEventFor(stored.job);
  if (stored === undefined || event === undefined || event.id !== message.eventId) return undefined;
  const previous = stored.job.webhook;
  const done =
    previous?.eventId === event.id && (previous.deliveredAtInMs !== undefined || previous.attempts >= message.attempt);
  return done ? undefined : event;
}

function attemptRecord(
  event: BatchEvent,
  attempt: number,
  answer: WebhookAnswer,
  outcome: { readonly nowInMs: number; readonly delivered: boolean; readonly gaveUp: boolean },
): WebhookRecord {
  return {
    eventId: event.id,
    type: event.type,
    attempts: attempt,
    lastStatus: answer.status,
    lastError: answer.error,
    lastAttemptAtInMs: outcome.nowInMs,
    deliveredAtInMs: outcome.delivered ? outcome.nowInMs : undefined,
    gaveUpAtInMs: outcome.gaveUp ? outcome.nowInMs : undefined,
  };
}
