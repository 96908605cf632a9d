import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CustomIdSet } from '../../src/core/CustomIdSet.js';

describe('CustomIdSet', () => {
  it('behaves like a Set of strings (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 300 }), (ids) => {
        const set = new CustomIdSet(4);
        const reference = new Set<string>();
        for (const id of ids) expect(set.add(id)).toBe(!reference.has(id) && (reference.add(id), true));
        expect(set.size).toBe(reference.size);
        for (const id of ids) expect(set.has(id)).toBe(true);
      }),
    );
  });

  it('survives a round trip through its buffer form, as saved between ingest chunks', () => {
    const set = new CustomIdSet();
    for (let i = 0; i < 5000; i += 1) set.add(`request-${i}`);
    const copy = CustomIdSet.fromBuffer(set.toBuffer());
    expect(copy.size).toBe(5000);
    expect(copy.has('request-4999')).toBe(true);
    expect(copy.has('request-5000')).toBe(false);
    expect(copy.add('request-17')).toBe(false);
  });

  it('tells a million distinct ids apart', () => {
    const set = new CustomIdSet();
    let collisions = 0;
    for (let i = 0; i < 1_000_000; i += 1) if (!set.add(`line-${i}`)) collisions += 1;
    expect(collisions).toBe(0);
  });
});
