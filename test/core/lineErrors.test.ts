import { describe, expect, it } from 'vitest';
import {
  endpointErrorCode,
  isRetryableLineError,
  isValidationError,
  LineErrorCode,
} from '../../src/core/lineErrors.js';

describe('line error codes', () => {
  it('keeps the endpoint code of a refused line, or names its status', () => {
    expect(endpointErrorCode(400, 'content_filter')).toBe('content_filter');
    expect(endpointErrorCode(503, undefined)).toBe('http_503');
  });

  it('says which failures a retry of the line can fix', () => {
    const retryable = [
      LineErrorCode.retriesExhausted,
      LineErrorCode.endpointTimeout,
      LineErrorCode.endpointUnreachable,
      LineErrorCode.malformedResponse,
      LineErrorCode.batchHalted,
      LineErrorCode.deploymentRejected,
      LineErrorCode.poisonMessage,
      LineErrorCode.batchCancelled,
      '429',
      'http_502',
    ];
    for (const code of retryable) expect(isRetryableLineError(code), code).toBe(true);
    for (const code of [
      'content_filter',
      'http_400',
      LineErrorCode.invalidJsonLine,
      LineErrorCode.spendingCapReached,
    ]) {
      expect(isRetryableLineError(code), code).toBe(false);
    }
    expect(isValidationError(LineErrorCode.duplicateCustomId)).toBe(true);
    expect(isValidationError(LineErrorCode.endpointTimeout)).toBe(false);
  });
});
