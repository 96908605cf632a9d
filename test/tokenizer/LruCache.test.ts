import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruCache } from '../../src/adapters/tokenizer/LruCache.js';

describe('LruCache', () => {
  it('evicts the least recently used entry once full', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // "b" is now the oldest
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
  });

  it('overwrites without growing', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('a', 2);
    expect(cache.size).toBe(1);
    expect(cache.get('a')).toBe(2);
  });

  it('behaves as a list ordered by last use, whatever the sequence of reads and writes', () => {
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 6 }), value: fc.integer() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(operation, { maxLength: 60 }), (maxEntries, operations) => {
        const cache = new LruCache<number, number>(maxEntries);
        // The model: most recently used last.
        let model: Array<[number, number]> = [];
        for (const op of operations) {
          const found = model.find(([key]) => key === op.key);
          if (op.kind === 'get') {
            expect(cache.get(op.key)).toBe(found?.[1]);
            if (found !== undefined) model = [...model.filter(([key]) => key !== op.key), found];
          } else {
            cache.set(op.key, op.value);
            model = [...model.filter(([key]) => key !== op.key), [op.key, op.value] as [number, number]].slice(
              -maxEntries,
            );
          }
          expect(cache.size).toBe(model.length);
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });

  it('rejects a size below one', () => {
    expect(() => new LruCache(0)).toThrow(/maxEntries/);
  });
});
