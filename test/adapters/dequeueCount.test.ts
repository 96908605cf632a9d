import { describe, expect, it } from 'vitest';
import { readDequeueCount } from '../../src/adapters/functions/dequeueCount.js';

/** The shape of a protobufjs Long, as a worker may hand over an int64. */
function long(value: number): { low: number; high: number; unsigned: boolean; toNumber(): number } {
  return { low: (value % 2 ** 32) | 0, high: Math.floor(value / 2 ** 32), unsigned: false, toNumber: () => value };
}

describe('readDequeueCount', () => {
  it('reads a number, a numeric string, a bigint and a Long (with or without toNumber)', () => {
    expect(readDequeueCount({ dequeueCount: 1 })).toBe(1);
    expect(readDequeueCount({ dequeueCount: '3' })).toBe(3);
    expect(readDequeueCount({ dequeueCount: 4n })).toBe(4);
    expect(readDequeueCount({ dequeueCount: long(2) })).toBe(2);
    expect(readDequeueCount({ dequeueCount: { low: 5, high: 0 } })).toBe(5);
    expect(readDequeueCount({ dequeueCount: { low: 1, high: 1 } })).toBe(2 ** 32 + 1);
    expect(readDequeueCount({ dequeueCount: { low: -1, high: 0 } })).toBe(2 ** 32 - 1);
  });

  it('reads anything else as unknown rather than guessing', () => {
    for (const value of [
      undefined,
      null,
      '',
      'two',
      '1.5',
      '-1',
      1.5,
      -1,
      Number.NaN,
      {},
      { low: '1', high: 0 },
      [1],
      true,
    ]) {
      expect(readDequeueCount({ dequeueCount: value }), String(value)).toBeUndefined();
    }
    expect(readDequeueCount(undefined)).toBeUndefined();
    expect(readDequeueCount({})).toBeUndefined();
  });
});
