import { batchEventFor, signWebhook } from '../core/openai/standardWebhooks.js';
import { TERMINAL_STATUSES, type Job } from '../core/job.js';
import type { ControlMessage } from '../core/controlMessage.js';
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
  const message: ControlMessage = { v: 1, kind: 'webhook', jobId: job.id, eventId: event.id, attempt: 1 };
  await deps.controlQueue.send([message]);
}

/**
 * One delivery attempt. A 2xx ends it; anything else is recorded on the job and tried again after the
 * next delay of the schedule (a delayed control message), until the schedule runs out.
 */
export async function deliverWebhook(
  message: { jobId: string; eventId: string; attempt: number },
  deps: WebhookDeps,
): Promise<'delivered' | 'retrying' | 'gave-up' | 'skipped'> {
  const target = deps.target;
  const stored = await deps.jobs.getJob(message.jobId);
  const event = stored === undefined ? undefined : batchEventFor(stored.job);
  if (target === undefined || stored === undefined || event === undefined || event.id !== message.eventId)
    return 'skipped';
  const previous = stored.job.webhook;
  if (
    previous?.eventId === event.id &&
    (previous.deliveredAtInMs !== undefined || previous.attempts >= message.attempt)
  )
    return 'skipped';

  const body = JSON.stringify(event);
  const now = deps.clock.nowInMs();
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
    webhook: {
      eventId: event.id,
      type: event.type,
      attempts: message.attempt,
      lastStatus: answer.status,
      lastError: answer.error,
      lastAttemptAtInMs: now,
      deliveredAtInMs: delivered ? now : undefined,
      gaveUpAtInMs: gaveUp ? now : undefined,
    },
  }));
  if (delivered) return 'delivered';
  if (gaveUp) {
    deps.logger.error(
      `Webhook ${event.type} for job ${message.jobId} given up after ${message.attempt} attempt(s); last status ${answer.status}`,
    );
    return 'gave-up';
  }
  const next: ControlMessage = {
    v: 1,
    kind: 'webhook',
    jobId: message.jobId,
    eventId: event.id,
    attempt: message.attempt + 1,
  };
  await deps.controlQueue.send([next], { visibilityDelayInMs: delay });
  return 'retrying';
}
