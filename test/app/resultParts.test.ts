import { describe, expect, it } from 'vitest';
import { InMemoryBlobStore } from '../../src/adapters/memory/InMemoryBlobStore.js';
import { silentLogger } from '../../src/app/Logger.js';
import { ResultParts } from '../../src/app/resultParts.js';
import { LineStatus, type LineOutcome } from '../../src/core/lineOutcome.js';

function outcome(line: number): LineOutcome {
  return {
    jobId: 'job',
    line,
    customId: `c${line}`,
    status: LineStatus.succeeded,
    response: { status_code: 200, request_id: `r${line}`, body: { id: `x${line}` } },
    error: null,
    usage: null,
    costInNanos: 0,
    attempts: 1,
    startedAtInMs: null,
    finishedAtInMs: 0,
    latencyInMs: null,
  };
}

async function* linesOf(count: number, width: number): AsyncIterable<string> {
  for (let i = 0; i < count; i += 1) yield `${String(i).padStart(width, '0')}\n`;
}

describe('ResultParts', () => {
  it('writes a file whole in blocks of about 4 MiB, and a second write replaces it', async () => {
    const blobs = new InMemoryBlobStore();
    let ids = 0;
    const parts = new ResultParts(blobs, 'out', () => (ids += 1).toString(16).padStart(16, '0'));
    // 5,000 lines of 1 KiB: two blocks.
    await parts.writeWhole('job/results.jsonl', linesOf(5_000, 1023));
    const text = (await blobs.download('out', 'job/results.jsonl'))!.toString();
    expect(text.split('\n').filter(Boolean)).toHaveLength(5_000);
    expect(text.endsWith(`${'4999'.padStart(1023, '0')}\n`)).toBe(true);
    expect((await blobs.listBlocks('out', 'job/results.jsonl')).committed).toHaveLength(2);
    await parts.writeWhole('job/results.jsonl', linesOf(1, 3));
    expect((await blobs.download('out', 'job/results.jsonl'))!.toString()).toBe('000\n');
  });

  it('parts staged after a file was written whole (a retry) are staged and counted like the first ones', async () => {
    const blobs = new InMemoryBlobStore();
    let ids = 0;
    const parts = new ResultParts(blobs, 'out', () => (ids += 1).toString(16).padStart(16, '0'));
    await parts.writeWhole('job/results.jsonl', linesOf(2, 3));
    // The in-memory store, like Azure, refuses a block id whose length differs from the blob's other blocks.
    await parts.stage('job', [outcome(3), outcome(4)], {
      ...silentLogger,
      warn: (message: string) => {
        throw new Error(message);
      },
    });
    expect((await blobs.listBlocks('out', 'job/results.jsonl')).uncommitted).toHaveLength(1);
    expect(await parts.commit('job', { succeeded: 2, failed: 0 })).toBe(true);
    const text = (await blobs.download('out', 'job/results.jsonl'))!.toString();
    expect(
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).custom_id),
    ).toEqual(['c3', 'c4']);
  });
});
