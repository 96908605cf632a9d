import type { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll } from 'vitest';
import { CosmosSpendBudgetStore } from '../../src/adapters/cosmos/CosmosSpendBudgetStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { cosmosConfigOn } from '../support/cosmosOnStack.js';
import { describeSpendBudgetStoreConformance } from './spendBudgetStoreConformance.js';

let stack: LocalStack;
let client: CosmosClient;
let store: CosmosSpendBudgetStore;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = cosmosConfigOn(stack, 'spend-budgets');
  client = createCosmosClient(config);
  store = new CosmosSpendBudgetStore((await ensureCosmosContainers(client, config)).budget);
});

afterAll(async () => {
  client?.dispose();
  await stack?.close();
});

describeSpendBudgetStoreConformance('Cosmos DB (local stand-in)', () => store);
