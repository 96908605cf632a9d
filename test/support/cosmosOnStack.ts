import type { ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import type { LocalStack } from '../../dev/local/stack/index.js';

export type CosmosTestConfig = Parameters<typeof ensureCosmosContainers>[1];

/** The app's Cosmos settings for a database of its own on the local stack's Cosmos stand-in. */
export function cosmosConfigOn(stack: LocalStack, database: string): CosmosTestConfig {
  return {
    endpoint: stack.settings['COSMOS_ENDPOINT']!,
    key: stack.settings['COSMOS_KEY'],
    clientId: undefined,
    database,
    jobsContainer: 'jobs',
    linesContainer: 'lines',
    budgetContainer: 'budget',
    ledgerContainer: 'ledger',
    rollupsContainer: 'rollups',
    cacheContainer: 'cache',
    caCertFile: stack.settings['COSMOS_CA_CERT_FILE'],
  };
}
