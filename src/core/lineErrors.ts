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
  poisonMessage: 'poison_message',
  inputChanged: 'input_changed',
} as const;
export type LineErrorCode = (typeof LineErrorCode)[keyof typeof LineErrorCode];

export interface LineError {
  readonly code: string;
  readonly message: string;
  /** The field that was wrong, when there is one (OpenAI's `param`). */
  readonly param?: string;
}
