import { randomUUID } from 'node:crypto';
import type { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosmosJobSpendStore } from '../../src/adapters/cosmos/CosmosJobSpendStore.js';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { CosmosResponseCache } from '../../src/adapters/cosmos/CosmosResponseCache.js';
import { CosmosRollupStore } from '../../src/adapters/cosmos/CosmosRollupStore.js';
import { CosmosUsageLedger } from '../../src/adapters/cosmos/CosmosUsageLedger.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { InMemoryBlobStore } from '../../src/adapters/memory/InMemoryBlobStore.js';
import { InMemoryMessageQueue } from '../../src/adapters/memory/InMemoryMessageQueue.js';
import { Phi3ChatClient } from '../../src/adapters/phi3/Phi3ChatClient.js';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import { Deployments } from '../../src/app/deployments.js';
import { finalizeJob, type FinalizeDeps } from '../../src/app/finalizeJob.js';
import { ingestBlob, type IngestDeps } from '../../src/app/ingestBlob.js';
import { silentLogger } from '../../src/app/Logger.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { ResultParts } from '../../src/app/resultParts.js';
import { buildWorkerDeps } from '../../src/buildWorkerDeps.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import type { Job } from '../../src/core/job.js';
import { DEFAULT_PRICES } from '../../src/core/pricing.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { RecordingLimiter } from '../app/fixtures.js';

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
  const clock = { nowInMs: () => Date.UTC(2026, 11, 7, 12) };
  const chat = new Phi3ChatClient({
    endpoint: simulator.url,
    apiKey: simulator.apiKey,
    apiVersion: '2024-05-01-preview',
    timeoutInMs: 10_000,
    connections: 4,
  });
  const deployments = new Deployments([
    { name: 'sim', model: MODEL, chat, limiter: new RecordingLimiter(clock), tokenCounter: createTokenCounter(MODEL) },
  ]);
  const jobs = new CosmosJobStore(containers.jobs, containers.lines);
  const ledger = new CosmosUsageLedger(containers.ledger);
  const rollups = new CosmosRollupStore(containers.rollups);
  const blobs = new InMemoryBlobStore();
  const requestQueue = new InMemoryMessageQueue();
  const controlQueue = new InMemoryMessageQueue();
  const resultParts = new ResultParts(blobs, 'out', () => randomUUID().replaceAll('-', '').slice(0, 16));
  const ingestDeps: IngestDeps = {
    jobs,
    blobs,
    requestQueue,
    controlQueue,
    deployments,
    clock,
    logger: silentLogger,
    resultParts,
    defaultMaxTokens: 32,
    maxLineBytes: 65_536,
    maxLinesPerFile: 1000,
    packing: { maxMessageBytes: 8192, maxItemsPerMessage: 4 },
    prices: DEFAULT_PRICES,
    defaultMaxCostInNanos: undefined,
    stateContainer: 'out',
    chunkLines: 200_000,
    exactTokenLines: 1_000,
  };
  const workerDeps = buildWorkerDeps(
    {
      jobs,
      blobs,
      requestQueue,
      controlQueue,
      deployments,
      ledger,
      jobSpend: new CosmosJobSpendStore(containers.jobs),
      resultParts,
      clock,
      random: () => 0.5,
      sleep: async () => {},
      newCallId: randomUUID,
      responseCache: {
        store: new CosmosResponseCache(containers.cache),
        policy: { mode: 'temperature-zero', maxAgeInMs: 86_400_000, maxAnswerBytes: 65_536 },
      },
    },
    {
      retry: {
        maxAttempts: 2,
        baseDelayInMs: 1,
        maxDelayInMs: 1,
        maxInlineWaitInMs: 1000,
        maxRequeueDelayInMs: 60_000,
      },
      prices: DEFAULT_PRICES,
      defaultMaxTokens: 32,
      returnUnusedTokens: false,
    },
  )(silentLogger);
  const finalizeDeps: FinalizeDeps = {
    jobs,
    clock,
    logger: silentLogger,
    outputContainer: 'out',
    ledger,
    rollups,
    resultParts,
  };

  return {
    chat,
    ledger,
    async run(name: string, content: string): Promise<Job> {
      blobs.put('in', name, content);
      const ingested = await ingestBlob('in', name, ingestDeps);
      if (ingested.kind !== 'ingested') throw new Error(`not ingested: ${ingested.kind}`);
      for (let round = 0; round < 5; round += 1) {
        for (const p of requestQueue.drain()) await processRequestMessage(requestMessageOf(p), workerDeps);
        for (const payload of controlQueue.drain()) {
          const message = parseControlMessage(payload);
          if (typeof message !== 'string' && message.kind === 'finalize')
            await finalizeJob(message.jobId, finalizeDeps);
        }
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
