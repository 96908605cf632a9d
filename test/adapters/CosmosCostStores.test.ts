import type { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosmosJobSpendStore } from '../../src/adapters/cosmos/CosmosJobSpendStore.js';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { CosmosRollupStore } from '../../src/adapters/cosmos/CosmosRollupStore.js';
import { CosmosUsageLedger } from '../../src/adapters/cosmos/CosmosUsageLedger.js';
import {
  createCosmosClient,
  ensureCosmosContainers,
  warmBulkRouting,
} from '../../src/adapters/cosmos/createCosmosClient.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { describeCostStoresConformance, ledgerEntry, type CostStores } from './costStoresConformance.js';
import { uniqueJobId } from './jobStoreConformance.js';
import { ledgerTotals } from '../../src/app/ledgerTotals.js';

let stack: LocalStack;
let client: CosmosClient;
let stores: CostStores;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = loadConfig(
    withSettingDefaults({
      ...stack.settings,
      PHI3_ENDPOINT: 'http://127.0.0.1:9',
      PHI3_API_KEY: 'unused',
      COSMOS_DATABASE: 'coststores',
    }),
  ).cosmos;
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

describe('the Cosmos ledger writes in bulk', () => {
  it('sends writes issued together as one bulk request, and still answers each write for itself', async () => {
    const jobId = uniqueJobId();
    const entries = Array.from({ length: 40 }, () => ledgerEntry(jobId));
    await stores.ledger.record(entries[0]!);
    const before = stack.cosmos!.requestCount();
    const created = await Promise.all(entries.map((entry) => stores.ledger.record(entry)));
    const requests = stack.cosmos!.requestCount() - before;
    expect(created).toEqual([false, ...entries.slice(1).map(() => true)]);
    // One bulk request (the SDK may add a metadata read), not forty.
    expect(requests).toBeLessThanOrEqual(2);

    const beforeSettle = stack.cosmos!.requestCount();
    await Promise.all([
      ...entries.slice(0, 20).map((entry) => stores.ledger.settle({ ...entry, costInNanos: 1 })),
      ...entries.slice(20).map((entry) => stores.ledger.discard(jobId, entry.id)),
      stores.ledger.discard(jobId, 'never-written'),
    ]);
    expect(stack.cosmos!.requestCount() - beforeSettle).toBeLessThanOrEqual(2);
    expect(await ledgerTotals(stores.ledger, jobId)).toMatchObject({ calls: 20, costInNanos: 20 });
  });
});

describe('warming the bulk path', () => {
  const firstBulkRequests = async (warm: boolean): Promise<number> => {
    const config = loadConfig(
      withSettingDefaults({
        ...stack.settings,
        PHI3_ENDPOINT: 'http://127.0.0.1:9',
        PHI3_API_KEY: 'unused',
        COSMOS_DATABASE: 'coststores',
      }),
    ).cosmos;
    const fresh = createCosmosClient(config);
    try {
      const { ledger } = await ensureCosmosContainers(fresh, config);
      if (warm) await warmBulkRouting([ledger]);
      const before = stack.cosmos!.requestCount();
      await new CosmosUsageLedger(ledger).record(ledgerEntry(uniqueJobId()));
      return stack.cosmos!.requestCount() - before;
    } finally {
      fresh.dispose();
    }
  };

  it("leaves a new client's first bulk write one request instead of several", async () => {
    expect(await firstBulkRequests(false)).toBeGreaterThan(1);
    expect(await firstBulkRequests(true)).toBe(1);
  });
});
