import { afterAll, beforeAll } from 'vitest';
import type { CosmosClient } from '@azure/cosmos';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { startLocalStack, type LocalStack } from '../../src/local/stack/index.js';
import { describeJobStoreConformance } from './jobStoreConformance.js';

let stack: LocalStack;
let client: CosmosClient;
let store: CosmosJobStore;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = {
    endpoint: stack.settings['COSMOS_ENDPOINT']!,
    key: stack.settings['COSMOS_KEY'],
    clientId: undefined,
    database: 'conformance',
    jobsContainer: 'jobs',
    linesContainer: 'lines',
    budgetContainer: 'budget',
    ledgerContainer: 'ledger',
    rollupsContainer: 'rollups',
    caCertFile: stack.settings['COSMOS_CA_CERT_FILE'],
  };
  client = createCosmosClient(config);
  const containers = await ensureCosmosContainers(client, config);
  store = new CosmosJobStore(containers.jobs, containers.lines);
});

afterAll(async () => {
  client?.dispose();
  await stack?.close();
});

describeJobStoreConformance('Cosmos DB (local stand-in)', () => store);
