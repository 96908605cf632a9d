import { describe, expect, it } from 'vitest';
import type { IngestDeps } from '../../src/app/ingestBlob.js';
import { CustomIdSet } from '../../src/core/CustomIdSet.js';
import type { RequestMessage } from '../../src/core/requestMessage.js';
import { createWorld } from '../app/fixtures.js';
import { ingestAll, jobIdOf } from './hostileFiles.js';

/*
 * The duplicate check keeps custom_ids as 64-bit hashes in an open-addressing table. The hash is
 * public and each of its steps can be undone, so a file can be written whose ids all share the low
 * bits of one half of their hashes: placed by those bits alone, every id would land in one probe
 * run, and each add would walk all the ids before it (200,000 such ids: minutes; a million: hours,
 * in every ingest chunk, forever). These ids are built the way an attacker would build them.
 */

const MULTIPLIER = 0x5bd1e995;
/** Low bits shared by every crafted id: more than a million-slot table's mask. */
const TARGET_BITS = 21;
const TARGET = 0x0a5a5 & ((1 << TARGET_BITS) - 1);

/** The second half of CustomIdSet's hash (its "lo" word), as written in src/core/CustomIdSet.ts. */
function lowHalf(text: string): number {
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i += 1) {
    b = Math.imul(b ^ text.charCodeAt(i), MULTIPLIER);
    b ^= b >>> 15;
  }
  return b >>> 0;
}

const mix = (x: number): number => (x ^ (x >>> 15)) >>> 0;
/** Inverse of `x ^= x >>> 15` on 32 bits. */
const unmix = (y: number): number => {
  let x = y;
  for (let i = 0; i < 3; i += 1) x = (y ^ (x >>> 15)) >>> 0;
  return x;
};
/** Inverse of an odd number modulo 2^32 (Newton's iteration). */
const inverse = (a: number): number => {
  let x = a;
  for (let i = 0; i < 5; i += 1) x = Math.imul(x, 2 - Math.imul(a, x));
  return x >>> 0;
};

/**
 * Ids `p<k>-` + two characters whose hash ends in TARGET: for each prefix, a meet-in-the-middle over
 * the first character finds the second (about 2,000 ids per prefix, in microseconds each).
 */
function collidingIds(count: number): string[] {
  const multiplierInverse = inverse(MULTIPLIER);
  // Every state before the last character that can be brought to TARGET, keyed by its high 16 bits.
  const beforeLast = new Map<number, number>();
  for (let high = 0; high < 1 << (32 - TARGET_BITS); high += 1) {
    const state = Math.imul(unmix(((high << TARGET_BITS) | TARGET) >>> 0), multiplierInverse) >>> 0;
    beforeLast.set(state >>> 16, state);
  }
  const ids: string[] = [];
  for (let prefixNumber = 0; ids.length < count; prefixNumber += 1) {
    const prefix = `p${prefixNumber}-`;
    let state = 0x01000193 ^ (prefix.length + 2);
    for (let i = 0; i < prefix.length; i += 1) state = mix(Math.imul(state ^ prefix.charCodeAt(i), MULTIPLIER) >>> 0);
    for (let first = 0x20; first < 0xd800 && ids.length < count; first += 1) {
      const afterFirst = mix(Math.imul(state ^ first, MULTIPLIER) >>> 0);
      const wanted = beforeLast.get(afterFirst >>> 16);
      if (wanted === undefined) continue;
      const second = (afterFirst ^ wanted) & 0xffff;
      if (second < 0x20 || (second >= 0xd800 && second < 0xe000)) continue;
      ids.push(prefix + String.fromCharCode(first, second));
    }
  }
  return ids;
}

describe('custom_ids crafted to collide in the duplicate check', () => {
  const ids = collidingIds(200_000);

  it('are what an attacker would send: distinct, with one shared low hash', () => {
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 5_000)) expect(lowHalf(id) & ((1 << TARGET_BITS) - 1)).toBe(TARGET);
  });

  it('are added to the set, saved and restored, without piling up in one probe run', () => {
    const set = new CustomIdSet();
    let added = 0;
    for (const id of ids) if (set.add(id)) added += 1;
    expect(added).toBe(ids.length);
    const restored = CustomIdSet.fromBuffer(set.toBuffer());
    expect(restored.size).toBe(ids.length);
    expect(restored.add(ids[123_456]!)).toBe(false);
    expect(restored.add('a fresh id')).toBe(true);
  });

  it('a file of them is ingested in chunks with every line queued and none called a duplicate', async () => {
    const lines = ids.slice(0, 100_000);
    const world = createWorld();
    world.blobs.readChunkBytes = 64 * 1024;
    world.blobs.put(
      'batch-input',
      'flood.jsonl',
      lines
        .map((id) => JSON.stringify({ custom_id: id, messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }))
        .join('\n'),
    );
    const deps: IngestDeps = {
      ...world.ingestDeps,
      maxLinesPerFile: 1_000_000,
      chunkLines: 25_000,
      packing: { maxMessageBytes: 48 * 1024 - 512, maxItemsPerMessage: 64 },
    };
    const results = await ingestAll(deps, world, 'flood.jsonl');
    const job = (await world.jobs.getJob(jobIdOf(results)))!.job;
    expect(job.ingest).toMatchObject({ done: true, requests: lines.length, invalid: 0 });
    const queuedIds = world.requestQueue.sent.flatMap((m) => (m.payload as RequestMessage).items.map((i) => i.id));
    expect(queuedIds).toEqual(lines);
  });
});
