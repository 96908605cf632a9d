import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import { InMemoryBudgetStore } from '../../src/adapters/memory/InMemoryBudgetStore.js';
import { finalizeJob } from '../../src/app/finalizeJob.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { silentLogger } from '../../src/app/Logger.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { retryFailedLines } from '../../src/app/retryFailedLines.js';
import { SharedRateLimiter } from '../../src/app/SharedRateLimiter.js';
import type { WorkerDeps } from '../../src/app/worker/WorkerDeps.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { scheduleRates } from '../../src/core/SliceSchedule.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { chatLine, createWorld, okResponse, ScriptedChatClient, type ChatScript } from './fixtures.js';

type World = ReturnType<typeof createWorld>;

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i += 1) await Promise.resolve();
}

const refused =
  (status: number): ChatScript =>
  () => ({
    kind: 'response',
    status,
    headers: {},
    body: { error: { code: status === 404 ? 'NotFound' : 'Unauthorized', message: 'Access denied' } },
    requestId: 'r',
    latencyInMs: 1,
  });

const file = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => chatLine(`${prefix}-${i + 1}`, `prompt ${i + 1}`)).join('\n');

async function ingest(world: World, name: string, lines: number): Promise<string> {
  world.blobs.put('batch-input', name, file(name, lines));
  const ingested = await ingestBlob('batch-input', name, world.ingestDeps);
  if (ingested.kind !== 'ingested') throw new Error(`${name} was not ingested`);
  return ingested.jobId;
}

/** Every queued work message at once, as a busy worker takes them, over `slots` concurrent calls. */
async function runQueued(world: World, slots: number): Promise<void> {
  const limit = pLimit(slots);
  const deps: WorkerDeps = { ...world.workerDeps, callSlots: (task) => limit(task) };
  for (;;) {
    const messages = world.requestQueue.drain().map((p) => requestMessageOf(p));
    if (messages.length === 0) break;
    await Promise.all(messages.map((m) => processRequestMessage(m, deps)));
  }
  for (const payload of world.controlQueue.drain()) {
    const message = parseControlMessage(payload);
    if (typeof message !== 'string' && message.kind === 'finalize')
      await finalizeJob(message.jobId, world.finalizeDeps);
  }
}

async function codesOf(world: World, jobId: string): Promise<string[]> {
  const codes: string[] = [];
  for await (const o of world.jobs.listOutcomes(jobId)) codes.push(o.error?.code ?? 'ok');
  return codes;
}

describe('a refused key or address halts the deployment', () => {
  it.each([401, 403, 404])(
    'HTTP %i: both jobs of the deployment stop within a handful of calls, the rest batch_halted',
    async (status) => {
      const chat = new ScriptedChatClient(refused(status));
      const world = createWorld(chat);
      const first = await ingest(world, 'a.jsonl', 60);
      const second = await ingest(world, 'b.jsonl', 60);
      await runQueued(world, 4);

      // Before: one call per line of both files (120). Now: the calls already in their 4 slots, and
      // at most a slot's worth that started while the first refusal's answer was on its way back.
      expect(chat.calls.length).toBeLessThanOrEqual(8);
      for (const jobId of [first, second]) {
        const { job } = (await world.jobs.getJob(jobId))!;
        expect(job.status).toBe('failed');
        expect(job.jobError?.code).toBe('deployment_rejected');
        const codes = await codesOf(world, jobId);
        expect(codes).toHaveLength(60);
        expect(codes.filter((c) => c === 'batch_halted').length).toBeGreaterThanOrEqual(52);
      }
    },
  );

  it('a retry with retryable_only resends the halted lines and the refused one; its first success lifts the halt', async () => {
    let keyFixed = false;
    const chat = new ScriptedChatClient((body, n, customId, callId) =>
      keyFixed ? okResponse(body) : refused(401)(body, n, customId, callId),
    );
    const world = createWorld(chat);
    const first = await ingest(world, 'a.jsonl', 20);
    await runQueued(world, 2);
    expect(world.limiter.halt?.code).toBe('deployment_rejected');
    const callsBefore = chat.calls.length;

    keyFixed = true;
    world.clock.now += 1000;
    const retried = await retryFailedLines({ ...world.ingestDeps, logger: silentLogger }, first, {
      retryableOnly: true,
    });
    expect(retried.retried).toBe(20);
    await runQueued(world, 2);
    expect(chat.calls.length).toBe(callsBefore + 20);
    expect(world.limiter.halt).toBeUndefined();
    expect((await world.jobs.getJob(first))!.job.status).toBe('completed');
  });

  it('the halt travels through the shared budget state to another instance, and a later success lifts it there', async () => {
    let now = 0;
    const clock = { nowInMs: () => now };
    const timers = { setTimeout: () => 0, clearTimeout: () => {} };
    const store = new InMemoryBudgetStore();
    const make = () =>
      new SharedRateLimiter({
        deploymentId: 'd',
        rates: scheduleRates({ requestsPerMinute: 60_000, tokensPerMinute: 1e9 }, 1),
        sliceInMs: 1000,
        store,
        clock,
        timers,
        logger: silentLogger,
      });
    const here = make();
    const there = make();
    const halt = { code: 'deployment_rejected', message: 'HTTP 401', atInMs: 10 };
    here.haltSending(halt);
    await settle();
    expect(store.stateOf('d').halt).toEqual(halt);

    expect(there.halt).toBeUndefined();
    void there.acquire({ requests: 1, tokens: 1 }, { maxWaitInMs: 0 });
    await settle();
    expect(there.halt).toEqual(halt);

    now = 20;
    there.resumeSending(15);
    await settle();
    expect(there.halt).toBeUndefined();
    expect(store.stateOf('d').halt).toBeUndefined();
    void here.acquire({ requests: 1, tokens: 1 }, { maxWaitInMs: 0 });
    await settle();
    expect(here.halt).toBeUndefined();
  });
});
