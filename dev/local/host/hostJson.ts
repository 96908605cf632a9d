import { readFile } from 'node:fs/promises';
import { LocalHostError, LocalHostErrorCode } from './errors.js';

export const QueueMessageEncoding = { base64: 'base64', none: 'none' } as const;
export type QueueMessageEncoding = (typeof QueueMessageEncoding)[keyof typeof QueueMessageEncoding];

/** host.json `extensions.queues`, with the real host's defaults. */
export interface QueueHostSettings {
  readonly batchSize: number;
  readonly newBatchThreshold: number;
  readonly maxPollingIntervalInMs: number;
  /** Delay before a failed message is visible again. */
  readonly visibilityTimeoutInMs: number;
  readonly maxDequeueCount: number;
  readonly messageEncoding: QueueMessageEncoding;
}

export interface BlobHostSettings {
  /** Concurrent blob-triggered invocations per function. */
  readonly maxDegreeOfParallelism: number;
}

export interface HostSettings {
  /** undefined: no limit (`functionTimeout` "-1" or absent). */
  readonly functionTimeoutInMs: number | undefined;
  readonly routePrefix: string;
  readonly queues: QueueHostSettings;
  readonly blobs: BlobHostSettings;
}

export const defaultQueueHostSettings: QueueHostSettings = {
  batchSize: 16,
  newBatchThreshold: 8,
  maxPollingIntervalInMs: 60_000,
  visibilityTimeoutInMs: 0,
  maxDequeueCount: 5,
  messageEncoding: QueueMessageEncoding.base64,
};

/** Real default is 8 per core; locally a fixed number keeps behaviour the same on every machine. */
const defaultBlobParallelism = 8;
const maxQueueBatchSize = 32;

/**
 * Parses a .NET TimeSpan as host.json writes it: `hh:mm:ss`, `hh:mm:ss.fff`, `d.hh:mm:ss` (or `d:hh:mm:ss`).
 * `key` names the setting in the error.
 */
export function parseTimeSpan(value: unknown, key: string): number {
  const text = typeof value === 'string' ? value.trim() : undefined;
  const match = text === undefined ? null : /^(?:(\d+)[.:])?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(text);
  if (!match) {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidHostJson,
      `host.json "${key}" must be a TimeSpan such as "00:00:05" (hh:mm:ss), got ${JSON.stringify(value)}.`,
    );
  }
  const [, days = '0', hours = '0', minutes = '0', seconds = '0', fraction = ''] = match;
  if (Number(hours) > 23 || Number(minutes) > 59 || Number(seconds) > 59) {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidHostJson,
      `host.json "${key}" has an out-of-range TimeSpan component: ${JSON.stringify(value)}.`,
    );
  }
  const fractionMs = fraction === '' ? 0 : Math.round(Number(`0.${fraction}`) * 1000);
  return (((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000 + fractionMs;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readSection(parent: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  const value = parent[key];
  if (value === undefined) {
    return {};
  }
  if (!isRecord(value)) {
    throw new LocalHostError(LocalHostErrorCode.InvalidHostJson, `host.json "${path}" must be an object.`);
  }
  return value;
}

function readInteger(
  section: Record<string, unknown>,
  key: string,
  path: string,
  fallback: number,
  range: { min: number; max: number },
): number {
  const value = section[key];
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidHostJson,
      `host.json "${path}" must be an integer from ${range.min} to ${range.max}, got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

function parseQueues(section: Record<string, unknown>): QueueHostSettings {
  const path = 'extensions.queues';
  const batchSize = readInteger(section, 'batchSize', `${path}.batchSize`, defaultQueueHostSettings.batchSize, {
    min: 1,
    max: maxQueueBatchSize,
  });
  const newBatchThreshold = readInteger(
    section,
    'newBatchThreshold',
    `${path}.newBatchThreshold`,
    Math.floor(batchSize / 2),
    { min: 0, max: 1_000 },
  );
  const maxDequeueCount = readInteger(
    section,
    'maxDequeueCount',
    `${path}.maxDequeueCount`,
    defaultQueueHostSettings.maxDequeueCount,
    { min: 1, max: 1_000 },
  );
  const maxPollingIntervalInMs =
    section.maxPollingInterval === undefined
      ? defaultQueueHostSettings.maxPollingIntervalInMs
      : parseTimeSpan(section.maxPollingInterval, `${path}.maxPollingInterval`);
  if (maxPollingIntervalInMs < 100) {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidHostJson,
      `host.json "${path}.maxPollingInterval" must be at least 00:00:00.1, got ${JSON.stringify(section.maxPollingInterval)}.`,
    );
  }
  const visibilityTimeoutInMs =
    section.visibilityTimeout === undefined
      ? defaultQueueHostSettings.visibilityTimeoutInMs
      : parseTimeSpan(section.visibilityTimeout, `${path}.visibilityTimeout`);
  const encoding = section.messageEncoding;
  let messageEncoding: QueueMessageEncoding = defaultQueueHostSettings.messageEncoding;
  if (encoding !== undefined) {
    const normalized = typeof encoding === 'string' ? encoding.toLowerCase() : undefined;
    if (normalized !== QueueMessageEncoding.base64 && normalized !== QueueMessageEncoding.none) {
      throw new LocalHostError(
        LocalHostErrorCode.InvalidHostJson,
        `host.json "${path}.messageEncoding" must be "base64" or "none", got ${JSON.stringify(encoding)}.`,
      );
    }
    messageEncoding = normalized;
  }
  return {
    batchSize,
    newBatchThreshold,
    maxPollingIntervalInMs,
    visibilityTimeoutInMs,
    maxDequeueCount,
    messageEncoding,
  };
}

/** Validates a parsed host.json and returns the settings the local host honours. */
export function parseHostJson(json: unknown): HostSettings {
  if (!isRecord(json)) {
    throw new LocalHostError(LocalHostErrorCode.InvalidHostJson, 'host.json must contain a JSON object.');
  }
  if (json.version !== '2.0') {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidHostJson,
      `host.json "version" must be "2.0", got ${JSON.stringify(json.version)}.`,
    );
  }
  const timeout = json.functionTimeout;
  const functionTimeoutInMs =
    timeout === undefined || timeout === null || timeout === '-1'
      ? undefined
      : parseTimeSpan(timeout, 'functionTimeout');
  const extensions = readSection(json, 'extensions', 'extensions');
  const http = readSection(extensions, 'http', 'extensions.http');
  const routePrefixValue = http.routePrefix ?? 'api';
  if (typeof routePrefixValue !== 'string') {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidHostJson,
      `host.json "extensions.http.routePrefix" must be a string, got ${JSON.stringify(routePrefixValue)}.`,
    );
  }
  const blobs = readSection(extensions, 'blobs', 'extensions.blobs');
  return {
    functionTimeoutInMs,
    routePrefix: routePrefixValue.replace(/^\/+|\/+$/g, ''),
    queues: parseQueues(readSection(extensions, 'queues', 'extensions.queues')),
    blobs: {
      maxDegreeOfParallelism: readInteger(
        blobs,
        'maxDegreeOfParallelism',
        'extensions.blobs.maxDegreeOfParallelism',
        defaultBlobParallelism,
        { min: 1, max: 1_000 },
      ),
    },
  };
}

export async function readHostJson(path: string): Promise<HostSettings> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new LocalHostError(LocalHostErrorCode.InvalidHostJson, `Cannot read host.json at ${path}.`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new LocalHostError(LocalHostErrorCode.InvalidHostJson, `host.json at ${path} is not valid JSON.`, {
      cause: error,
    });
  }
  return parseHostJson(json);
}
