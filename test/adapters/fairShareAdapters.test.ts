import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CosmosClient } from '@azure/cosmos';
import { QueueServiceClient } from '@azure/storage-queue';
import { CosmosFairShareStore } from '../../src/adapters/cosmos/CosmosFairShareStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { AzureBacklogs, AzureQueueDepth, backlogQueueName } from '../../src/adapters/storage/AzureBacklogs.js';
import { AzureMessageQueue } from '../../src/adapters/storage/AzureMessageQueue.js';
import { addWork, backlogOf, planFeeds } from '../../src/core/fairShare.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { cosmosConfigOn } from '../support/cosmosOnStack.js';

let stack: LocalStack;
let client: CosmosClient;
let store: CosmosFairShareStore;
let queues: QueueServiceClient;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = cosmosConfigOn(stack, 'fair-share-store');
  client = createCosmosClient(config);
  store = new CosmosFairShareStore((await ensureCosmosContainers(client, config)).budget);
  queues = QueueServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
});

afterAll(async () => {
  client?.dispose();
  await stack?.close();
});

const job = (n: number) => `job_${n.toString(16).padStart(32, '0')}`;

describe('CosmosFairShareStore', () => {
  it('keeps every concurrent change: each is a conditional replace of the one document', async () => {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.update('d1', (state) => ({
          state: addWork(state, job(i), { weight: 4, ingest: { messages: 10, tokens: 1000 } }),
          result: undefined,
        })),
      ),
    );
    const state = await store.read('d1');
    expect(Object.keys(state.jobs)).toHaveLength(8);
    const picked = await store.update('d1', (s) => {
      const plan = planFeeds(s, 16, { nowInMs: 0, tokensPerMinute: 60_000 });
      return { state: plan.state, result: plan.picks.length };
    });
    expect(picked).toBe(16);
    const after = await store.read('d1');
    expect(Object.values(after.jobs).map((j) => backlogOf(j).messages)).toEqual([8, 8, 8, 8, 8, 8, 8, 8]);
  });

  it('reads an empty state for a deployment it has not seen', async () => {
    expect((await store.read('nowhere')).jobs).toEqual({});
  });
});

describe('AzureBacklogs against Azurite', () => {
  it('names each job’s backlog within Azure’s 63 characters', () => {
    expect(backlogQueueName('batch-requests', job(1))).toBe(`batch-requests-${'0'.repeat(31)}1`);
    expect(backlogQueueName('a'.repeat(70), job(1)).length).toBeLessThanOrEqual(63);
  });

  it('holds a job’s messages under a lease until removed, counts the leased ones, and drops', async () => {
    const backlogs = new AzureBacklogs(queues, 'fair-test');
    const id = job(42);
    await backlogs.send(id, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    const first = await backlogs.receive(id, 2, 30_000);
    expect(first.map((m) => m.payload)).toEqual([{ n: 1 }, { n: 2 }]);
    // Leased messages still count, as Azure's approximate count includes invisible messages.
    expect(await backlogs.approximateCount(id)).toBe(3);
    await backlogs.remove(id, first[0]!);
    expect(await backlogs.approximateCount(id)).toBe(2);
    expect((await backlogs.receive(id, 5, 30_000)).map((m) => m.payload)).toEqual([{ n: 3 }]);
    await backlogs.drop(id);
    expect(await backlogs.approximateCount(id)).toBe(0);
    expect(await backlogs.receive(id, 5, 30_000)).toEqual([]);
  });

  it('counts the work queue’s leased messages in its depth, as Azure does', async () => {
    const queue = queues.getQueueClient('fair-depth');
    const work = new AzureMessageQueue(queue);
    await work.ensureExists();
    await work.send([{ a: 1 }, { a: 2 }]);
    await queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 60 });
    expect(await new AzureQueueDepth(queue).approximateCount()).toBe(2);
  });
});
