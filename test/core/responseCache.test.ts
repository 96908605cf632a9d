import { describe, expect, it } from 'vitest';
import {
  cacheChoiceFromMetadata,
  cacheChoiceOf,
  cacheKeyOf,
  canonicalJson,
  isUsableAnswer,
  ResponseCacheMode,
  usesCache,
  type CachedAnswer,
} from '../../src/core/responseCache.js';

const body = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, temperature: 0 };

describe('cache keys', () => {
  it('writes canonical JSON: keys sorted at every level, no whitespace, array order kept', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, u: undefined })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('is the same for the same request however its keys are ordered, and differs for any field', () => {
    const key = cacheKeyOf({ deployment: 'd', model: 'm', body });
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const reordered = { temperature: 0, max_tokens: 10, messages: [{ content: 'hi', role: 'user' }] };
    expect(cacheKeyOf({ deployment: 'd', model: 'm', body: reordered })).toBe(key);
    expect(cacheKeyOf({ deployment: 'e', model: 'm', body })).not.toBe(key);
    expect(cacheKeyOf({ deployment: 'd', model: 'n', body })).not.toBe(key);
    expect(cacheKeyOf({ deployment: 'd', model: 'm', body: { ...body, seed: 1 } })).not.toBe(key);
    expect(cacheKeyOf({ deployment: 'd', model: 'm', body: { ...body, max_tokens: 11 } })).not.toBe(key);
  });
});

describe('which requests use the cache', () => {
  it('takes the job’s choice first, then the mode, then temperature 0', () => {
    const warm = { ...body, temperature: 0.5 };
    const { off, temperatureZero, all } = ResponseCacheMode;
    expect(usesCache(temperatureZero, undefined, body)).toBe(true);
    expect(usesCache(temperatureZero, undefined, warm)).toBe(false);
    expect(usesCache(temperatureZero, undefined, { messages: [] })).toBe(false);
    expect(usesCache(temperatureZero, true, warm)).toBe(true);
    expect(usesCache(temperatureZero, false, body)).toBe(false);
    expect(usesCache(all, undefined, warm)).toBe(true);
    expect(usesCache(all, false, warm)).toBe(false);
    expect(usesCache(off, true, body)).toBe(false);
  });

  it('reads a job’s choice from metadata, ignoring values it cannot read', () => {
    expect(cacheChoiceOf('TRUE')).toBe(true);
    expect(cacheChoiceOf(' off ')).toBe(false);
    expect(cacheChoiceOf('maybe')).toBeUndefined();
    expect(cacheChoiceFromMetadata({ Cache: 'false' }, { cache: 'true' })).toBe(false);
    expect(cacheChoiceFromMetadata({}, { cache: 'true' })).toBe(true);
    expect(cacheChoiceFromMetadata({}, undefined)).toBeUndefined();
  });
});

describe('a stored answer', () => {
  const answer: CachedAnswer = {
    key: 'k',
    deployment: 'd',
    model: 'm',
    completion: { id: 'c', object: 'chat.completion', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } },
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    requestId: 'r',
    costInNanos: 5,
    storedAtInMs: 1_000,
  };

  it('is usable for its own deployment and model, under the maximum age', () => {
    expect(isUsableAnswer(answer, { deployment: 'd', model: 'm' }, 100, 1_099)).toBe(true);
    expect(isUsableAnswer(answer, { deployment: 'd', model: 'm' }, 100, 1_100)).toBe(false);
    expect(isUsableAnswer(answer, { deployment: 'x', model: 'm' }, 100, 1_050)).toBe(false);
    expect(isUsableAnswer(answer, { deployment: 'd', model: 'x' }, 100, 1_050)).toBe(false);
  });
});
