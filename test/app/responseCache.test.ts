import { describe, expect, it } from 'vitest';
import { InMemoryResponseCache } from '../../src/adapters/memory/InMemoryResponseCache.js';
import { Deployments } from '../../src/app/deployments.js';
import { finalizeJob } from '../../src/app/finalizeJob.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import type { ResponseCache } from '../../src/app/ports.js';
import type { ResponseCacheDeps } from '../../src/app/worker/cachedAnswers.js';
import type { Job } from '../../src/core/job.js';
import { ResponseCacheMode, type ResponseCachePolicy } from '../../src/core/responseCache.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { runQueues } from './finishedJob.js';
import { chatLine, createWorld, RecordingLimiter, roughTokenCounter, ScriptedChatClient } from './fixtures.js';

type World = ReturnType<typeof createWorld>;

const DAY_IN_MS = 86_400_000;
const POLICY: ResponseCachePolicy = {
  mode: ResponseCacheMode.temperatureZero,
  maxAgeInMs: 30 * DAY_IN_MS,
  maxAnswerBytes: 65_536,
};

/** A world whose worker answers from `store`; its endpoint calls are counted by the scripted client. */
function cachedWorld(
  store: ResponseCache,
  policy: ResponseCachePolicy = POLICY,
  deployment = { name: 'test', model: 'Phi-3-mini-4k-instruct' },
) {
  const chat = new ScriptedChatClient();
  const world = createWorld(chat);
  const deployments = new Deployments([
    { ...deployment, chat, limiter: new RecordingLimiter(world.clock), tokenCounter: roughTokenCounter },
  ]);
  const responseCache: ResponseCacheDeps = { store, policy };
  const cached: World = {
    ...world,
    ingestDeps: { ...world.ingestDeps, deployments },
    workerDeps: { ...world.workerDeps, deployments, responseCache },
  };
  return { world: cached, chat };
}

const tenLines = (changed: readonly number[] = [], extra: Record<string, unknown> = { temperature: 0 }) =>
  Array.from({ length: 10 }, (_, i) =>
    chatLine(`id-${i + 1}`, changed.includes(i + 1) ? `prompt ${i + 1}, fixed` : `prompt ${i + 1}`, extra),
  ).join('\n');

/** Drops the file as a new blob version and runs its job to the end. */
async function runFile(world: World, content: string, metadata: Record<string, string> = {}): Promise<Job> {
  world.blobs.put('batch-input', 'in.jsonl', content, metadata);
  const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
  if (ingested.kind !== 'ingested') throw new Error(`not ingested: ${ingested.kind}`);
  for (let round = 0; round < 5; round += 1) await runQueues(world);
  return (await world.jobs.getJob(ingested.jobId))!.job;
}

