import { randomUUID } from 'node:crypto';
import { CosmosJobSpendStore } from '../../src/adapters/cosmos/CosmosJobSpendStore.js';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { CosmosRollupStore } from '../../src/adapters/cosmos/CosmosRollupStore.js';
import { CosmosUsageLedger } from '../../src/adapters/cosmos/CosmosUsageLedger.js';
import type { CosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { InMemoryBlobStore } from '../../src/adapters/memory/InMemoryBlobStore.js';
import { InMemoryMessageQueue } from '../../src/adapters/memory/InMemoryMessageQueue.js';
import { Phi3ChatClient } from '../../src/adapters/phi3/Phi3ChatClient.js';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import { Deployments } from '../../src/app/deployments.js';
import { finalizeJob, type FinalizeDeps } from '../../src/app/finalizeJob.js';
import type { IngestDeps } from '../../src/app/ingestBlob.js';
import { silentLogger } from '../../src/app/Logger.js';
import type { ChatClient, Clock, JobStore } from '../../src/app/ports.js';
import { ResultParts } from '../../src/app/resultParts.js';
import type { ResponseCacheDeps } from '../../src/app/worker/cachedAnswers.js';
import { buildWorkerDeps } from '../../src/buildWorkerDeps.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import type { ModelPrice } from '../../src/core/pricing.js';
import type { Phi3Simulator } from '../../dev/simulator/index.js';
import { RecordingLimiter } from '../app/fixtures.js';

export interface CosmosPipelineOptions {
  readonly simulator: Phi3Simulator;
  readonly model: string;
  readonly containers: CosmosContainers;
  readonly clock: Clock;
  readonly prices: readonly ModelPrice[];
  readonly requestsPerMessage: number;
  readonly maxRequeueDelayInMs: number;
  /** Stands between the use cases and the Cosmos job store (to make some of its writes fail). */
  readonly wrapJobs?: (jobs: JobStore) => JobStore;
  /** Stands between the worker and the simulator's client (to move the clock with each call). */
  readonly wrapChat?: (chat: ChatClient) => ChatClient;
  readonly responseCache?: ResponseCacheDeps;
}

/**
 * The ingest, worker and finalize use cases over the Cosmos stand-in's stores and the simulator, with
 * in-memory blobs and queues that the test drains itself: for adapter tests that run whole jobs.
 */
export function cosmosPipeline(options: CosmosPipelineOptions) {
  const { containers, clock, prices, simulator, model } = options;
  const chat = (options.wrapChat ?? ((c) => c))(
    new Phi3ChatClient({
      endpoint: simulator.url,
      apiKey: simulator.apiKey,
      apiVersion: '2024-05-01-preview',
      timeoutInMs: 10_000,
      connections: 4,
    }),
  );
  const deployments = new Deployments([
    { name: 'sim', model, chat, limiter: new RecordingLimiter(clock), tokenCounter: createTokenCounter(model) },
  ]);
  const jobs = (options.wrapJobs ?? ((j) => j))(new CosmosJobStore(containers.jobs, containers.lines));
  const ledger = new CosmosUsageLedger(containers.ledger);
  const rollups = new CosmosRollupStore(containers.rollups);
  const blobs = new InMemoryBlobStore();
  const requestQueue = new InMemoryMessageQueue();
  const controlQueue = new InMemoryMessageQueue();
  const resultParts = new ResultParts(blobs, 'out', () => randomUUID().replaceAll('-', '').slice(0, 16));
  const queues = { jobs, blobs, requestQueue, controlQueue, deployments, resultParts, clock };
  const ingestDeps: IngestDeps = {
    ...queues,
    logger: silentLogger,
    defaultMaxTokens: 32,
    maxLineBytes: 65_536,
    maxLinesPerFile: 1000,
    packing: { maxMessageBytes: 8192, maxItemsPerMessage: options.requestsPerMessage },
    prices,
    defaultMaxCostInNanos: undefined,
    stateContainer: 'out',
    chunkLines: 200_000,
    exactTokenLines: 1_000,
  };
  const workerDeps = buildWorkerDeps(
    {
      ...queues,
      ledger,
      jobSpend: new CosmosJobSpendStore(containers.jobs),
      random: () => 0.5,
      sleep: async () => {},
      newCallId: randomUUID,
      ...(options.responseCache === undefined ? {} : { responseCache: options.responseCache }),
    },
    {
      retry: {
        maxAttempts: 2,
        baseDelayInMs: 1,
        maxDelayInMs: 1,
        maxInlineWaitInMs: 1000,
        maxRequeueDelayInMs: options.maxRequeueDelayInMs,
      },
      prices,
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
  /** Finalizes the jobs the control queue asks for; the other control messages are dropped. */
  const finalizeAsked = async (payloads: readonly unknown[]): Promise<void> => {
    for (const payload of payloads) {
      const message = parseControlMessage(payload);
      if (typeof message !== 'string' && message.kind === 'finalize') await finalizeJob(message.jobId, finalizeDeps);
    }
  };
  return { chat, jobs, ledger, rollups, blobs, requestQueue, controlQueue, ingestDeps, workerDeps, finalizeAsked };
}
