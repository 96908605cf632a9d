import { describe, expect, it } from 'vitest';
import { cancelJob } from '../../src/app/cancelJob.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { finalizeJob } from '../../src/app/finalizeJob.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { recordPoisonMessage } from '../../src/app/recordPoisonMessage.js';
import { retryFailedLines } from '../../src/app/retryFailedLines.js';
import { sweep } from '../../src/app/sweep.js';
import { silentLogger } from '../../src/app/Logger.js';
import { type RequestMessage } from '../../src/core/requestMessage.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { chatLine, createWorld, okResponse, ScriptedChatClient } from './fixtures.js';

type World = ReturnType<typeof createWorld>;

async function drainControl(world: World): Promise<void> {
  for (const payload of world.controlQueue.drain()) {
    const message = parseControlMessage(payload);
    if (typeof message !== 'string' && message.kind === 'finalize')
      await finalizeJob(message.jobId, world.finalizeDeps);
  }
}

async function outcomesOf(world: World, jobId: string) {
  const all = [];
  for await (const o of world.jobs.listOutcomes(jobId)) all.push(o);
  return all;
}

const file = (n: number) => Array.from({ length: n }, (_, i) => chatLine(`id-${i + 1}`, `prompt ${i + 1}`)).join('\n');

describe('reliability on in-memory ports', () => {
  it('cancel: queued lines are not sent, finished ones are kept, output holds the partial results', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'in.jsonl', file(8));
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    const [first, second] = world.requestQueue.drain().map((p) => requestMessageOf(p));
    await processRequestMessage(first!, world.workerDeps);
    const cancelling = await cancelJob(
      { jobs: world.jobs, controlQueue: world.controlQueue, clock: world.clock },
      jobId,
    );
    expect(cancelling.status).toBe('cancelling');
    await processRequestMessage(second!, world.workerDeps);
    await drainControl(world);

    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job.status).toBe('cancelled');
    expect(chat.calls).toHaveLength(4);
    const outcomes = await outcomesOf(world, jobId);
    expect(outcomes.map((o) => o.status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'succeeded',
      'cancelled',
      'cancelled',
      'cancelled',
      'cancelled',
    ]);
    const errors = (await world.blobs.download('batch-output', `${jobId}/errors.jsonl`))!
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors.map((e) => e.error.code)).toEqual(Array(4).fill('batch_cancelled'));
    expect(
      (await world.blobs.download('batch-output', `${jobId}/results.jsonl`))!.toString().trim().split('\n'),
    ).toHaveLength(4);
  });

  it('cancelling a completed job is a conflict; cancelling twice is harmless', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', file(1));
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    const deps = { jobs: world.jobs, controlQueue: world.controlQueue, clock: world.clock };
    await cancelJob(deps, jobId);
    await expect(cancelJob(deps, jobId)).resolves.toMatchObject({ status: 'cancelling' });
    for (const p of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(p), world.workerDeps);
    await drainControl(world);
    await expect(cancelJob(deps, jobId)).resolves.toMatchObject({ status: 'cancelled' });

    const other = createWorld();
    other.blobs.put('batch-input', 'x.jsonl', file(1));
    const done = await ingestBlob('batch-input', 'x.jsonl', other.ingestDeps);
    for (const p of other.requestQueue.drain()) await processRequestMessage(requestMessageOf(p), other.workerDeps);
    await drainControl(other);
    await expect(
      cancelJob(
        { jobs: other.jobs, controlQueue: other.controlQueue, clock: other.clock },
        done.kind === 'ingested' ? done.jobId : '',
      ),
    ).rejects.toMatchObject({ code: 'conflict' });
  });

  it('a wrong key halts the job after the first refusal instead of burning through every line', async () => {
    const chat = new ScriptedChatClient(() => ({
      kind: 'response',
      status: 401,
      headers: {},
      body: { error: { code: 'Unauthorized', message: 'Access denied' } },
      requestId: 'r',
      latencyInMs: 1,
    }));
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'in.jsonl', file(6));
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    const messages = world.requestQueue.drain().map((p) => requestMessageOf(p));
    // One line at a time for the first message, so exactly one call reaches the endpoint.
    for (const item of messages[0]!.items)
      await processRequestMessage({ ...messages[0]!, items: [item] }, world.workerDeps);
    await processRequestMessage(messages[1]!, world.workerDeps);
    await drainControl(world);

    expect(chat.calls).toHaveLength(1);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job.status).toBe('failed');
    expect(job.jobError?.code).toBe('deployment_rejected');
    expect(job.jobError?.message).toMatch(/HTTP 401.*PHI3_API_KEY/);
    const outcomes = await outcomesOf(world, jobId);
    expect(outcomes[0]!.error?.code).toBe('Unauthorized');
    expect(outcomes.slice(1).every((o) => o.error?.code === 'batch_halted')).toBe(true);
  });

  it('a poison message fails its unfinished lines with poison_message and the job still finishes', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', file(3));
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    const [payload] = world.requestQueue.drain();
    const message = requestMessageOf(payload);
    await processRequestMessage({ ...message, items: message.items.slice(0, 1) }, world.workerDeps);
    const recorded = await recordPoisonMessage(payload, {
      jobs: world.jobs,
      controlQueue: world.controlQueue,
      clock: world.clock,
      logger: silentLogger,
      resultParts: world.resultParts,
    });
    expect(recorded).toBe(2);
    await drainControl(world);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job.status).toBe('completed');
    expect(job.counts).toEqual({ succeeded: 1, failed: 2 });
    expect((await outcomesOf(world, jobId)).map((o) => o.error?.code ?? 'ok')).toEqual([
      'ok',
      'poison_message',
      'poison_message',
    ]);
    expect(
      await recordPoisonMessage('garbage', {
        jobs: world.jobs,
        controlQueue: world.controlQueue,
        clock: world.clock,
        logger: silentLogger,
        resultParts: world.resultParts,
      }),
    ).toBe(0);
  });

  it('a job cancelled while its file is being read sends nothing more and still gives every line an outcome', async () => {
    const chat = new ScriptedChatClient(okResponse);
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'in.jsonl', file(20));
    let checkpoints = 0;
    const realSend = world.requestQueue.send.bind(world.requestQueue);
    world.requestQueue.send = async (payloads, options) => {
      checkpoints += 1;
      await realSend(payloads, options);
      if (checkpoints === 1) {
        const first = (payloads[0] as RequestMessage).jobId;
        await cancelJob({ jobs: world.jobs, controlQueue: world.controlQueue, clock: world.clock }, first);
      }
    };
    const ingested = await ingestBlob('batch-input', 'in.jsonl', { ...world.ingestDeps, messagesPerCheckpoint: 1 });
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    for (const p of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(p), world.workerDeps);
    await drainControl(world);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job.status).toBe('cancelled');
    const outcomes = await outcomesOf(world, jobId);
    expect(outcomes).toHaveLength(20);
    expect(outcomes.filter((o) => o.status === 'cancelled')).toHaveLength(20);
    expect(chat.calls).toHaveLength(0);
  });
});

