import { Phi3BatchError } from '../src/core/errors.js';

/** Stable codes of the CLI's own errors. */
export const CliErrorCode = {
  fileNotFound: 'file_not_found',
  notAFile: 'not_a_file',
  notJsonl: 'not_jsonl',
  invalidBlobName: 'invalid_blob_name',
  invalidJobId: 'invalid_job_id',
  invalidOption: 'invalid_option',
  blobExists: 'blob_exists',
  containerNotFound: 'container_not_found',
  uploadNotAllowed: 'upload_not_allowed',
  jobNotFound: 'job_not_found',
} as const;
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** The command line asked for something impossible: fixed by changing the command (exit code 2). */
export class CliUsageError extends Phi3BatchError {
  override readonly name = 'CliUsageError';
  constructor(code: CliErrorCode, message: string) {
    super(code, message);
  }
}

/** The command was well formed but could not be carried out (exit code 1). */
export class CliOperationError extends Phi3BatchError {
  override readonly name = 'CliOperationError';
  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
