import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { ingestBlob, runIngestMessage, type IngestResult } from '../../src/app/ingestBlob.js';
import type { RequestMessage } from '../../src/core/requestMessage.js';
import { createWorld } from './fixtures.js';

type World = ReturnType<typeof createWorld>;

/** Runs the ingest and every continuation it asks for, as the control-queue function would. */
async function ingestAll(
  world: World,
  name: string,
  chunkLines: number,
): Promise<{ results: IngestResult[]; invocations: number }> {
  const deps = { ...world.ingestDeps, chunkLines, messagesPerCheckpoint: 2 };
  const results = [await ingestBlob('batch-input', name, deps)];
  for (let guard = 0; guard < 10_000; guard += 1) {
    const continuation = world.controlQueue.sent.findIndex((m) => (m.payload as { kind?: string }).kind === 'ingest');
    if (continuation === -1) break;
    const [message] = world.controlQueue.sent.splice(continuation, 1);
    const parsed = parseControlMessage(message!.payload);
    if (typeof parsed === 'string' || parsed.kind !== 'ingest') throw new Error('bad continuation');
    results.push(await runIngestMessage(parsed, deps));
  }
  return { results, invocations: results.length };
}

/** 900 lines (~200 KB) in big.jsonl, read whole at once, as a 4 MiB range read would bring it. */
function worldWithLargeFile(): World {
  const world = createWorld();
  const lines = Array.from({ length: 900 }, (_, i) =>
    JSON.stringify({ custom_id: `r${i}`, messages: [{ role: 'user', content: `line ${i} ${'x'.repeat(200)}` }] }),
  );
  world.blobs.put('batch-input', 'big.jsonl', lines.join('\n'));
  world.blobs.readChunkBytes = 1 << 22;
  return world;
}

function queued(world: World): Array<{ line: number; id: string; seq: number }> {
  return world.requestQueue.sent.flatMap((m) => {
    const message = m.payload as RequestMessage;
    return message.items.map((item) => ({ line: item.line, id: item.id, seq: message.seq }));
  });
}

const lineArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        id: fc.constantFrom('a', 'b', 'c', 'é', '漢字', '😀', 'x y'),
        text: fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀', ' ', '\\'), maxLength: 12 }),
      })
      .map(({ id, text }) => ({ kind: 'request' as const, id, text })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'blank' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'broken' as const }) },
);

function render(
  lines: ReadonlyArray<{ kind: string; id?: string; text?: string }>,
  crlf: boolean,
  counter: { n: number },
): string {
  const body = lines.map((l) => {
    if (l.kind === 'blank') return '';
    if (l.kind === 'broken') return '{"messages": [';
    counter.n += 1;
    // Ids repeat on purpose: duplicates must be caught across chunk boundaries too.
    return JSON.stringify({
      custom_id: `${l.id}-${counter.n % 7}`,
      messages: [{ role: 'user', content: l.text }],
      max_tokens: 5,
    });
  });
  return body.join(crlf ? '\r\n' : '\n');
}