describe('retry and sweeper on in-memory ports', () => {
  it('retry sends only the failed lines again, keeps the successes, and attempts add up per line', async () => {
    let broken = true;
    const chat = new ScriptedChatClient((body) => {
      const text = String(body.messages[0]?.content);
      if (text === 'prompt 2' && broken) return { kind: 'timeout', latencyInMs: 1 };
      if (text === 'prompt 3')
        return {
          kind: 'response',
          status: 400,
          headers: {},
          body: { error: { code: 'content_filter', message: 'no' } },
          requestId: 'r',
          latencyInMs: 1,
        };
      return okResponse(body);
    });
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'in.jsonl', `${file(3)}\nnot json\n`);
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    for (const p of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(p), world.workerDeps);
    await drainControl(world);
    expect((await world.jobs.getJob(jobId))!.job.counts).toEqual({ succeeded: 1, failed: 3 });

    broken = false;
    const callsBefore = chat.calls.length;
    const retried = await retryFailedLines(world.ingestDeps, jobId, { retryableOnly: true });
    expect(retried.retried).toBe(1);
    expect(retried.job.status).toBe('in_progress');
    for (const p of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(p), world.workerDeps);
    await drainControl(world);

    expect(chat.calls.length - callsBefore).toBe(1);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job.status).toBe('completed');
    expect(job.counts).toEqual({ succeeded: 2, failed: 2 });
    expect(job.retries).toBe(1);
    const outcomes = await outcomesOf(world, jobId);
    expect(outcomes.map((o) => [o.line, o.status, o.attempts])).toEqual([
      [1, 'succeeded', 1],
      [2, 'succeeded', 4],
      [3, 'failed', 1],
      [4, 'failed', 0],
    ]);
    // A retried job's files come from its outcomes: the line that now succeeded is in the results, not in the errors.
    const fileOf = async (name: string) =>
      (await world.blobs.download('batch-output', `${jobId}/${name}`))!
        .toString()
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
    expect(await fileOf('results.jsonl')).toEqual(['id-1', 'id-2']);
    expect(await fileOf('errors.jsonl')).toEqual(['id-3', '~line-4']);
    // Without retryable_only the content-filtered line goes again too; the invalid line never does.
    const again = await retryFailedLines(world.ingestDeps, jobId, { retryableOnly: false });
    expect(again.retried).toBe(1);
  });

  it('retry of a running job is a conflict', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', file(1));
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    await expect(
      retryFailedLines(world.ingestDeps, ingested.kind === 'ingested' ? ingested.jobId : '', { retryableOnly: false }),
    ).rejects.toMatchObject({ code: 'conflict' });
  });

  it('the sweeper re-queues lines whose message was lost, once the job has stalled, and never touches a healthy job', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'in.jsonl', file(6));
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    const [first] = world.requestQueue.drain();
    // The second message is lost for good.
    await processRequestMessage(requestMessageOf(first), world.workerDeps);

    expect((await sweep(world.ingestDeps, { stallInMs: 60_000 })).actions[jobId]).toBe('healthy');
    expect(world.requestQueue.sent).toHaveLength(0);
    world.clock.now += 61_000;
    const report = await sweep(world.ingestDeps, { stallInMs: 60_000 });
    expect(report.actions[jobId]).toBe('requeued');
    expect(report.requeuedLines).toBe(2);
    for (const p of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(p), world.workerDeps);
    await drainControl(world);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job.status).toBe('completed');
    expect(job.counts.succeeded).toBe(6);
    expect(chat.calls).toHaveLength(6);
  });

  it('the sweeper finalises a complete job whose finalisation was lost, and resumes a stalled ingest', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', file(2));
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    for (const p of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(p), world.workerDeps);
    world.controlQueue.drain(); // the finalize message is lost
    world.clock.now += 3_600_000;
    expect((await sweep(world.ingestDeps, { stallInMs: 60_000 })).actions[jobId]).toBe('finalize');
    await drainControl(world);
    expect((await world.jobs.getJob(jobId))!.job.status).toBe('completed');

    const stalled = createWorld();
    stalled.blobs.put('batch-input', 'big.jsonl', file(10));
    stalled.requestQueue.send = async () => {
      throw new Error('host died');
    };
    await expect(ingestBlob('batch-input', 'big.jsonl', stalled.ingestDeps)).rejects.toThrow('host died');
    stalled.clock.now += 3_600_000;
    const report = await sweep(stalled.ingestDeps, { stallInMs: 60_000 });
    expect(Object.values(report.actions)).toEqual(['resume-ingest']);
    expect(stalled.controlQueue.sent[0]!.payload).toMatchObject({
      kind: 'ingest',
      container: 'batch-input',
      name: 'big.jsonl',
    });
  });
});
