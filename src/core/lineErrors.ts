/** Error codes of a failed line. The validation codes are Azure OpenAI Batch's own, so users' tooling recognises them. */
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
  endpointError: 'endpoint_error',
  retriesExhausted: 'retries_exhausted',
  batchCancelled: 'batch_cancelled',
  /** The batch's completion window closed before the line was sent. */
  batchExpired: 'batch_expired',
  poisonMessage: 'poison_message',
  inputChanged: 'input_changed',
  batchHalted: 'batch_halted',
  deploymentRejected: 'deployment_rejected',
} as const;
export type LineErrorCode = (typeof LineErrorCode)[keyof typeof LineErrorCode];

export interface LineError {
  readonly code: string;
  readonly message: string;
  /** The field that was wrong, when there is one (OpenAI's `param`). */
  readonly param?: string;
}

/** Codes of failures that a later attempt could turn into a success (the input itself was fine). */
const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  LineErrorCode.retriesExhausted,
  LineErrorCode.batchCancelled,
  LineErrorCode.batchExpired,
  LineErrorCode.poisonMessage,
  LineErrorCode.batchHalted,
  LineErrorCode.deploymentRejected,
  'endpoint_timeout',
  'endpoint_unreachable',
  '429',
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
]);

export function isValidationError(code: string): boolean {
  return VALIDATION_CODES.has(code);
}
