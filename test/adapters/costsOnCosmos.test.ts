import { randomUUID } from 'node:crypto';
import type { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosmosJobSpendStore } from '../../src/adapters/cosmos/CosmosJobSpendStore.js';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { CosmosRollupStore } from '../../src/adapters/cosmos/CosmosRollupStore.js';
import { CosmosUsageLedger } from '../../src/adapters/cosmos/CosmosUsageLedger.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { InMemoryBlobStore } from '../../src/adapters/memory/InMemoryBlobStore.js';
import { InMemoryMessageQueue } from '../../src/adapters/memory/InMemoryMessageQueue.js';
import { Phi3ChatClient } from '../../src/adapters/phi3/Phi3ChatClient.js';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { getCostReport } from '../../src/app/costReports.js';
import { Deployments } from '../../src/app/deployments.js';
import { finalizeJob, type FinalizeDeps } from '../../src/app/finalizeJob.js';
import { ingestBlob, type IngestDeps } from '../../src/app/ingestBlob.js';
import { silentLogger } from '../../src/app/Logger.js';
import { ResultParts } from '../../src/app/resultParts.js';
import type { ChatClient, JobStore, LedgerEntry } from '../../src/app/ports.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { buildWorkerDeps } from '../../src/buildWorkerDeps.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import { costInNanos, priceFor, utcDay, type ModelPrice } from '../../src/core/pricing.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { RecordingLimiter } from '../app/fixtures.js';
import { ledgerTotals } from '../../src/app/ledgerTotals.js';

const MODEL = 'Phi-3-mini-4k-instruct';
const PRICES: readonly ModelPrice[] = [
  { model: MODEL, inputPerMillion: 0.13, outputPerMillion: 0.52, currency: 'USD', effectiveFrom: '2024-01-01' },
  { model: MODEL, inputPerMillion: 0.2, outputPerMillion: 0.8, currency: 'USD', effectiveFrom: '2026-11-28' },
];

let stack: LocalStack;
let simulator: Phi3Simulator;
let cosmos: CosmosClient;
let stores: {
  jobs: CosmosJobStore;
  ledger: CosmosUsageLedger;
  rollups: CosmosRollupStore;
  jobSpend: CosmosJobSpendStore;
};

beforeAll(async () => {
  stack = await startLocalStack();
  // One answer in four is a 500: lines are retried, and some give up.
  simulator = await startPhi3Simulator({
    model: MODEL,
    latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 },
    faults: { errorRate: 0.25, seed: 7 },
  });
  const config = loadConfig(
    withSettingDefaults({
      ...stack.settings,
      PHI3_ENDPOINT: simulator.url,
      PHI3_API_KEY: simulator.apiKey,
      COSMOS_DATABASE: 'costsuse',
    }),
  ).cosmos;
  cosmos = createCosmosClient(config);
  const containers = await ensureCosmosContainers(cosmos, config);
  stores = {
    jobs: new CosmosJobStore(containers.jobs, containers.lines),
    ledger: new CosmosUsageLedger(containers.ledger),
    rollups: new CosmosRollupStore(containers.rollups),
    jobSpend: new CosmosJobSpendStore(containers.jobs),
  };
});

afterAll(async () => {
  cosmos?.dispose();
  await simulator?.close();
  await stack?.close();
});

