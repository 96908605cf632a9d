import { describe, expect, it } from 'vitest';
import { ingestBlob, type IngestDeps } from '../../src/app/ingestBlob.js';
import type { RequestMessage } from '../../src/core/requestMessage.js';
import { createWorld } from '../app/fixtures.js';

/*
 * The ingest keeps a few queue sends in flight while it reads on. When one of them fails while an
 * earlier one is still pending, the failure must end this ingest (to be retried), not go unhandled:
 * an unhandled rejection ends the whole process, and every other invocation in it.
 */
describe('a queue send that fails while others are in flight', () => {
  it('fails the ingest, is never an unhandled rejection, and a retry sends each line once', async () => {
    const world = createWorld();
    const lines = Array.from({ length: 600 }, (_, i) =>
      JSON.stringify({ custom_id: `r${i}`, messages: [{ role: 'user', content: `p${i}` }] }),
    );
    world.blobs.put('batch-input', 'f.jsonl', lines.join('\n'));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);

    const realSend = world.requestQueue.send.bind(world.requestQueue);
    let releaseFirst: () => void = () => {};
    let calls = 0;
    world.requestQueue.send = async (payloads, options) => {
      calls += 1;
      // (The job's first message goes out, and is checkpointed, on its own.) The next send is still pending
      // when the one after it fails, a turn of the event loop later; then the pending one completes.
      if (calls === 2) await new Promise<void>((resolve) => (releaseFirst = resolve));
      if (calls === 3) {
        await new Promise<void>((_, reject) =>
          setImmediate(() => {
            reject(new Error('queue unavailable'));
            setImmediate(releaseFirst);
          }),
        );
      }
      await realSend(payloads, options);
    };
    const deps: IngestDeps = {
      ...world.ingestDeps,
      maxLinesPerFile: 10_000,
      messagesPerCheckpoint: undefined,
      packing: { maxMessageBytes: 48 * 1024, maxItemsPerMessage: 1 },
    };
    try {
      await expect(ingestBlob('batch-input', 'f.jsonl', deps)).rejects.toThrow('queue unavailable');
      // Let any stray rejection surface before looking.
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }

    // The queue is back; once the dead reader's lease has run out, a redelivery finishes the job.
    world.requestQueue.send = realSend;
    world.clock.now += 6 * 60_000;
    expect((await ingestBlob('batch-input', 'f.jsonl', deps)).kind).toBe('ingested');
    const queuedLines = world.requestQueue.sent.flatMap((m) => (m.payload as RequestMessage).items.map((i) => i.line));
    expect([...new Set(queuedLines)].sort((a, b) => a - b)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
  });
});