async function outputLines(world: World, jobId: string): Promise<Array<Record<string, unknown>>> {
  const text = (await world.blobs.download('batch-output', `${jobId}/results.jsonl`))!.toString();
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('the response cache', () => {
  it('sends only the three changed lines of a rerun: the rest are cache hits at $0, and the job says so', async () => {
    const store = new InMemoryResponseCache();
    const first = cachedWorld(store);
    const firstJob = await runFile(first.world, tenLines());
    expect(first.chat.calls).toHaveLength(10);
    expect(firstJob).toMatchObject({ status: 'completed', counts: { succeeded: 10, failed: 0 } });
    expect(firstJob.cacheHits).toBeUndefined();
    expect(store.size).toBe(10);
    const costPerLine = firstJob.usage.costInNanos / 10;
    expect(costPerLine).toBeGreaterThan(0);

    const rerun = cachedWorld(store);
    const job = await runFile(rerun.world, tenLines([2, 5, 9]));
    expect(rerun.chat.calls.map((c) => c.customId).sort()).toEqual(['id-2', 'id-5', 'id-9']);
    expect(job).toMatchObject({ status: 'completed', counts: { succeeded: 10, failed: 0 } });
    expect(job.cacheHits).toBe(7);
    expect(job.cacheSavedInNanos).toBe(7 * costPerLine);
    // Billed: the three calls alone, in the ledger, the rollups and the job's spend.
    expect(job.usage.costInNanos).toBe(3 * costPerLine);
    expect(job.spend?.calls).toBe(3);
    const entries = [];
    for await (const entry of rerun.world.ledger.listEntries(job.id)) entries.push(entry);
    expect(entries.map((e) => e.line).sort((a, b) => a - b)).toEqual([2, 5, 9]);
    const rollups = await rerun.world.rollups.listJob(job.id);
    expect(rollups.reduce((sum, r) => sum + r.rollup.costInNanos, 0)).toBe(3 * costPerLine);

    const firstOutput = await outputLines(first.world, firstJob.id);
    const output = await outputLines(rerun.world, job.id);
    expect(output.filter((line) => line['cached'] === true).map((line) => line['custom_id'])).toEqual([
      'id-1',
      'id-3',
      'id-4',
      'id-6',
      'id-7',
      'id-8',
      'id-10',
    ]);
    const hit = output.find((line) => line['custom_id'] === 'id-1')!;
    const original = firstOutput.find((line) => line['custom_id'] === 'id-1')!;
    // OpenAI's output shape, the stored chat.completion as its body.
    expect(hit).toEqual({ ...original, id: `batch_req_${job.id}_1`, cached: true });
    expect(output.find((line) => line['custom_id'] === 'id-2')).not.toHaveProperty('cached');
  });

  it('never answers from another deployment or model', async () => {
    const store = new InMemoryResponseCache();
    await runFile(cachedWorld(store).world, tenLines());
    const otherDeployment = cachedWorld(store, POLICY, { name: 'other', model: 'Phi-3-mini-4k-instruct' });
    expect((await runFile(otherDeployment.world, tenLines())).cacheHits).toBeUndefined();
    expect(otherDeployment.chat.calls).toHaveLength(10);
    const otherModel = cachedWorld(store, POLICY, { name: 'test', model: 'Phi-3-medium-4k-instruct' });
    expect((await runFile(otherModel.world, tenLines())).cacheHits).toBeUndefined();
    expect(otherModel.chat.calls).toHaveLength(10);
  });

  it('does not use an answer older than the maximum age (by the injected clock, whatever the store keeps)', async () => {
    const store = new InMemoryResponseCache();
    const policy = { ...POLICY, maxAgeInMs: 2 * DAY_IN_MS };
    const first = cachedWorld(store, policy);
    await runFile(first.world, tenLines());
    const within = cachedWorld(store, policy);
    within.world.clock.now = first.world.clock.now + 2 * DAY_IN_MS - 60_000;
    expect((await runFile(within.world, tenLines())).cacheHits).toBe(10);
    const past = cachedWorld(store, policy);
    past.world.clock.now = first.world.clock.now + 2 * DAY_IN_MS;
    expect((await runFile(past.world, tenLines())).cacheHits).toBeUndefined();
    expect(past.chat.calls).toHaveLength(10);
  });

  it('caches temperature 0 requests by default, others only when the job opts in', async () => {
    const store = new InMemoryResponseCache();
    const warm = tenLines([], { temperature: 0.7 });
    await runFile(cachedWorld(store).world, warm);
    expect(store.size).toBe(0);
    const again = cachedWorld(store);
    await runFile(again.world, warm);
    expect(again.chat.calls).toHaveLength(10);

    const optedIn = cachedWorld(store);
    await runFile(optedIn.world, warm, { cache: 'true' });
    expect(store.size).toBe(10);
    const rerun = cachedWorld(store);
    const job = await runFile(rerun.world, warm, { cache: 'true' });
    expect(rerun.chat.calls).toHaveLength(0);
    expect(job.cacheHits).toBe(10);
  });

  it('is off for a job that says cache=false (blob metadata or batch metadata), and everywhere with RESPONSE_CACHE=off', async () => {
    const store = new InMemoryResponseCache();
    await runFile(cachedWorld(store).world, tenLines());
    const optedOut = cachedWorld(store);
    expect((await runFile(optedOut.world, tenLines(), { Cache: 'false' })).cacheHits).toBeUndefined();
    expect(optedOut.chat.calls).toHaveLength(10);
    const byBatchMetadata = cachedWorld(store);
    const job = await runFile(byBatchMetadata.world, tenLines(), { batchmetadata: '{"cache":"false"}' });
    expect(job.cacheChoice).toBe(false);
    expect(byBatchMetadata.chat.calls).toHaveLength(10);
    const off = cachedWorld(store, { ...POLICY, mode: ResponseCacheMode.off });
    await runFile(off.world, tenLines(), { cache: 'true' });
    expect(off.chat.calls).toHaveLength(10);
  });

  it('caches every request with RESPONSE_CACHE=all', async () => {
    const store = new InMemoryResponseCache();
    const policy = { ...POLICY, mode: ResponseCacheMode.all };
    await runFile(cachedWorld(store, policy).world, tenLines([], {}));
    const rerun = cachedWorld(store, policy);
    expect((await runFile(rerun.world, tenLines([], {}))).cacheHits).toBe(10);
    expect(rerun.chat.calls).toHaveLength(0);
  });

  it('keys the request as sent: a line without max_tokens and one with the default are the same request', async () => {
    const store = new InMemoryResponseCache();
    const line = (maxTokens: Record<string, unknown>) =>
      JSON.stringify({
        custom_id: 'a',
        body: { messages: [{ role: 'user', content: 'hi' }], temperature: 0, ...maxTokens },
      });
    await runFile(cachedWorld(store).world, line({}));
    const same = cachedWorld(store);
    expect((await runFile(same.world, line({ max_tokens: 100 }))).cacheHits).toBe(1);
    const different = cachedWorld(store);
    expect((await runFile(different.world, line({ max_tokens: 99 }))).cacheHits).toBeUndefined();
  });

  it('does not store an answer over the size bound', async () => {
    const store = new InMemoryResponseCache();
    await runFile(cachedWorld(store, { ...POLICY, maxAnswerBytes: 100 }).world, tenLines());
    expect(store.size).toBe(0);
  });

  it('sends the lines when the lookup fails, and succeeds them when the store fails', async () => {
    const broken: ResponseCache = {
      getMany: () => Promise.reject(new Error('store down')),
      put: () => Promise.reject(new Error('store down')),
    };
    const { world, chat } = cachedWorld(broken);
    const job = await runFile(world, tenLines());
    expect(chat.calls).toHaveLength(10);
    expect(job).toMatchObject({ status: 'completed', counts: { succeeded: 10, failed: 0 } });
  });

  it('counts cache hits exactly at the end when a worker died between recording outcomes and counting them', async () => {
    const store = new InMemoryResponseCache();
    await runFile(cachedWorld(store).world, tenLines());
    const { world } = cachedWorld(store);
    const count = world.jobs.addToJobCounters.bind(world.jobs);
    let failures = 1;
    world.jobs.addToJobCounters = async (...args) => {
      if (failures-- > 0) throw new Error('host died after the outcomes were kept');
      return count(...args);
    };
    world.blobs.put('batch-input', 'in.jsonl', tenLines());
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    for (const payload of world.requestQueue.drain()) {
      const message = requestMessageOf(payload);
      await processRequestMessage(message, world.workerDeps).catch(async () => {
        // The queue delivers it again: its lines have outcomes already, so nothing is counted for them.
        expect((await processRequestMessage(message, world.workerDeps, { dequeueCount: 2 })).recorded).toBe(0);
      });
    }
    expect((await world.jobs.getJob(jobId))!.job.cacheHits).toBeLessThan(10);
    await finalizeJob(jobId, world.finalizeDeps);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job).toMatchObject({ status: 'completed', counts: { succeeded: 10, failed: 0 }, cacheHits: 10 });
  });

  it('gives a line answered from the cache exactly one outcome when its message is delivered again', async () => {
    const store = new InMemoryResponseCache();
    await runFile(cachedWorld(store).world, tenLines());
    const { world, chat } = cachedWorld(store);
    world.blobs.put('batch-input', 'in.jsonl', tenLines());
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    const messages = world.requestQueue.drain().map(requestMessageOf);
    // Each message twice: the second delivery finds every line done.
    for (const message of messages) {
      await processRequestMessage(message, world.workerDeps, { dequeueCount: 1 });
      const again = await processRequestMessage(message, world.workerDeps, { dequeueCount: 2 });
      expect(again.recorded).toBe(0);
    }
    await runQueues(world);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(chat.calls).toHaveLength(0);
    expect(job).toMatchObject({ status: 'completed', counts: { succeeded: 10, failed: 0 }, cacheHits: 10 });
    expect(await outputLines(world, jobId)).toHaveLength(10);
  });
});
