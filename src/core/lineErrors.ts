/**
 * Our error codes of a failed line. The validation codes are Azure OpenAI Batch's own, so users'
 * tooling recognises them. A line the endpoint refused keeps the endpoint's own code instead
 * (`content_filter`, `429`...), or `http_<status>` when its answer named none (`endpointErrorCode`).
 */
export const LineErrorCode = {
  invalidJsonLine: 'invalid_json_line',
  invalidUtf8: 'invalid_utf8',
  lineTooLarge: 'line_too_large',
  invalidRequest: 'invalid_request',
  duplicateCustomId: 'duplicate_custom_id',
  urlMismatch: 'url_mismatch',
  methodMismatch: 'method_mismatch',
  modelMismatch: 'model_mismatch',
  tooManyTasks: 'too_many_tasks',
  /** A call that got no answer in time (the attempt's error; a line's last one ends as `retries_exhausted`). */
  endpointTimeout: 'endpoint_timeout',
  /** A call whose connection failed (as above). */
  endpointUnreachable: 'endpoint_unreachable',
  /** A 2xx that was not a chat.completion with usage (as above). */
  malformedResponse: 'malformed_response',
  retriesExhausted: 'retries_exhausted',
  batchCancelled: 'batch_cancelled',
  /** The batch's completion window closed before the line was sent. */
  batchExpired: 'batch_expired',
  poisonMessage: 'poison_message',
  inputChanged: 'input_changed',
  batchHalted: 'batch_halted',
  deploymentRejected: 'deployment_rejected',
  spendingCapReached: 'spending_cap_reached',
  /** A daily or monthly budget (deployment or tag) would be passed by the call: not sent. */
  budgetExceeded: 'budget_exceeded',
  /** Prompt + max_tokens over the model's context window: refused without a call. */
  contextLengthExceeded: 'context_length_exceeded',
  /** Prompt + max_tokens over the deployment's tokens per minute: no window could ever admit it. */
  tokensExceedRateLimit: 'tokens_exceed_rate_limit',
  /** A dropped file's `tag_` metadata is not valid tags: the job fails unread rather than spend unattributed. */
  invalidTags: 'invalid_tags',
  /** A dropped file's `priority` metadata is not a priority: nothing is sent, the job fails saying why. */
  invalidPriority: 'invalid_priority',
  /** A dropped file's `completionwindow` metadata is not a window within the limits: likewise. */
  invalidCompletionWindow: 'invalid_completion_window',
  /** A dropped file's `batchmetadata` is not a JSON object of string pairs within OpenAI's limits: likewise. */
  invalidBatchMetadata: 'invalid_batch_metadata',
} as const;
export type LineErrorCode = (typeof LineErrorCode)[keyof typeof LineErrorCode];

/** `LineErrorCode`, or the endpoint's own code (see `endpointErrorCode`). */
export type LineErrorCodeOrEndpoint = LineErrorCode | (string & {});

export interface LineError {
  readonly code: LineErrorCodeOrEndpoint;
  readonly message: string;
  /** The field that was wrong, when there is one (OpenAI's `param`). */
  readonly param?: string;
}

/** The code of a line the endpoint refused with HTTP `status`: the one its answer named, else `http_<status>`. */
export function endpointErrorCode(status: number, named: string | undefined): string {
  return named ?? `http_${status}`;
}

/** The code Azure's 429 answers name. */
const ENDPOINT_RATE_LIMITED_CODE = '429';

/** Codes of failures that a later attempt could turn into a success (the input itself was fine). */
const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  LineErrorCode.retriesExhausted,
  LineErrorCode.batchCancelled,
  LineErrorCode.batchExpired,
  LineErrorCode.poisonMessage,
  LineErrorCode.batchHalted,
  LineErrorCode.deploymentRejected,
  LineErrorCode.budgetExceeded,
  LineErrorCode.endpointTimeout,
  LineErrorCode.endpointUnreachable,
  LineErrorCode.malformedResponse,
  ENDPOINT_RATE_LIMITED_CODE,
]);

export function isRetryableLineError(code: string): boolean {
  return RETRYABLE_CODES.has(code) || /^http_5\d\d$/.test(code);
}

/** Validation failures: the line itself is wrong, so no retry can help. */
const VALIDATION_CODES: ReadonlySet<string> = new Set([
  LineErrorCode.invalidJsonLine,
  LineErrorCode.invalidUtf8,
  LineErrorCode.lineTooLarge,
  LineErrorCode.invalidRequest,
  LineErrorCode.duplicateCustomId,
  LineErrorCode.urlMismatch,
  LineErrorCode.methodMismatch,
  LineErrorCode.modelMismatch,
  LineErrorCode.tooManyTasks,
  LineErrorCode.contextLengthExceeded,
  LineErrorCode.tokensExceedRateLimit,
]);

export function isValidationError(code: string): boolean {
  return VALIDATION_CODES.has(code);
}