describe('chunked ingest', () => {
  it('queues every line of a multi-chunk file exactly once, as a single pass would (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(lineArb, { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 7 }),
        async (lines, crlf, bom, chunkLines) => {
          const text = `${bom ? '\uFEFF' : ''}${render(lines, crlf, { n: 0 })}`;
          const single = createWorld();
          single.blobs.put('batch-input', 'f.jsonl', text);
          await ingestAll(single, 'f.jsonl', 1_000_000);
          const chunked = createWorld();
          chunked.blobs.readChunkBytes = 5;
          chunked.blobs.put('batch-input', 'f.jsonl', text);
          const run = await ingestAll(chunked, 'f.jsonl', chunkLines);

          const expectedLines = queued(single).map((q) => [q.line, q.id]);
          const actual = queued(chunked).map((q) => [q.line, q.id]);
          expect(actual).toEqual(expectedLines);
          expect(new Set(actual.map(([line]) => line)).size).toBe(actual.length);
          const jobId =
            run.results[0]!.kind === 'ingested' || run.results[0]!.kind === 'continued' ? run.results[0]!.jobId : '';
          const singleJob = (await single.jobs.getJob(jobId))!.job;
          const chunkedJob = (await chunked.jobs.getJob(jobId))!.job;
          expect(chunkedJob.ingest.done).toBe(true);
          expect({ ...chunkedJob.ingest, chunk: undefined, messagesSent: 0 }).toEqual({
            ...singleJob.ingest,
            chunk: undefined,
            messagesSent: 0,
          });
          expect(chunkedJob.counts).toEqual(singleJob.counts);
          expect(run.invocations).toBeGreaterThanOrEqual(Math.ceil(chunkedJob.ingest.linesRead / chunkLines));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a chunk that dies half-way is redone from its start without sending a message twice', async () => {
    const world = createWorld();
    const lines = Array.from({ length: 30 }, (_, i) =>
      JSON.stringify({ custom_id: `r${i}`, messages: [{ role: 'user', content: `héllo ${i}` }], max_tokens: 5 }),
    );
    world.blobs.put('batch-input', 'f.jsonl', lines.join('\r\n'));
    const realSend = world.requestQueue.send.bind(world.requestQueue);
    let sends = 0;
    world.requestQueue.send = async (payloads, options) => {
      sends += 1;
      if (sends === 7) throw new Error('host died');
      await realSend(payloads, options);
    };
    const deps = {
      ...world.ingestDeps,
      chunkLines: 10,
      messagesPerCheckpoint: 1,
      packing: { maxMessageBytes: 2048, maxItemsPerMessage: 2 },
    };
    await ingestBlob('batch-input', 'f.jsonl', deps);
    const continuation = world.controlQueue.drain();
    expect(continuation).toHaveLength(1);
    await expect(ingestBlob('batch-input', 'f.jsonl', deps)).rejects.toThrow('host died');
    const beforeRedo = world.requestQueue.sent.length;
    world.clock.now += 6 * 60_000; // the dead reader's lease runs out
    await ingestBlob('batch-input', 'f.jsonl', deps);
    const redone = world.requestQueue.sent.length;
    for (let i = 0; i < 4; i += 1) await ingestBlob('batch-input', 'f.jsonl', deps);
    const seqs = world.requestQueue.sent.map((m) => (m.payload as RequestMessage).seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    // The first readers of the first two chunks mark their sends. The redone chunk's sends may repeat a
    // lost send and are not marked; the chunk after it is read afresh, and marked again.
    const marks = world.requestQueue.sent.map((m) => (m.payload as RequestMessage).firstSend);
    expect(marks.slice(0, beforeRedo).every((mark) => mark === true)).toBe(true);
    expect(redone).toBeGreaterThan(beforeRedo);
    expect(marks.slice(beforeRedo, redone).every((mark) => mark === undefined)).toBe(true);
    expect(marks.slice(redone).every((mark) => mark === true)).toBe(true);
    expect(marks.length).toBeGreaterThan(redone);
    expect(
      queued(world)
        .map((q) => q.line)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('sends the first messages, and checkpoints them, before the rest of a large read is parsed', async () => {
    const world = worldWithLargeFile();
    const realSend = world.requestQueue.send.bind(world.requestQueue);
    const sends: { lastLine: number; checkpointed: number }[] = [];
    world.requestQueue.send = async (payloads, options) => {
      const jobId = (payloads[0] as RequestMessage).jobId;
      sends.push({
        lastLine: Math.max(...payloads.flatMap((p) => (p as RequestMessage).items.map((item) => item.line))),
        checkpointed: (await world.jobs.getJob(jobId))!.job.ingest.messagesSent,
      });
      await realSend(payloads, options);
    };
    await ingestBlob('batch-input', 'big.jsonl', world.ingestDeps);
    // The first batch holds the first message or two (small first slices), not the first 64 KB slice's ~240
    // lines nor the whole read; the next goes out once it is checkpointed.
    expect(sends[0]!.lastLine).toBeLessThanOrEqual(64);
    expect(sends[0]!.checkpointed).toBe(0);
    expect(sends[1]!.checkpointed).toBeGreaterThan(0);
    expect(queued(world).map((q) => q.line)).toEqual(Array.from({ length: 900 }, (_, i) => i + 1));
  });

  it('reads on while two batches of sends are under way, and no further until one is done', async () => {
    // The ingest takes the one read a slice at a time, a batch of sends per slice.
    const world = worldWithLargeFile();
    const realSend = world.requestQueue.send.bind(world.requestQueue);
    // The first send (the job's first message, awaited by its checkpoint) goes through; later ones wait to be released.
    const held: Array<() => void> = [];
    let sends = 0;
    world.requestQueue.send = async (payloads, options) => {
      sends += 1;
      if (sends > 1) await new Promise<void>((resolve) => held.push(resolve));
      await realSend(payloads, options);
    };
    const settled = async (): Promise<void> => {
      for (let turn = 0; turn < 50; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    };
    let done = false;
    const ingest = ingestBlob('batch-input', 'big.jsonl', world.ingestDeps).then(() => (done = true));
    await settled();
    expect(held).toHaveLength(2);
    expect(done).toBe(false);
    held.shift()!();
    await settled();
    expect(held).toHaveLength(2);
    while (!done) {
      held.splice(0).forEach((release) => release());
      await settled();
    }
    await ingest;
    expect(queued(world).map((q) => q.line)).toEqual(Array.from({ length: 900 }, (_, i) => i + 1));
  });
});
