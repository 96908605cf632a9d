import { describe, expect, it } from 'vitest';
import { InMemoryMetrics } from '../../../src/adapters/memory/InMemoryMetrics.js';
import { ingestBlob } from '../../../src/app/ingestBlob.js';
import { silentLogger } from '../../../src/app/Logger.js';
import { processRequestMessage } from '../../../src/app/processRequestMessage.js';
import { buildWorkerDeps } from '../../../src/buildWorkerDeps.js';
import { DEFAULT_PRICES } from '../../../src/core/pricing.js';
import { requestMessageOf } from '../../support/requestMessageOf.js';
import { chatLine, createWorld, okResponse, roughTokenCounter, ScriptedChatClient } from '../fixtures.js';

/* The worker reports its use of the budget as it goes: admissions and their tokens, 429s, calls in flight, latency, its size. */

describe("the worker's metrics", () => {
  it('records every call admitted, the 429s, the calls in flight and how each call ended', async () => {
    const chat = new ScriptedChatClient((body, call) =>
      call === 1
        ? {
            kind: 'response',
            status: 429,
            headers: { 'retry-after-ms': '10' },
            body: {},
            requestId: 'r',
            latencyInMs: 7,
          }
        : okResponse(body),
    );
    const world = createWorld(chat);
    const metrics = new InMemoryMetrics();
    const workerDeps = buildWorkerDeps(
      { ...world, ...world.workerDeps, metrics, blobs: world.blobs },
      {
        retry: world.workerDeps.retry,
        prices: DEFAULT_PRICES,
        defaultMaxTokens: 100,
        returnUnusedTokens: false,
        concurrency: { maxConcurrency: 16, deployments: [{ name: 'test', requestsPerMinute: 1_200 }] },
      },
    )(silentLogger);
    world.blobs.put('batch-input', 'in.jsonl', [chatLine('a', 'prompt 1'), chatLine('b', 'prompt 2')].join('\n'));
    await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    for (const payload of world.requestQueue.drain())
      await processRequestMessage(requestMessageOf(payload), workerDeps);

    const test = metrics.snapshot().deployments['test']!;
    expect(test.admittedRequests).toBe(3);
    // Each charged its prompt + max_tokens at admission.
    const charged = chat.calls.map(
      (call) => roughTokenCounter.countChatPrompt(call.body.messages) + (call.body.max_tokens as number),
    );
    expect(test.admittedTokens).toBe(charged.reduce((sum, tokens) => sum + tokens, 0));
    expect(test.throttled).toBe(1);
    expect(test.inFlight).toBe(0);
    expect(test.callsByResult).toEqual({ throttled: 1, succeeded: 2 });
    // 20 calls/s; answers in no time on this clock: the minimum of 4 calls under way.
    expect(test.inFlightTarget).toBe(4);
    expect(test.latencySizedForInMs).toBe(0);
  });
});
