import type { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll } from 'vitest';
import { CosmosJobSpendStore } from '../../src/adapters/cosmos/CosmosJobSpendStore.js';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { CosmosRollupStore } from '../../src/adapters/cosmos/CosmosRollupStore.js';
import { CosmosUsageLedger } from '../../src/adapters/cosmos/CosmosUsageLedger.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import { startLocalStack, type LocalStack } from '../../src/local/stack/index.js';
import { describeCostStoresConformance, type CostStores } from './costStoresConformance.js';

let stack: LocalStack;
let client: CosmosClient;
let stores: CostStores;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = loadConfig(withSettingDefaults({ ...stack.settings, PHI3_ENDPOINT: 'http://127.0.0.1:9', PHI3_API_KEY: 'unused', COSMOS_DATABASE: 'coststores' })).cosmos;
  client = createCosmosClient(config);
  const containers = await ensureCosmosContainers(client, config);
  const jobs = new CosmosJobStore(containers.jobs, containers.lines);
  stores = {
    ledger: new CosmosUsageLedger(containers.ledger),
    rollups: new CosmosRollupStore(containers.rollups),
    jobs,
    jobSpend: new CosmosJobSpendStore(containers.jobs),
  };
});

afterAll(async () => {
  client?.dispose();
  await stack?.close();
});

describeCostStoresConformance('Cosmos DB (local stand-in)', () => stores);
