import { randomUUID } from 'node:crypto';
import type { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosmosResponseCache } from '../../src/adapters/cosmos/CosmosResponseCache.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import type { Job } from '../../src/core/job.js';
import { DEFAULT_PRICES } from '../../src/core/pricing.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { cosmosPipeline } from '../support/cosmosPipeline.js';
import { requestMessageOf } from '../support/requestMessageOf.js';

const MODEL = 'Phi-3-mini-4k-instruct';

let stack: LocalStack;
let simulator: Phi3Simulator;
let cosmos: CosmosClient;
let containers: Awaited<ReturnType<typeof ensureCosmosContainers>>;

beforeAll(async () => {
  stack = await startLocalStack();
  simulator = await startPhi3Simulator({
    model: MODEL,
    latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 },
  });
  const config = loadConfig(
    withSettingDefaults({
      ...stack.settings,
      PHI3_ENDPOINT: simulator.url,
      PHI3_API_KEY: simulator.apiKey,
      COSMOS_DATABASE: 'responsecacheuse',
    }),
  ).cosmos;
  cosmos = createCosmosClient(config);
  containers = await ensureCosmosContainers(cosmos, config);
});

afterAll(async () => {
  cosmos?.dispose();
  await simulator?.close();
  await stack?.close();
});

/** The pipeline over the Cosmos stand-in and the simulator, with the response cache on (temperature 0). */
function pipeline() {
  const { chat, jobs, ledger, blobs, requestQueue, controlQueue, ingestDeps, workerDeps, finalizeAsked } =
    cosmosPipeline({
      simulator,
      model: MODEL,
      containers,
      clock: { nowInMs: () => Date.UTC(2026, 11, 7, 12) },
      prices: DEFAULT_PRICES,
      requestsPerMessage: 4,
      maxRequeueDelayInMs: 60_000,
      responseCache: {
        store: new CosmosResponseCache(containers.cache),
        policy: { mode: 'temperature-zero', maxAgeInMs: 86_400_000, maxAnswerBytes: 65_536 },
      },
    });
  return {
    chat,
    ledger,
    async run(name: string, content: string): Promise<Job> {
      blobs.put('in', name, content);
      const ingested = await ingestBlob('in', name, ingestDeps);
      if (ingested.kind !== 'ingested') throw new Error(`not ingested: ${ingested.kind}`);
      for (let round = 0; round < 5; round += 1) {
        for (const p of requestQueue.drain()) await processRequestMessage(requestMessageOf(p), workerDeps);
        await finalizeAsked(controlQueue.drain());
      }
      return (await jobs.getJob(ingested.jobId))!.job;
    },
    async output(jobId: string): Promise<Array<Record<string, unknown>>> {
      const text = (await blobs.download('out', `${jobId}/results.jsonl`))!.toString();
      return text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
  };
}

const file = (run: string, changed: readonly number[]) =>
  Array.from({ length: 12 }, (_, i) =>
    JSON.stringify({
      custom_id: `q${i}`,
      body: {
        model: MODEL,
        messages: [{ role: 'user', content: `${run} question ${i}${changed.includes(i) ? ' (fixed)' : ''}` }],
        temperature: 0,
        max_tokens: 10 + i,
      },
    }),
  ).join('\n');

describe('the response cache on Cosmos with the simulator', () => {
  it('a rerun with three changed lines calls the endpoint three times; the other nine are cached at $0', async () => {
    const run = randomUUID();
    const { chat, ledger, ...p } = pipeline();
    try {
      const callsBefore = simulator.log.entries().length;
      const first = await p.run('a.jsonl', file(run, []));
      expect(simulator.log.entries().length - callsBefore).toBe(12);
      expect(first).toMatchObject({ status: 'completed', counts: { succeeded: 12, failed: 0 } });

      const callsBeforeRerun = simulator.log.entries().length;
      const rerun = await p.run('a.jsonl', file(run, [1, 6, 11]));
      expect(simulator.log.entries().length - callsBeforeRerun).toBe(3);
      expect(rerun).toMatchObject({ status: 'completed', counts: { succeeded: 12, failed: 0 }, cacheHits: 9 });
      expect(rerun.cacheSavedInNanos).toBeGreaterThan(0);
      const entries = [];
      for await (const entry of ledger.listEntries(rerun.id)) entries.push(entry);
      expect(entries.map((e) => e.line).sort((a, b) => a - b)).toEqual([2, 7, 12]);
      expect(rerun.usage.costInNanos).toBe(entries.reduce((sum, e) => sum + e.costInNanos, 0));
      const output = await p.output(rerun.id);
      expect(output.filter((line) => line['cached'] === true)).toHaveLength(9);
      const firstOutput = await p.output(first.id);
      const body = (lines: Array<Record<string, unknown>>, id: string) =>
        (lines.find((line) => line['custom_id'] === id)!['response'] as { body: unknown }).body;
      expect(body(output, 'q0')).toEqual(body(firstOutput, 'q0'));
    } finally {
      await chat.close();
    }
  });
});
