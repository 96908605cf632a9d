import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parseHostJson, parseTimeSpan, readHostJson } from '../../dev/local/host/hostJson.js';

describe('parseTimeSpan', () => {
  test.each([
    ['00:00:05', 5_000],
    ['00:10:00', 600_000],
    ['01:00:00', 3_600_000],
    ['00:00:00.200', 200],
    ['00:00:01.5', 1_500],
    ['1.02:00:00', 26 * 3_600_000],
  ])('%s is %i ms', (text, ms) => {
    expect(parseTimeSpan(text, 'k')).toBe(ms);
  });

  test.each([['5'], ['00:60:00'], ['abc'], [''], [5000]])('%j is rejected naming the key', (value) => {
    expect(() => parseTimeSpan(value, 'extensions.queues.visibilityTimeout')).toThrow(
      /extensions\.queues\.visibilityTimeout/,
    );
  });
});

describe('host.json', () => {
  test("the repo's host.json gives the settings the app relies on", async () => {
    const settings = await readHostJson(fileURLToPath(new URL('../../host.json', import.meta.url)));
    expect(settings).toEqual({
      functionTimeoutInMs: 600_000,
      routePrefix: 'api',
      queues: {
        // Up to 32 + 48 messages held per instance: enough to keep a slow endpoint's calls under way (decision 0010).
        batchSize: 32,
        newBatchThreshold: 48,
        maxPollingIntervalInMs: 500,
        visibilityTimeoutInMs: 5_000,
        maxDequeueCount: 5,
        messageEncoding: 'base64',
      },
      blobs: { maxDegreeOfParallelism: 8 },
    });
  });

  test('defaults follow the real host', () => {
    expect(parseHostJson({ version: '2.0' })).toEqual({
      functionTimeoutInMs: undefined,
      routePrefix: 'api',
      queues: {
        batchSize: 16,
        newBatchThreshold: 8,
        maxPollingIntervalInMs: 60_000,
        visibilityTimeoutInMs: 0,
        maxDequeueCount: 5,
        messageEncoding: 'base64',
      },
      blobs: { maxDegreeOfParallelism: 8 },
    });
    // newBatchThreshold defaults to half the batch size.
    expect(parseHostJson({ version: '2.0', extensions: { queues: { batchSize: 5 } } }).queues.newBatchThreshold).toBe(
      2,
    );
    expect(parseHostJson({ version: '2.0', extensions: { http: { routePrefix: '' } } }).routePrefix).toBe('');
  });

  test.each([
    [{ version: '1.0' }, /"version"/],
    [{ version: '2.0', functionTimeout: '10 minutes' }, /functionTimeout/],
    [{ version: '2.0', extensions: { queues: { batchSize: 64 } } }, /extensions\.queues\.batchSize/],
    [{ version: '2.0', extensions: { queues: { messageEncoding: 'utf8' } } }, /messageEncoding/],
    [{ version: '2.0', extensions: { queues: { maxPollingInterval: '00:00:00.050' } } }, /maxPollingInterval/],
    [{ version: '2.0', extensions: { http: { routePrefix: 1 } } }, /routePrefix/],
  ])('rejects %j', (json, message) => {
    expect(() => parseHostJson(json)).toThrow(message);
  });
});
