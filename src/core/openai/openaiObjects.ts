import { toBatchObject } from '../batchObject.js';
import { TERMINAL_STATUSES, type Job } from '../job.js';
import { jobFileId } from './fileIds.js';

const toSeconds = (ms: number | undefined): number | null => (ms === undefined ? null : Math.floor(ms / 1000));

/** The endpoint every batch runs against (the only one this service serves). */
export const CHAT_COMPLETIONS_ENDPOINT = '/v1/chat/completions';

/**
 * The job as OpenAI's Batch object: OpenAI's fields with OpenAI's meaning, then this service's own
 * (usage, cost, estimate, ingest...) as additions. `output_file_id` and `error_file_id` appear once the
 * job is final and the file has lines, as OpenAI does.
 */
export function toOpenAIBatch(job: Job) {
  // The batch shows its priority in its metadata, as it was asked for; the schedule has the jobs API.
  const { priority: _priority, share: _share, eta: _eta, ...base } = toBatchObject(job);
  const final = TERMINAL_STATUSES.has(job.status) && job.output !== undefined;
  const request = job.batchRequest;
  return {
    ...base,
    endpoint: CHAT_COMPLETIONS_ENDPOINT,
    input_file_id: request?.inputFileId ?? jobFileId('input', job.id),
    completion_window: request?.completionWindow ?? '24h',
    expires_at: toSeconds(request?.expiresAtInMs),
    expired_at: toSeconds(job.timestamps.expiredAt),
    output_file_id: final && job.counts.succeeded > 0 ? jobFileId('output', job.id) : null,
    error_file_id: final && job.counts.failed > 0 ? jobFileId('errors', job.id) : null,
    errors: base.errors.data.length === 0 ? null : base.errors,
    metadata: request?.metadata ?? null,
    /** Delivery of the final event to the webhook endpoint (this service's addition). */
    webhook:
      job.webhook === undefined
        ? null
        : {
            event_id: job.webhook.eventId,
            type: job.webhook.type,
            attempts: job.webhook.attempts,
            last_status: job.webhook.lastStatus ?? null,
            last_attempt_at: toSeconds(job.webhook.lastAttemptAtInMs),
            delivered_at: toSeconds(job.webhook.deliveredAtInMs),
            gave_up_at: toSeconds(job.webhook.gaveUpAtInMs),
          },
    usage: {
      ...base.usage,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens_details: { reasoning_tokens: 0 },
    },
  };
}

export type OpenAIBatch = ReturnType<typeof toOpenAIBatch>;

/** OpenAI's File object. Purposes: `batch` for uploads and inputs, `batch_output` for what a batch wrote. */
export interface OpenAIFile {
  readonly id: string;
  readonly object: 'file';
  readonly bytes: number;
  readonly created_at: number;
  readonly filename: string;
  readonly purpose: 'batch' | 'batch_output';
  readonly status: 'processed';
  readonly expires_at: number | null;
  readonly status_details: null;
}

export function toOpenAIFile(file: {
  id: string;
  bytes: number;
  createdAtInMs: number;
  filename: string;
  purpose: OpenAIFile['purpose'];
}): OpenAIFile {
  return {
    id: file.id,
    object: 'file',
    bytes: file.bytes,
    created_at: Math.floor(file.createdAtInMs / 1000),
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed',
    expires_at: null,
    status_details: null,
  };
}
