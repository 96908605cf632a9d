import type { ChatCompletion } from '../../core/chat.js';
import { ensureError } from '../../core/errors.js';
import { LineStatus, type LineOutcome } from '../../core/lineOutcome.js';
import type { RequestItem } from '../../core/requestMessage.js';
import {
  cacheKeyOf,
  fitsAnswerBound,
  isUsableAnswer,
  usesCache,
  type CachedAnswer,
  type ResponseCachePolicy,
} from '../../core/responseCache.js';
import type { Job } from '../../core/job.js';
import type { Deployment } from '../deployments.js';
import type { Logger } from '../Logger.js';
import type { Clock, ResponseCache } from '../ports.js';
import { startLine } from './LineState.js';
import type { LineBody } from './readLineBodies.js';

/** The response cache as the worker uses it: the store, and which requests go through it. */
export interface ResponseCacheDeps {
  readonly store: ResponseCache;
  readonly policy: ResponseCachePolicy;
}

interface CachedAnswersDeps {
  readonly responseCache?: ResponseCacheDeps | undefined;
  readonly defaultMaxTokens: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** The cache keys of a message's lines that go through the cache, and who answers them. */
export interface MessageCacheKeys {
  readonly deployment: string;
  readonly model: string;
  readonly byLine: ReadonlyMap<number, string>;
}

/**
 * The key of each line that goes through the cache (the job's choice, else the mode and the line's
 * temperature), computed on the body as it would be sent: `max_tokens` filled in when left out.
 */
export function cacheKeysOf(
  job: Job,
  deployment: Pick<Deployment, 'name' | 'model'>,
  items: readonly RequestItem[],
  bodies: ReadonlyMap<number, LineBody>,
  deps: CachedAnswersDeps,
): MessageCacheKeys {
  const byLine = new Map<number, string>();
  const mode = deps.responseCache?.policy.mode;
  if (mode !== undefined) {
    for (const item of items) {
      const body = bodies.get(item.line);
      if (body === undefined || !('messages' in body)) continue;
      const sent = startLine(item, body, deps.defaultMaxTokens).body;
      if (!usesCache(mode, job.cacheChoice, sent)) continue;
      byLine.set(item.line, cacheKeyOf({ deployment: deployment.name, model: deployment.model, body: sent }));
    }
  }
  return { deployment: deployment.name, model: deployment.model, byLine };
}

/**
 * The lines a usable stored answer exists for. One read per key, side by side, before any line takes a
 * call slot or budget. A failed lookup answers nothing: the lines are sent as if the cache were empty.
 */
export async function lookUpAnswers(
  keys: MessageCacheKeys,
  deps: CachedAnswersDeps,
): Promise<Map<number, CachedAnswer>> {
  const cache = deps.responseCache;
  const hits = new Map<number, CachedAnswer>();
  if (cache === undefined || keys.byLine.size === 0) return hits;
  let found: Map<string, CachedAnswer>;
  try {
    found = await cache.store.getMany([...keys.byLine.values()]);
  } catch (error) {
    deps.logger.warn(`Response cache lookup failed (${ensureError(error).message}); the lines are sent`);
    return hits;
  }
  const nowInMs = deps.clock.nowInMs();
  for (const [line, key] of keys.byLine) {
    const answer = found.get(key);
    if (answer !== undefined && isUsableAnswer(answer, keys, cache.policy.maxAgeInMs, nowInMs)) hits.set(line, answer);
  }
  return hits;
}

/**
 * A line answered from the cache: the stored completion as its body, no call, nothing billed (no
 * usage, cost 0, no ledger entry); `cached` says what the stored answer's call cost.
 */
export function cachedOutcome(jobId: string, item: RequestItem, answer: CachedAnswer, nowInMs: number): LineOutcome {
  return {
    jobId,
    line: item.line,
    customId: item.id,
    status: LineStatus.succeeded,
    response: { status_code: 200, request_id: answer.requestId, body: answer.completion },
    error: null,
    usage: null,
    costInNanos: 0,
    attempts: item.prior ?? 0,
    startedAtInMs: null,
    finishedAtInMs: nowInMs,
    latencyInMs: null,
    cached: { savedInNanos: answer.costInNanos, storedAtInMs: answer.storedAtInMs },
  };
}

/**
 * Stores the answers of lines that succeeded with a call, once their outcomes are recorded. A failed
 * or skipped store (an answer over the size bound) never fails a line: the next request is sent again.
 */
export async function storeAnswers(
  keys: MessageCacheKeys,
  outcomes: readonly LineOutcome[],
  deps: CachedAnswersDeps,
): Promise<void> {
  const cache = deps.responseCache;
  if (cache === undefined || keys.byLine.size === 0) return;
  const storedAtInMs = deps.clock.nowInMs();
  const answers = outcomes.flatMap((outcome): CachedAnswer[] => {
    const key = keys.byLine.get(outcome.line);
    const { response, usage } = outcome;
    if (key === undefined || outcome.status !== LineStatus.succeeded || outcome.cached !== undefined) return [];
    if (response === null || usage === null) return [];
    const completion = response.body as ChatCompletion;
    if (!fitsAnswerBound(completion, cache.policy.maxAnswerBytes)) return [];
    const { deployment, model } = keys;
    const { request_id: requestId } = response;
    return [{ key, deployment, model, completion, usage, requestId, costInNanos: outcome.costInNanos, storedAtInMs }];
  });
  await Promise.all(
    answers.map((answer) =>
      cache.store.put(answer).catch((error: unknown) => {
        deps.logger.warn(`Response cache: storing an answer failed (${ensureError(error).message})`);
      }),
    ),
  );
}
