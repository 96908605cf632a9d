import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CosmosClient } from '@azure/cosmos';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { cosmosConfigOn } from '../support/cosmosOnStack.js';
import { describeJobStoreConformance } from './jobStoreConformance.js';

let stack: LocalStack;
let client: CosmosClient;
let store: CosmosJobStore;
let config: Parameters<typeof ensureCosmosContainers>[1];

beforeAll(async () => {
  stack = await startLocalStack();
  config = cosmosConfigOn(stack, 'conformance');
  client = createCosmosClient(config);
  const containers = await ensureCosmosContainers(client, config);
  store = new CosmosJobStore(containers.jobs, containers.lines);
});

afterAll(async () => {
  client?.dispose();
  await stack?.close();
});

describeJobStoreConformance('Cosmos DB (local stand-in)', () => store);

describe('ensureCosmosContainers', () => {
  it('several instances starting at once all get the database and containers (a lost creation race is no error)', async () => {
    const fresh = { ...config, database: 'raced-start' };
    const results = await Promise.all([1, 2, 3, 4].map(() => ensureCosmosContainers(client, fresh)));
    for (const containers of results) expect(containers.ledger.id).toBe('ledger');
    const { resources } = await client.database('raced-start').containers.readAll().fetchAll();
    expect(resources.map((c) => c.id).sort()).toEqual(['budget', 'cache', 'jobs', 'ledger', 'lines', 'rollups']);
  });
});
