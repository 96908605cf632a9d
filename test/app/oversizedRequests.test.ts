import { describe, expect, it } from 'vitest';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { InMemoryBudgetStore } from '../../src/adapters/memory/InMemoryBudgetStore.js';
import { Deployments } from '../../src/app/deployments.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { silentLogger } from '../../src/app/Logger.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { SharedRateLimiter } from '../../src/app/SharedRateLimiter.js';
import { loadConfig } from '../../src/config.js';
import { isValidationError } from '../../src/core/lineErrors.js';
import { defaultContextLength } from '../../src/core/requestLimits.js';
import { scheduleRates } from '../../src/core/SliceSchedule.js';
import { chatLine, createWorld, roughTokenCounter, ScriptedChatClient } from './fixtures.js';

type World = ReturnType<typeof createWorld>;

/** Timers on the world's clock: a timer fires on the next turn of the event loop, with the clock moved on by its delay. */
function virtualTimers(clock: { now: number }) {
  return {
    setTimeout: (callback: () => void, delayInMs: number): unknown =>
      setImmediate(() => {
        clock.now += delayInMs;
        callback();
      }),
    clearTimeout: (handle: unknown) => clearImmediate(handle as NodeJS.Immediate),
  };
}

async function runFile(
  world: World,
  deps: Partial<World['ingestDeps']>,
  workerDeps: Partial<World['workerDeps']>,
  lines: string[],
) {
  world.blobs.put('batch-input', 'in.jsonl', `${lines.join('\n')}\n`);
  const ingested = await ingestBlob('batch-input', 'in.jsonl', { ...world.ingestDeps, ...deps });
  const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
  let requeued = 0;
  for (const p of world.requestQueue.drain()) {
    requeued += (await processRequestMessage(requestMessageOf(p), { ...world.workerDeps, ...workerDeps })).requeued;
  }
  const outcomes = [];
  for await (const o of world.jobs.listOutcomes(jobId)) outcomes.push(o);
  return { jobId, outcomes, requeued };
}

describe('a request its deployment could never serve', () => {
  it('knows the context of each Phi-3 variant from its name, and takes a setting over it', () => {
    expect(defaultContextLength('Phi-3-mini-4k-instruct')).toBe(4096);
    expect(defaultContextLength('Phi-3-small-8k-instruct')).toBe(8192);
    expect(defaultContextLength('Phi-3-medium-128k-instruct')).toBe(131_072);
    expect(defaultContextLength('Phi-3.5-MoE-instruct')).toBe(131_072);
    const env = {
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      COSMOS_ENDPOINT: 'https://127.0.0.1:8081',
      PHI3_ENDPOINT: 'http://127.0.0.1:8000',
      PHI3_API_KEY: 'k',
    };
    expect(loadConfig({ ...env, PHI3_MODEL: 'Phi-3-mini-128k-instruct' }).phi3.deployments[0]!.contextLength).toBe(
      131_072,
    );
    expect(loadConfig({ ...env, PHI3_CONTEXT_LENGTH: '2048' }).phi3.deployments[0]!.contextLength).toBe(2048);
    expect(() => loadConfig({ ...env, PHI3_CONTEXT_LENGTH: 'big' })).toThrowError(/^Setting PHI3_CONTEXT_LENGTH:/);
  });

  it('max_tokens over the model context fails at ingest with context_length_exceeded, is never sent, and is never retried', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    const { outcomes } = await runFile(world, {}, {}, [
      chatLine('a', 'hello'),
      chatLine('big', 'hello', { max_tokens: 131_072 }),
      chatLine('b', 'there'),
    ]);
    expect(outcomes.map((o) => [o.customId, o.status, o.error?.code ?? null])).toEqual([
      ['a', 'succeeded', null],
      ['big', 'failed', 'context_length_exceeded'],
      ['b', 'succeeded', null],
    ]);
    expect(outcomes[1]!.error?.message).toContain('4096');
    expect(chat.calls.map((c) => c.customId)).toEqual(['a', 'b']);
    expect(world.limiter.acquired).toBe(2);
    expect(isValidationError('context_length_exceeded')).toBe(true);
  });

  it('a prompt far over the context, among lines not counted at ingest, fails in the worker before it takes the budget', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    const { outcomes } = await runFile(world, { exactTokenLines: 0, maxLineBytes: 100_000 }, {}, [
      chatLine('a', 'hello'),
      chatLine('long', 'x'.repeat(20_000)),
    ]);
    expect(outcomes.map((o) => [o.customId, o.status, o.error?.code ?? null, o.attempts])).toEqual([
      ['a', 'succeeded', null, 1],
      ['long', 'failed', 'context_length_exceeded', 0],
    ]);
    expect(chat.calls.map((c) => c.customId)).toEqual(['a']);
    expect(world.limiter.acquired).toBe(1);
  });

  it('a request over the deployment tokens per minute fails clearly instead of waiting for a window that never comes', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    const requestLimits = { contextLength: 131_072, tokensPerMinute: 50_000 };
    const deployments = new Deployments([
      {
        name: 'test',
        model: 'Phi-3-mini-128k-instruct',
        chat,
        limiter: world.limiter,
        tokenCounter: roughTokenCounter,
        requestLimits,
      },
    ]);
    const { outcomes } = await runFile(world, { deployments, exactTokenLines: 0 }, { deployments }, [
      chatLine('a', 'hello', { model: 'Phi-3-mini-128k-instruct' }),
      chatLine('huge', 'hello', { model: 'Phi-3-mini-128k-instruct', max_tokens: 100_000 }),
    ]);
    expect(outcomes.map((o) => [o.customId, o.error?.code ?? null])).toEqual([
      ['a', null],
      ['huge', 'tokens_exceed_rate_limit'],
    ]);
    expect(chat.calls).toHaveLength(1);
  });

  it('does not move the shared budget: the other lines of the deployment are admitted at once, none re-queued', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    const store = new InMemoryBudgetStore();
    const limiter = new SharedRateLimiter({
      deploymentId: 'test',
      rates: scheduleRates({ requestsPerMinute: 1000, tokensPerMinute: 200_000 }, 0.98),
      sliceInMs: 1000,
      store,
      clock: world.clock,
      timers: virtualTimers(world.clock),
      logger: silentLogger,
    });
    const deployments = new Deployments([
      { name: 'test', model: 'Phi-3-mini-4k-instruct', chat, limiter, tokenCounter: roughTokenCounter },
    ]);
    const lines = [
      chatLine('big', 'hello', { max_tokens: 131_072 }),
      ...Array.from({ length: 3 }, (_, i) => chatLine(`r${i}`, `prompt ${i}`)),
    ];
    const { outcomes, requeued } = await runFile(world, { deployments }, { deployments }, lines);
    expect(requeued).toBe(0);
    expect(outcomes.filter((o) => o.status === 'succeeded')).toHaveLength(3);
    // The cursor is where three small requests put it, not 40 s of a 131,072-token reservation ahead.
    expect(store.stateOf('test').cursorInMs - world.clock.now).toBeLessThan(2_000);
  });
});
