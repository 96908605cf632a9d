import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { coalescedRangeReads, type RangeRequest } from '../../src/app/coalescedRangeReads.js';

const BLOB = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) % 251));

/** A store holding BLOB as version "v1" of every name; records each read it serves. */
function recordingStore() {
  const reads: Array<{ container: string; name: string } & RangeRequest> = [];
  const read = async (container: string, name: string, range: RangeRequest): Promise<Buffer> => {
    reads.push({ container, name, ...range });
    if (range.etag !== 'v1') throw Object.assign(new Error('changed'), { code: 'input_changed' });
    return Buffer.from(BLOB.subarray(range.offset, range.offset + range.length));
  };
  return { reads, read };
}

describe('coalescedRangeReads', () => {
  it('answers every request with exactly its bytes, in fewer reads, whatever the ranges (property)', async () => {
    const rangeArb = fc
      .integer({ min: 0, max: BLOB.length - 1 })
      .chain((offset) =>
        fc.integer({ min: 0, max: Math.min(300, BLOB.length - offset) }).map((length) => ({ offset, length })),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.array(rangeArb, { minLength: 1, maxLength: 24 }),
        fc.integer({ min: 0, max: 512 }),
        fc.integer({ min: 1, max: 2048 }),
        async (ranges, maxGapBytes, maxSpanBytes) => {
          const store = recordingStore();
          const read = coalescedRangeReads(store.read, { maxGapBytes, maxSpanBytes });
          const answers = await Promise.all(ranges.map((r) => read('c', 'n', { etag: 'v1', ...r })));
          answers.forEach((bytes, i) =>
            expect(bytes.equals(BLOB.subarray(ranges[i]!.offset, ranges[i]!.offset + ranges[i]!.length))).toBe(true),
          );
          expect(store.reads.length).toBeLessThanOrEqual(ranges.length);
          // No read is longer than the span allows, unless it serves one request that is longer itself.
          for (const r of store.reads)
            expect(r.length <= maxSpanBytes || ranges.some((q) => q.offset === r.offset && q.length === r.length)).toBe(
              true,
            );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads neighbouring ranges asked for in one turn as one', async () => {
    const store = recordingStore();
    const read = coalescedRangeReads(store.read, { maxGapBytes: 2, maxSpanBytes: 1024 });
    const answers = await Promise.all([
      read('c', 'n', { etag: 'v1', offset: 100, length: 50 }),
      read('c', 'n', { etag: 'v1', offset: 0, length: 98 }),
      read('c', 'n', { etag: 'v1', offset: 152, length: 8 }),
    ]);
    expect(store.reads).toEqual([{ container: 'c', name: 'n', etag: 'v1', offset: 0, length: 160 }]);
    expect(answers.map((a) => a.length)).toEqual([50, 98, 8]);
  });

  it('keeps apart what is too far apart, too long together, of another blob or another version, or asked for later', async () => {
    const store = recordingStore();
    const read = coalescedRangeReads(store.read, { maxGapBytes: 10, maxSpanBytes: 100 });
    await Promise.all([
      read('c', 'n', { etag: 'v1', offset: 0, length: 10 }),
      read('c', 'n', { etag: 'v1', offset: 21, length: 10 }), // 11 bytes after the first: too far
      read('c', 'n', { etag: 'v1', offset: 31, length: 80 }), // joins the second: 90 bytes from 21
      read('c', 'n', { etag: 'v1', offset: 115, length: 10 }), // near enough, but 104 bytes from 21: too long together
      read('c', 'other', { etag: 'v1', offset: 0, length: 10 }),
    ]);
    await read('c', 'n', { etag: 'v1', offset: 10, length: 5 });
    expect(store.reads.map((r) => `${r.name}@${r.offset}+${r.length}`)).toEqual([
      'n@0+10',
      'n@21+90',
      'n@115+10',
      'other@0+10',
      'n@10+5',
    ]);

    const versions = recordingStore();
    const readVersions = coalescedRangeReads(versions.read, { maxGapBytes: 10, maxSpanBytes: 100 });
    const [current, stale] = await Promise.allSettled([
      readVersions('c', 'n', { etag: 'v1', offset: 0, length: 10 }),
      readVersions('c', 'n', { etag: 'v0', offset: 10, length: 10 }),
    ]);
    expect(versions.reads.map((r) => r.etag)).toEqual(['v1', 'v0']);
    expect(current.status).toBe('fulfilled');
    expect(stale).toMatchObject({ status: 'rejected', reason: { code: 'input_changed' } });
  });

  it('fails every request a failed read covered, and only those', async () => {
    let calls = 0;
    const read = coalescedRangeReads(
      async (_container, _name, range) => {
        calls += 1;
        if (range.offset === 0) throw new Error('storage unavailable');
        return Buffer.alloc(range.length);
      },
      { maxGapBytes: 0, maxSpanBytes: 1024 },
    );
    const results = await Promise.allSettled([
      read('c', 'n', { etag: 'v1', offset: 0, length: 5 }),
      read('c', 'n', { etag: 'v1', offset: 5, length: 5 }),
      read('c', 'n', { etag: 'v1', offset: 20, length: 5 }),
    ]);
    expect(calls).toBe(2);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
  });

  it('fails the requests of a read that throws before it returns a promise', async () => {
    const read = coalescedRangeReads(
      (_container, _name, range) => {
        if (range.offset === 0) throw new Error('bad range');
        return Promise.resolve(Buffer.alloc(range.length));
      },
      { maxGapBytes: 0, maxSpanBytes: 1024 },
    );
    const results = await Promise.allSettled([
      read('c', 'n', { etag: 'v1', offset: 0, length: 5 }),
      read('c', 'n', { etag: 'v1', offset: 20, length: 5 }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
  });
});
