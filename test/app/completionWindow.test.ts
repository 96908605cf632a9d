import { describe, expect, it } from 'vitest';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { finalizeJob } from '../../src/app/finalizeJob.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { sweep } from '../../src/app/sweep.js';
import { cancelJob } from '../../src/app/cancelJob.js';
import { retryFailedLines } from '../../src/app/retryFailedLines.js';
import { ConflictError } from '../../src/core/errors.js';
import { chatLine, createWorld, okResponse, ScriptedChatClient } from './fixtures.js';
import { runQueues } from './finishedJob.js';

type World = ReturnType<typeof createWorld>;
const HOUR = 3_600_000;

async function runMessages(world: World, payloads: unknown[]): Promise<void> {
  for (const payload of payloads) await processRequestMessage(requestMessageOf(payload), world.workerDeps);
}

async function finalizeQueued(world: World): Promise<void> {
  for (const payload of world.controlQueue.drain()) {
    const message = parseControlMessage(payload);
    if (typeof message !== 'string' && message.kind === 'finalize')
      await finalizeJob(message.jobId, world.finalizeDeps);
  }
}

const file = (count: number) =>
  `${Array.from({ length: count }, (_, i) => chatLine(`w-${i + 1}`, `Line ${i + 1}`)).join('\n')}\n`;

async function outputLines(world: World, jobId: string, name: 'results' | 'errors') {
  const text = (await world.blobs.download('batch-output', `${jobId}/${name}.jsonl`))?.toString() ?? '';
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { custom_id: string; error: { code: string } | null });
}

