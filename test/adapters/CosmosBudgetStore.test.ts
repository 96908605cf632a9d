import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CosmosClient } from '@azure/cosmos';
import { CosmosBudgetStore } from '../../src/adapters/cosmos/CosmosBudgetStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { cosmosConfigOn } from '../support/cosmosOnStack.js';

let stack: LocalStack;
let client: CosmosClient;
let store: CosmosBudgetStore;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = cosmosConfigOn(stack, 'budget-store');
  client = createCosmosClient(config);
  store = new CosmosBudgetStore((await ensureCosmosContainers(client, config)).budget);
});

afterAll(async () => {
  client?.dispose();
  await stack?.close();
});

describe('CosmosBudgetStore', () => {
  it("keeps a deployment's halt with its schedule, until a change takes it off", async () => {
    const halt = { code: 'deployment_rejected', message: 'HTTP 401', atInMs: 5 };
    await store.update('d', (state) => ({ state: { ...state, cursorInMs: 10, halt }, result: undefined }));
    const read = await store.update('d', (state) => ({ state, result: state }));
    expect(read).toEqual({ cursorInMs: 10, pausedUntilInMs: 0, halt });

    await store.update('d', (state) => ({ state: { ...state, halt: undefined }, result: undefined }));
    expect((await store.update('d', (state) => ({ state, result: state }))).halt).toBeUndefined();
  });
});
