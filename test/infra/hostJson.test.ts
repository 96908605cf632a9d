import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHostJson } from '../../dev/local/host/hostJson.js';
import { repoRoot } from './infraModel.js';

interface RawHostJson {
  readonly extensionBundle?: { readonly id?: string; readonly version?: string };
  readonly extensions?: {
    readonly queues?: Record<string, unknown>;
    readonly http?: { readonly routePrefix?: unknown };
  };
}

const raw = JSON.parse(readFileSync(join(repoRoot, 'host.json'), 'utf8')) as RawHostJson;
const parsed = parseHostJson(raw);
const queues = raw.extensions?.queues ?? {};

/** `hh:mm:ss[.fff]` in milliseconds, computed here independently of the local host's parser. */
function timeSpanInMs(value: unknown): number {
  const match = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(String(value));
  if (!match) throw new Error(`Not an hh:mm:ss TimeSpan: ${String(value)}`);
  const [, h, m, s, ms = '0'] = match;
  return ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000 + Number(ms.padEnd(3, '0'));
}

/** The queue settings the local host enforces (dev/local/host/hostJson.ts), as host.json names them. */
const ENFORCED_QUEUE_SETTINGS = [
  'batchSize',
  'newBatchThreshold',
  'maxDequeueCount',
  'visibilityTimeout',
  'maxPollingInterval',
  'messageEncoding',
];

describe('host.json: what Azure runs is what the local host enforces', () => {
  it('states every queue setting the local host enforces, and only those', () => {
    expect(Object.keys(queues).sort()).toEqual([...ENFORCED_QUEUE_SETTINGS].sort());
  });

  it('parses to the same queue values the file states', () => {
    expect(parsed.queues.batchSize).toBe(queues['batchSize']);
    expect(parsed.queues.newBatchThreshold).toBe(queues['newBatchThreshold']);
    expect(parsed.queues.maxDequeueCount).toBe(queues['maxDequeueCount']);
    expect(parsed.queues.visibilityTimeoutInMs).toBe(timeSpanInMs(queues['visibilityTimeout']));
    expect(parsed.queues.maxPollingIntervalInMs).toBe(timeSpanInMs(queues['maxPollingInterval']));
    expect(parsed.queues.messageEncoding).toBe(String(queues['messageEncoding']).toLowerCase());
  });

  it('uses the api route prefix the HTTP functions are documented under', () => {
    expect(raw.extensions?.http?.routePrefix).toBe('api');
    expect(parsed.routePrefix).toBe('api');
  });

  it('uses extension bundle 4 (Event Grid blob trigger with SDK-type bindings)', () => {
    expect(raw.extensionBundle?.id).toBe('Microsoft.Azure.Functions.ExtensionBundle');
    expect(raw.extensionBundle?.version).toMatch(/^\[4\.[^,]*,\s*5\.0\.0\)$/);
  });
});
