import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CosmosClient } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { CosmosFairShareStore } from '../../src/adapters/cosmos/CosmosFairShareStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { AzureBlobBacklogs, AzureQueueDepth, backlogBlobName } from '../../src/adapters/storage/AzureBlobBacklogs.js';
import { AzureMessageQueue } from '../../src/adapters/storage/AzureMessageQueue.js';
import { addWork, backlogOf, planFeeds } from '../../src/core/fairShare.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { cosmosConfigOn } from '../support/cosmosOnStack.js';

let stack: LocalStack;
let client: CosmosClient;
let store: CosmosFairShareStore;
let queues: QueueServiceClient;
let blobs: BlobServiceClient;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = cosmosConfigOn(stack, 'fair-share-store');
  client = createCosmosClient(config);
  store = new CosmosFairShareStore((await ensureCosmosContainers(client, config)).budget);
  queues = QueueServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
  blobs = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
  await blobs.getContainerClient('fair-test').createIfNotExists();
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

describe('AzureBlobBacklogs against Azurite', () => {
  it('keeps each job’s backlog beside its files, so deleting them takes it too', () => {
    expect(backlogBlobName(job(1))).toBe(`${job(1)}/backlog.jsonl`);
  });

  it('appends whole messages and reads on from an offset, leaving a cut-off message for the next read', async () => {
    const backlogs = new AzureBlobBacklogs(blobs, 'fair-test');
    const id = job(42);
    expect(await backlogs.read(id, 0, 1024)).toEqual({ messages: [], length: 0 });
    await backlogs.send(id, [{ n: 1 }, { n: 2 }]);
    await backlogs.send(id, [{ n: 3 }]);
    const line = '{"n":1}\n'.length;
    expect(await backlogs.length(id)).toBe(3 * line);
    // A read that ends inside the second message returns the first only.
    const first = await backlogs.read(id, 0, line + 3);
    expect(first).toEqual({ messages: [{ payload: { n: 1 }, endOffset: line }], length: 3 * line });
    const rest = await backlogs.read(id, line, 1024);
    expect(rest.messages.map((m) => m.payload)).toEqual([{ n: 2 }, { n: 3 }]);
    // At the end: nothing, and the length.
    expect(await backlogs.read(id, 3 * line, 1024)).toEqual({ messages: [], length: 3 * line });
    // A read narrower than one message reads wider rather than return nothing.
    expect((await backlogs.read(id, line, 2)).messages.map((m) => m.payload)).toEqual([{ n: 2 }]);
    await backlogs.drop(id);
    expect(await backlogs.length(id)).toBe(0);
    expect((await backlogs.read(id, 0, 1024)).messages).toEqual([]);
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