describe('completion windows', () => {
  it("a dropped file's window follows the configured limits, as a batch's does", async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'short.jsonl', file(2), { completionwindow: '90s' });
    world.blobs.put('batch-input', 'shorter.jsonl', file(2), { completionwindow: '90s' });
    const configured = { ...world.ingestDeps, windowLimits: { minInMs: 60_000, maxInMs: 48 * HOUR } };
    const honoured = (await ingestBlob('batch-input', 'short.jsonl', configured)) as { jobId: string };
    expect((await world.jobs.getJob(honoured.jobId))!.job.batchRequest?.expiresAtInMs).toBe(world.clock.now + 90_000);
    // Under the built-in minimum it is refused.
    const builtIn = (await ingestBlob('batch-input', 'shorter.jsonl', world.ingestDeps)) as { jobId: string };
    expect((await world.jobs.getJob(builtIn.jobId))!.job.jobError).toMatchObject({
      code: 'invalid_completion_window',
      param: 'completionwindow',
    });
  });

  it.each([
    [
      { completionwindow: '2 hours' },
      'invalid_completion_window',
      /completionwindow: Invalid completion_window "2 hours"/,
    ],
    [{ completionwindow: '30d' }, 'invalid_completion_window', /expected a window from 1h to 7d/],
    [{ batchmetadata: '{"team":' }, 'invalid_batch_metadata', /batchmetadata: .*JSON/],
    [{ batchmetadata: '["a"]' }, 'invalid_batch_metadata', /expected an object of string keys and string values/],
  ])('a dropped file with %j sends nothing, and the job fails with %s saying why', async (metadata, code, reason) => {
    const world = createWorld();
    world.blobs.put('batch-input', 'bad.jsonl', file(2), metadata);
    const { jobId } = (await ingestBlob('batch-input', 'bad.jsonl', world.ingestDeps)) as { jobId: string };
    const refused = (await world.jobs.getJob(jobId))!.job;
    expect(refused.jobError).toMatchObject({ code, param: Object.keys(metadata)[0] });
    await runQueues(world);
    const { job } = (await world.jobs.getJob(jobId))!;
    expect(job.status).toBe('failed');
    expect(job.jobError?.code).toBe(code);
    expect(job.jobError?.message).toMatch(reason);
    expect(job.counts.failed).toBe(2);
    expect(world.ledger.entries.size).toBe(0);
  });

  it('a dropped file takes its window from blob metadata; lines not sent when it closes end as batch_expired, finished ones are kept', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'w.jsonl', file(8), { completionwindow: '2h', batchmetadata: '{"team":"a"}' });
    const { jobId } = (await ingestBlob('batch-input', 'w.jsonl', world.ingestDeps)) as { jobId: string };
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job.batchRequest).toEqual({
      completionWindow: '2h',
      expiresAtInMs: world.clock.now + 2 * HOUR,
      metadata: { team: 'a' },
    });

    const [first, ...rest] = world.requestQueue.drain();
    await runMessages(world, [first]);
    expect(chat.calls).toHaveLength(4);
    world.clock.now += 2 * HOUR;
    await runMessages(world, rest);
    expect(chat.calls).toHaveLength(4);
    await finalizeQueued(world);

    const final = (await world.jobs.getJob(jobId))!.job;
    expect(final.status).toBe('expired');
    expect(final.timestamps.expiredAt).toBe(world.clock.now);
    expect(final.counts).toEqual({ succeeded: 4, failed: 4 });
    expect((await outputLines(world, jobId, 'results')).map((l) => l.custom_id)).toEqual(['w-1', 'w-2', 'w-3', 'w-4']);
    expect((await outputLines(world, jobId, 'errors')).map((l) => [l.custom_id, l.error?.code])).toEqual([
      ['w-5', 'batch_expired'],
      ['w-6', 'batch_expired'],
      ['w-7', 'batch_expired'],
      ['w-8', 'batch_expired'],
    ]);
  });

  it('a retry that would go out after the window closes is not sent', async () => {
    // The first call fails with a 500 and takes a day and an hour: its retry would go out after the 24h window.
    const chat = new ScriptedChatClient((body, call) => {
      if (call > 1) return okResponse(body);
      world.clock.now += 25 * HOUR;
      return { kind: 'response', status: 500, headers: {}, body: { error: 'boom' }, requestId: 'r', latencyInMs: 1 };
    });
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'r.jsonl', file(1));
    const { jobId } = (await ingestBlob('batch-input', 'r.jsonl', world.ingestDeps)) as { jobId: string };
    await runMessages(world, world.requestQueue.drain());
    expect(chat.calls).toHaveLength(1);
    await finalizeQueued(world);
    const final = (await world.jobs.getJob(jobId))!.job;
    expect(final.batchRequest?.completionWindow).toBe('24h');
    expect(final.status).toBe('expired');
    expect(final.counts).toEqual({ succeeded: 0, failed: 1 });
    expect((await outputLines(world, jobId, 'errors')).map((l) => l.error?.code)).toEqual(['batch_expired']);
  });

  it('a job whose lines wait past the window in delayed messages is not waited for: the sweeper queues them to expire now', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'd.jsonl', file(2), { completionwindow: '1h' });
    const { jobId } = (await ingestBlob('batch-input', 'd.jsonl', world.ingestDeps)) as { jobId: string };
    world.requestQueue.drain();
    // As a daily quota leaves it: the lines wait in messages delayed for a day.
    const stored = (await world.jobs.getJob(jobId))!;
    await world.jobs.replaceJob(
      { ...stored.job, deferral: { untilInMs: world.clock.now + 24 * HOUR, reason: 'quota' } },
      stored.etag,
    );

    world.clock.now += HOUR - 1;
    expect((await sweep(world.ingestDeps, { stallInMs: 15 * 60_000 })).actions[jobId]).toBe('deferred');
    world.clock.now += 1;
    expect((await sweep(world.ingestDeps, { stallInMs: 15 * 60_000 })).actions[jobId]).toBe('requeued');
    await runMessages(world, world.requestQueue.drain());
    await finalizeQueued(world);
    expect((await world.jobs.getJob(jobId))!.job.status).toBe('expired');
  });

  it('an expired batch cannot be cancelled; a retry of its expired lines runs them in a new window of the same length', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'e.jsonl', file(4), { completionwindow: '1h' });
    const { jobId } = (await ingestBlob('batch-input', 'e.jsonl', world.ingestDeps)) as { jobId: string };
    world.clock.now += HOUR;
    await runMessages(world, world.requestQueue.drain());
    await finalizeQueued(world);
    expect((await world.jobs.getJob(jobId))!.job.status).toBe('expired');
    expect(chat.calls).toHaveLength(0);
    await expect(cancelJob(world.ingestDeps, jobId)).rejects.toBeInstanceOf(ConflictError);

    const { retried, job } = await retryFailedLines(world.ingestDeps, jobId, { retryableOnly: true });
    expect(retried).toBe(4);
    expect(job.batchRequest?.expiresAtInMs).toBe(world.clock.now + HOUR);
    await runMessages(world, world.requestQueue.drain());
    await finalizeQueued(world);
    const final = (await world.jobs.getJob(jobId))!.job;
    expect(final.status).toBe('completed');
    expect(final.timestamps.expiredAt).toBeUndefined();
    expect(chat.calls).toHaveLength(4);
  });
});
