import type { LineError } from '../../core/lineErrors.js';
import { LineErrorCode } from '../../core/lineErrors.js';
import { failedLineOutcome, LineStatus, type LineOutcome } from '../../core/lineOutcome.js';

/** The outcome of a line that never reached the endpoint: it failed validation, or its job was cancelled first. */
function unsentOutcome(
  jobId: string,
  line: number,
  customId: string,
  status: typeof LineStatus.failed | typeof LineStatus.cancelled,
  error: LineError,
  nowInMs: number,
): LineOutcome {
  return failedLineOutcome({
    jobId,
    item: { line, id: customId },
    error,
    attempts: 0,
    finishedAtInMs: nowInMs,
    status,
  });
}

export function invalidLineOutcome(
  jobId: string,
  line: { readonly lineNumber: number; readonly customId: string; readonly error: LineError },
  nowInMs: number,
): LineOutcome {
  return unsentOutcome(jobId, line.lineNumber, line.customId, LineStatus.failed, line.error, nowInMs);
}

const CANCELLED_BEFORE_SENT: LineError = {
  code: LineErrorCode.batchCancelled,
  message: 'The batch was cancelled before this line was sent',
};

export function cancelledLineOutcome(jobId: string, line: number, customId: string, nowInMs: number): LineOutcome {
  return unsentOutcome(jobId, line, customId, LineStatus.cancelled, { ...CANCELLED_BEFORE_SENT }, nowInMs);
}
