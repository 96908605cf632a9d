import { createHash } from 'node:crypto';
import type { ChatCompletion, ChatCompletionBody, TokenUsage } from './chat.js';

/** Which requests the response cache serves, absent a job's own choice (`RESPONSE_CACHE`). */
export const ResponseCacheMode = {
  /** Never read nor written, whatever a job asks. */
  off: 'off',
  /** Requests with `temperature: 0`; a job with `cache=true` has all its requests cached. */
  temperatureZero: 'temperature-zero',
  /** Every request of every job that does not say `cache=false`. */
  all: 'all',
} as const;
export type ResponseCacheMode = (typeof ResponseCacheMode)[keyof typeof ResponseCacheMode];

/** The metadata key (blob metadata, a batch's `metadata`) a job opts in or out with: `true` or `false`. */
export const CACHE_METADATA = 'cache';

export interface ResponseCachePolicy {
  readonly mode: ResponseCacheMode;
  readonly maxAgeInMs: number;
  /** Completions larger than this (as JSON, in UTF-8 bytes) are not stored. */
  readonly maxAnswerBytes: number;
}

/** A stored answer: the completion exactly as the endpoint sent it, and what it cost then. */
export interface CachedAnswer {
  /** The cache key (see {@link cacheKeyOf}). */
  readonly key: string;
  readonly deployment: string;
  readonly model: string;
  readonly completion: ChatCompletion;
  readonly usage: TokenUsage;
  /** The endpoint's request id of the call that produced it. */
  readonly requestId: string;
  /** What the call cost when it was made: what each hit saves. */
  readonly costInNanos: number;
  readonly storedAtInMs: number;
}

/**
 * A job's choice from its metadata value: `true`/`false` (any case, `1`/`0`, `yes`/`no`, `on`/`off`);
 * anything else is no choice, so that a typo never stops a file from running.
 */
export function cacheChoiceOf(value: string | undefined): boolean | undefined {
  const text = value?.trim().toLowerCase();
  if (text === 'true' || text === '1' || text === 'yes' || text === 'on') return true;
  if (text === 'false' || text === '0' || text === 'no' || text === 'off') return false;
  return undefined;
}

/** The job's choice from blob metadata (`cache`, any case) or, failing that, its batch metadata. */
export function cacheChoiceFromMetadata(
  blobMetadata: Readonly<Record<string, string>>,
  batchMetadata: Readonly<Record<string, string>> | undefined,
): boolean | undefined {
  const key = Object.keys(blobMetadata).find((k) => k.toLowerCase() === CACHE_METADATA);
  return (
    cacheChoiceOf(key === undefined ? undefined : blobMetadata[key]) ?? cacheChoiceOf(batchMetadata?.[CACHE_METADATA])
  );
}

/** Whether a request of a job goes through the cache: the job's own choice wins, then the mode. */
export function usesCache(mode: ResponseCacheMode, jobChoice: boolean | undefined, body: ChatCompletionBody): boolean {
  if (mode === ResponseCacheMode.off || jobChoice === false) return false;
  if (jobChoice === true || mode === ResponseCacheMode.all) return true;
  return body['temperature'] === 0;
}

/**
 * The cache key of a request: the SHA-256 (hex) of the canonical JSON of `{v, deployment, model, body}`,
 * where `body` is the whole request body as sent to the endpoint (`max_tokens` filled in when the line
 * left it out). Every field of the body is in it, since any of them may change the answer.
 */
export function cacheKeyOf(request: { deployment: string; model: string; body: ChatCompletionBody }): string {
  const canonical = canonicalJson({ v: 1, deployment: request.deployment, model: request.model, body: request.body });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/** JSON with object keys sorted at every level and no whitespace; `undefined` members left out as JSON does. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(item).sort()) sorted[key] = (item as Record<string, unknown>)[key];
    return sorted;
  });
}

/** A stored answer still good for `deployment` and `model` at `nowInMs` (TTL is not relied on). */
export function isUsableAnswer(
  answer: CachedAnswer,
  expected: { deployment: string; model: string },
  maxAgeInMs: number,
  nowInMs: number,
): boolean {
  return (
    answer.deployment === expected.deployment &&
    answer.model === expected.model &&
    nowInMs - answer.storedAtInMs < maxAgeInMs &&
    answer.storedAtInMs <= nowInMs + MAX_CLOCK_SKEW_IN_MS
  );
}

/** How far ahead of this instance's clock another instance's write may be stamped and still be used. */
const MAX_CLOCK_SKEW_IN_MS = 5 * 60_000;

/** Whether a completion fits the size bound (its JSON in UTF-8). */
export function fitsAnswerBound(completion: ChatCompletion, maxAnswerBytes: number): boolean {
  return Buffer.byteLength(JSON.stringify(completion), 'utf8') <= maxAnswerBytes;
}
