import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CosmosClient } from '@azure/cosmos';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { retryFailedLines } from '../../src/app/retryFailedLines.js';
import type { LineOutcome } from '../../src/core/lineOutcome.js';
import type { RequestMessage } from '../../src/core/requestMessage.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { cosmosConfigOn } from '../support/cosmosOnStack.js';
import { finishedJobWithFailures } from '../app/finishedJob.js';

let stack: LocalStack;
let client: CosmosClient;
let store: CosmosJobStore;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = cosmosConfigOn(stack, 'concurrent-retry');
  client = createCosmosClient(config);
  const containers = await ensureCosmosContainers(client, config);
  store = new CosmosJobStore(containers.jobs, containers.lines);
});

afterAll(async () => {
  client?.dispose();
  await stack?.close();
});

describe('concurrent retries of one job (Cosmos DB stand-in)', () => {
  it('exactly one wins with an ETag-conditional write; the others get 409; every failed line is queued once', async () => {
    // The finished job and its outcomes, moved into Cosmos.
    const { world, jobId } = await finishedJobWithFailures();
    await store.createJob((await world.jobs.getJob(jobId))!.job);
    const outcomes: LineOutcome[] = [];
    for await (const outcome of world.jobs.listOutcomes(jobId)) outcomes.push(outcome);
    await store.recordOutcomes(outcomes);

    const deps = { ...world.ingestDeps, jobs: store };
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => retryFailedLines(deps, jobId, { retryableOnly: false })),
    );

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => r.reason)).toEqual([
      expect.objectContaining({ code: 'conflict' }),
      expect.objectContaining({ code: 'conflict' }),
    ]);
    expect((await store.getJob(jobId))!.job).toMatchObject({
      status: 'in_progress',
      retries: 1,
      counts: { succeeded: 1, failed: 0 },
    });
    const queuedLines = world.requestQueue.sent.flatMap((m) =>
      (m.payload as RequestMessage).items.map((item) => item.line),
    );
    expect(queuedLines.sort()).toEqual([2, 3, 4]);
  });
});
