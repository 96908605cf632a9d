import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ResponseCache } from '../../src/app/ports.js';
import { cacheKeyOf, type CachedAnswer } from '../../src/core/responseCache.js';

export function cachedAnswer(fields: Partial<CachedAnswer> = {}): CachedAnswer {
  const body = { messages: [{ role: 'user', content: randomUUID() }], max_tokens: 10, temperature: 0 };
  return {
    key: cacheKeyOf({ deployment: 'd', model: 'm', body }),
    deployment: 'd',
    model: 'm',
    completion: {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    },
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    requestId: 'req-1',
    costInNanos: 1_234,
    storedAtInMs: Date.UTC(2026, 10, 27),
    ...fields,
  };
}

/** What every ResponseCache must do, run against each adapter. */
export function describeResponseCacheConformance(name: string, getStore: () => ResponseCache): void {
  describe(`ResponseCache conformance: ${name}`, () => {
    it('answers the stored keys of those asked for, exactly as stored, and leaves the others out', async () => {
      const store = getStore();
      const [a, b] = [cachedAnswer(), cachedAnswer()];
      await Promise.all([store.put(a), store.put(b)]);
      const missing = cachedAnswer().key;
      const found = await store.getMany([a.key, missing, b.key, a.key]);
      expect([...found.keys()].sort()).toEqual([a.key, b.key].sort());
      expect(found.get(a.key)).toEqual(a);
      expect(found.get(b.key)).toEqual(b);
      expect((await store.getMany([])).size).toBe(0);
    });

    it('replaces an answer stored under the same key', async () => {
      const store = getStore();
      const first = cachedAnswer();
      await store.put(first);
      const newer = { ...first, requestId: 'req-2', storedAtInMs: first.storedAtInMs + 1 };
      await store.put(newer);
      expect((await store.getMany([first.key])).get(first.key)).toEqual(newer);
    });
  });
}
