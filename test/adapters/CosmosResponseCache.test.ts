import type { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosmosResponseCache } from '../../src/adapters/cosmos/CosmosResponseCache.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { cachedAnswer, describeResponseCacheConformance } from './responseCacheConformance.js';

let stack: LocalStack;
let client: CosmosClient;
let store: CosmosResponseCache;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = loadConfig(
    withSettingDefaults({
      ...stack.settings,
      PHI3_ENDPOINT: 'http://127.0.0.1:9',
      PHI3_API_KEY: 'unused',
      COSMOS_DATABASE: 'responsecache',
    }),
  ).cosmos;
  client = createCosmosClient(config);
  const containers = await ensureCosmosContainers(client, config);
  store = new CosmosResponseCache(containers.cache);
});

afterAll(async () => {
  client?.dispose();
  await stack?.close();
});

describeResponseCacheConformance('Cosmos DB (local stand-in)', () => store);

describe('the Cosmos response cache', () => {
  it('looks a message’s lines up with one point read each', async () => {
    const answers = Array.from({ length: 8 }, () => cachedAnswer());
    await Promise.all(answers.map((answer) => store.put(answer)));
    const before = stack.cosmos!.requestCount();
    const found = await store.getMany([...answers.map((a) => a.key), cachedAnswer().key]);
    expect(found.size).toBe(8);
    expect(stack.cosmos!.requestCount() - before).toBeLessThanOrEqual(9);
  });
});