describe('costs on Cosmos with the simulator', () => {
  it('a job whose calls cross midnight into a new price, with retries, failures and lost results: ledger = rollups = job totals', async () => {
    const clock = {
      now: Date.UTC(2026, 10, 27, 23, 56),
      nowInMs(): number {
        return this.now;
      },
    };
    const phi3 = new Phi3ChatClient({
      endpoint: simulator.url,
      apiKey: simulator.apiKey,
      apiVersion: '2024-05-01-preview',
      timeoutInMs: 10_000,
      connections: 4,
    });
    // Each call moves the service's clock a minute on, so the job's calls straddle midnight.
    const chat: ChatClient = {
      complete: async (body, options) => {
        clock.now += 60_000;
        return phi3.complete(body, options);
      },
      close: () => phi3.close(),
    };
    const deployments = new Deployments([
      {
        name: 'sim',
        model: MODEL,
        chat,
        limiter: new RecordingLimiter(clock),
        tokenCounter: createTokenCounter(MODEL),
      },
    ]);
    const blobs = new InMemoryBlobStore();
    const requestQueue = new InMemoryMessageQueue();
    const controlQueue = new InMemoryMessageQueue();
    let loseOutcomes = 0;
    // The second work message's worker dies after its calls were billed: its lines run again.
    const jobs: JobStore = new Proxy(stores.jobs, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property === 'recordOutcomes') {
          return async (...args: Parameters<JobStore['recordOutcomes']>) => {
            if (loseOutcomes > 0) {
              loseOutcomes -= 1;
              throw new Error('host died before the outcomes were kept');
            }
            return target.recordOutcomes(...args);
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const resultParts = new ResultParts(blobs, 'out', () => randomUUID().replaceAll('-', '').slice(0, 16));
    const ingestDeps: IngestDeps = {
      jobs,
      blobs,
      requestQueue,
      controlQueue,
      deployments,
      clock,
      logger: silentLogger,
      resultParts,
      defaultMaxTokens: 32,
      maxLineBytes: 65_536,
      maxLinesPerFile: 1000,
      packing: { maxMessageBytes: 8192, maxItemsPerMessage: 2 },
      prices: PRICES,
      defaultMaxCostInNanos: undefined,
      stateContainer: 'out',
      chunkLines: 200_000,
      exactTokenLines: 1_000,
    };
    const workerDeps = buildWorkerDeps(
      {
        jobs,
        blobs,
        requestQueue,
        controlQueue,
        deployments,
        ledger: stores.ledger,
        jobSpend: stores.jobSpend,
        resultParts,
        clock,
        random: () => 0.5,
        sleep: async () => {},
        newCallId: randomUUID,
      },
      {
        retry: {
          maxAttempts: 2,
          baseDelayInMs: 1,
          maxDelayInMs: 1,
          maxInlineWaitInMs: 1000,
          maxRequeueDelayInMs: 3_600_000,
        },
        prices: PRICES,
        defaultMaxTokens: 32,
        returnUnusedTokens: false,
      },
    )(silentLogger);
    const finalizeDeps: FinalizeDeps = {
      jobs,
      clock,
      logger: silentLogger,
      outputContainer: 'out',
      ledger: stores.ledger,
      rollups: stores.rollups,
      resultParts,
    };

    const lines = Array.from({ length: 12 }, (_, i) =>
      JSON.stringify({
        custom_id: `q${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: MODEL,
          messages: [{ role: 'user', content: `Question ${i}: name ${i + 2} colours.` }],
          max_tokens: 10 + i,
        },
      }),
    );
    lines.push(
      JSON.stringify({
        custom_id: 'filtered',
        body: { messages: [{ role: 'user', content: 'please [[content_filter]] this' }], max_tokens: 5 },
      }),
    );
    blobs.put('in', 'midnight.jsonl', `${lines.join('\n')}\n`);
    const ingested = await ingestBlob('in', 'midnight.jsonl', ingestDeps);
    if (ingested.kind !== 'ingested') throw new Error('not ingested');

    let run = 0;
    for (let round = 0; round < 50; round += 1) {
      const work = requestQueue.drain();
      const control = controlQueue.drain();
      if (work.length === 0 && control.length === 0) break;
      for (const payload of work) {
        run += 1;
        if (run === 2) loseOutcomes = 1;
        try {
          await processRequestMessage(requestMessageOf(payload), workerDeps);
        } catch {
          await requestQueue.send([payload]);
        }
      }
      for (const payload of control) {
        const message = parseControlMessage(payload);
        if (typeof message !== 'string' && message.kind === 'finalize') await finalizeJob(message.jobId, finalizeDeps);
      }
    }
    await chat.close();

    const job = (await stores.jobs.getJob(ingested.jobId))!.job;
    expect(job.status).toBe('completed');
    const entries: LedgerEntry[] = [];
    for await (const entry of stores.ledger.listEntries(job.id)) entries.push(entry);

    // The ledger holds every 200 the simulator gave this job, the repeated ones included.
    const billedBySimulator = simulator.log.entries().filter((e) => e.status === 200);
    expect(entries).toHaveLength(billedBySimulator.length);
    expect(entries.length).toBeGreaterThan(job.counts.succeeded);
    expect(new Set(entries.map((e) => e.day))).toEqual(new Set(['2026-11-27', '2026-11-28']));
    for (const entry of entries) {
      expect(entry.day).toBe(utcDay(entry.atInMs));
      expect(entry.costInNanos).toBe(
        costInNanos(priceFor(PRICES, MODEL, entry.day)!, entry.promptTokens, entry.completionTokens),
      );
    }
    const ledger = await ledgerTotals(stores.ledger, job.id);
    expect(ledger.calls).toBe(entries.length);

    // Job totals = ledger; counts from outcomes (some lines failed after their retries).
    expect(job.usage).toEqual({
      promptTokens: ledger.promptTokens,
      completionTokens: ledger.completionTokens,
      costInNanos: ledger.costInNanos,
    });
    expect(job.spend).toMatchObject({ committed: ledger.costInNanos, calls: ledger.calls, reserved: 0 });
    expect(job.counts.succeeded + job.counts.failed).toBe(13);
    expect(job.counts.failed).toBeGreaterThan(0);

    // Rollups = ledger, per day and in total, through the report.
    const report = await getCostReport(
      stores.rollups,
      { from: '2026-11-27', to: '2026-11-28', groupBy: ['day', 'job'], format: 'json' },
      { defaultCurrency: 'USD' },
    );
    const rows = report.rows.filter((r) => r.job === job.id);
    expect(rows.map((r) => r.day)).toEqual(['2026-11-27', '2026-11-28']);
    for (const row of rows) {
      const ofDay = entries.filter((e) => e.day === row.day);
      expect(row.calls).toBe(ofDay.length);
      expect(row.cost_nanos).toBe(ofDay.reduce((sum, e) => sum + e.costInNanos, 0));
    }
    expect(rows.reduce((sum, r) => sum + r.cost_nanos, 0)).toBe(ledger.costInNanos);
  });
});
