import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import { jobIdFor } from '../../src/core/jobId.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { spawnHostProcess, type RunningHostProcess } from '../support/hostProcess.js';
import { waitFor } from '../support/waitFor.js';

/**
 * Three worker processes share one deployment. Time is scaled: limits per minute stay as configured,
 * but the simulator enforces its token window over 6 s, so the whole run fits in a few windows.
 */
const RPM = 6000;
const TPM = 60_000;
const TOKEN_WINDOW_IN_MS = 6_000;
const SLICE_IN_MS = 500;
const LINES = 160;

let stack: LocalStack;
let simulator: Phi3Simulator;
const hosts: RunningHostProcess[] = [];
let cosmosClient: ReturnType<typeof createCosmosClient>;
let jobs: CosmosJobStore;

beforeAll(async () => {
  stack = await startLocalStack();
  simulator = await startPhi3Simulator({
    latency: { baseInMs: 20, perCompletionTokenInMs: 0, jitterInMs: 0 },
    limits: {
      requestsPerMinute: RPM,
      tokensPerMinute: TPM,
      tokenWindowInMs: TOKEN_WINDOW_IN_MS,
      requestWindowInMs: 1_000,
    },
  });
  const settings: Record<string, string> = {
    ...stack.settings,
    PHI3_ENDPOINT: simulator.url,
    PHI3_API_KEY: simulator.apiKey,
    PHI3_RPM_LIMIT: String(RPM),
    PHI3_TPM_LIMIT: String(TPM),
    PHI3_BUDGET_SCOPE: 'deployment',
    PHI3_BUDGET_SLICE_MS: String(SLICE_IN_MS),
    // 80 messages of 2 lines, fed a few at a time (the feeder keeps only a short lead in the work queue), so
    // every host's receives find some of them.
    QUEUE_MESSAGE_MAX_REQUESTS: '2',
    PHI3_DEPLOYMENT: 'shared-test',
    COSMOS_DATABASE: 'sharedbudget',
    INPUT_CONTAINER: 'batch-input',
    OUTPUT_CONTAINER: 'batch-output',
    REQUEST_QUEUE: 'batch-requests',
    CONTROL_QUEUE: 'batch-control',
    SWEEPER_SCHEDULE: '0 0 0 1 1 *',
    FEEDER_SCHEDULE: '*/10 * * * * *',
    LOCAL_HOST_HTTP_PORT: 'off',
    LOCAL_HOST_BLOB_POLL_MS: '200',
    LOCAL_HOST_ENTRY: fileURLToPath(new URL('../../src/index.ts', import.meta.url)),
  };
  for (let i = 0; i < 3; i += 1) hosts.push(await spawnHostProcess({ env: settings, readyTimeoutInMs: 60_000 }));
  const cosmosConfig = loadConfig(withSettingDefaults(settings)).cosmos;
  cosmosClient = createCosmosClient(cosmosConfig);
  const containers = await ensureCosmosContainers(cosmosClient, cosmosConfig);
  jobs = new CosmosJobStore(containers.jobs, containers.lines);
}, 120_000);

afterAll(async () => {
  await Promise.all(
    hosts.map((h) =>
      h.stop().catch((error: unknown) => {
        throw new Error(`${String(error)}; its last lines: ${JSON.stringify(h.lines.slice(-8))}`);
      }),
    ),
  );
  cosmosClient?.dispose();
  await simulator?.close();
  await stack?.close();
});

describe('one budget shared by three worker processes', () => {
  it('never exceeds the token window by more than one slice, and every line completes', async () => {
    const lines = Array.from({ length: LINES }, (_, i) =>
      JSON.stringify({
        custom_id: `r${i}`,
        messages: [{ role: 'user', content: `Question number ${i}: what is ${i} squared?` }],
        max_tokens: 100,
      }),
    );
    const container = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!).getContainerClient(
      'batch-input',
    );
    await container.createIfNotExists();
    const text = `${lines.join('\n')}\n`;
    const uploaded = await container.getBlockBlobClient('shared.jsonl').upload(text, Buffer.byteLength(text));
    const jobId = jobIdFor('batch-input', 'shared.jsonl', uploaded.etag!);

    const job = await waitFor(
      async () => {
        const stored = await jobs.getJob(jobId);
        return stored !== undefined && ['completed', 'failed'].includes(stored.job.status) ? stored.job : undefined;
      },
      { timeoutInMs: 120_000, intervalInMs: 250, description: 'the job to finish' },
    ).catch((error: unknown) => {
      // Say what the workers said, so a failure here is diagnosable from the test output alone.
      const problems = hosts.flatMap((h) =>
        h.lines.filter((l) => l['outcome'] === 'failed' || l['level'] === 'error' || l['level'] === 'warning'),
      );
      throw new Error(
        `${String(error)}\n${JSON.stringify(problems.slice(0, 10), null, 1)}\n${hosts.map((h) => h.stderr()).join('\n')}`,
      );
    });
    expect(job.status).toBe('completed');
    expect(job.counts).toEqual({ succeeded: LINES, failed: 0 });

    // Which processes did the work: the budget really was shared, not used by one instance alone.
    const workers = new Set(
      hosts
        .filter((h) => h.lines.some((l) => l.event === 'invocation' && l['functionName'] === 'processRequests'))
        .map((h) => h.pid),
    );
    expect(workers.size).toBeGreaterThan(1);

    const admitted = simulator.log.admitted();
    const sliceTokens = (TPM * SLICE_IN_MS) / 60_000;
    const windowLimit = (TPM * TOKEN_WINDOW_IN_MS) / 60_000;
    const worstWindow = simulator.log.maxInAnyWindow({
      windowInMs: TOKEN_WINDOW_IN_MS,
      metric: 'tokens',
      statuses: [200],
    });
    expect(admitted.length).toBeGreaterThanOrEqual(LINES);
    expect(worstWindow).toBeLessThanOrEqual(windowLimit + sliceTokens);
  }, 180_000);
});
