import { createHmac } from 'node:crypto';
import type { Job } from '../job.js';

/** The event types OpenAI sends when a batch ends. */
export const BATCH_EVENT_TYPES = {
  completed: 'batch.completed',
  failed: 'batch.failed',
  cancelled: 'batch.cancelled',
  expired: 'batch.expired',
} as const;
export type BatchEventType = (typeof BATCH_EVENT_TYPES)[keyof typeof BATCH_EVENT_TYPES];

/** OpenAI's webhook event: `{id, object: "event", created_at, type, data: {id}}`. */
export interface BatchEvent {
  readonly id: string;
  readonly object: 'event';
  readonly created_at: number;
  readonly type: BatchEventType;
  readonly data: { readonly id: string };
}

/** The event for a job in a final status; the same job gives the same event (and webhook-id) every time. */
export function batchEventFor(job: Job): BatchEvent | undefined {
  const type = (BATCH_EVENT_TYPES as Record<string, BatchEventType | undefined>)[job.status];
  if (type === undefined) return undefined;
  const t = job.timestamps;
  const endedAt = t.completedAt ?? t.failedAt ?? t.cancelledAt ?? t.expiredAt ?? job.createdAtInMs;
  return {
    id: `evt_${job.id.slice('job_'.length)}_${job.retries ?? 0}`,
    object: 'event',
    created_at: Math.floor(endedAt / 1000),
    type,
    data: { id: job.id },
  };
}

const SECRET_PREFIX = 'whsec_';

/** A signing secret as Standard Webhooks writes it: `whsec_` and base64 key bytes. */
export function isWebhookSecret(value: string): boolean {
  return value.startsWith(SECRET_PREFIX) && Buffer.from(value.slice(SECRET_PREFIX.length), 'base64').length >= 16;
}

/**
 * Standard Webhooks headers for `body`: `webhook-signature` is `v1,` and the base64 HMAC-SHA256, keyed by
 * the secret's bytes, of `${id}.${timestamp}.${body}`.
 */
export function signWebhook(
  secret: string,
  id: string,
  timestampInSeconds: number,
  body: string,
): Record<string, string> {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestampInSeconds}.${body}`).digest('base64');
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestampInSeconds),
    'webhook-signature': `v1,${signature}`,
  };
}

/** Standard Webhooks' retry schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 28 h in all). */
export const DEFAULT_WEBHOOK_RETRY_DELAYS_IN_MS: readonly number[] = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
];
