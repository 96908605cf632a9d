import type { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCosmosClient,
  ensureCosmosContainers,
  type CosmosContainers,
} from '../../src/adapters/cosmos/createCosmosClient.js';
import { getCostReport } from '../../src/app/costReports.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import type { JobStore, LedgerEntry } from '../../src/app/ports.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import { costInNanos, priceFor, utcDay, type ModelPrice } from '../../src/core/pricing.js';
import { cosmosPipeline } from '../support/cosmosPipeline.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { ledgerTotals } from '../../src/app/ledgerTotals.js';

const MODEL = 'Phi-3-mini-4k-instruct';
const PRICES: readonly ModelPrice[] = [
  { model: MODEL, inputPerMillion: 0.13, outputPerMillion: 0.52, currency: 'USD', effectiveFrom: '2024-01-01' },
  { model: MODEL, inputPerMillion: 0.2, outputPerMillion: 0.8, currency: 'USD', effectiveFrom: '2026-11-28' },
];

let stack: LocalStack;
let simulator: Phi3Simulator;
let cosmos: CosmosClient;
let containers: CosmosContainers;

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
  containers = await ensureCosmosContainers(cosmos, config);
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
    let loseOutcomes = 0;
    const pipeline = cosmosPipeline({
      simulator,
      model: MODEL,
      containers,
      clock,
      prices: PRICES,
      requestsPerMessage: 2,
      maxRequeueDelayInMs: 3_600_000,
      // Each call moves the service's clock a minute on, so the job's calls straddle midnight.
      wrapChat: (phi3) => ({
        complete: async (body, options) => {
          clock.now += 60_000;
          return phi3.complete(body, options);
        },
        close: () => phi3.close(),
      }),
      // The second work message's worker dies after its calls were billed: its lines run again.
      wrapJobs: (cosmosJobs) =>
        new Proxy(cosmosJobs, {
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
        }),
    });

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
    pipeline.blobs.put('in', 'midnight.jsonl', `${lines.join('\n')}\n`);
    const ingested = await ingestBlob('in', 'midnight.jsonl', pipeline.ingestDeps);
    if (ingested.kind !== 'ingested') throw new Error('not ingested');

    let run = 0;
    for (let round = 0; round < 50; round += 1) {
      const work = pipeline.requestQueue.drain();
      const control = pipeline.controlQueue.drain();
      if (work.length === 0 && control.length === 0) break;
      for (const payload of work) {
        run += 1;
        if (run === 2) loseOutcomes = 1;
        try {
          await processRequestMessage(requestMessageOf(payload), pipeline.workerDeps);
        } catch {
          await pipeline.requestQueue.send([payload]);
        }
      }
      await pipeline.finalizeAsked(control);
    }
    await pipeline.chat.close();

    const job = (await pipeline.jobs.getJob(ingested.jobId))!.job;
    expect(job.status).toBe('completed');
    const entries: LedgerEntry[] = [];
    for await (const entry of pipeline.ledger.listEntries(job.id)) entries.push(entry);

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
    const ledger = await ledgerTotals(pipeline.ledger, job.id);
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
      pipeline.rollups,
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
