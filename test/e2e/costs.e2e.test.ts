import type { CosmosClient } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosmosUsageLedger } from '../../src/adapters/cosmos/CosmosUsageLedger.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import type { LedgerEntry } from '../../src/app/ports.js';
import type { CliContext } from '../../cli/cliContext.js';
import { registerCostsCommand } from '../../cli/costsCommand.js';
import { loadConfig } from '../../src/config.js';
import type { ChatCompletionBody, ChatMessage } from '../../src/core/chat.js';
import { costInNanos, type ModelPrice } from '../../src/core/pricing.js';
import { jobIdFor } from '../../src/core/jobId.js';
import type { LocalFunctionsHost } from '../../dev/local/host/index.js';
import { startAppHost, type AppHost } from '../support/appHost.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { simulatedCompletion, startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { CapturingStream } from '../cli/streams.js';
import { ledgerTotals } from '../../src/app/ledgerTotals.js';

const FUNCTION_KEY = 'costs-function-key';
const MODEL = 'Phi-3-mini-4k-instruct';
/** Dear on purpose, so that caps and reports read in cents rather than in nano-dollars. */
const PRICE: ModelPrice = {
  model: MODEL,
  inputPerMillion: 100,
  outputPerMillion: 400,
  currency: 'USD',
  effectiveFrom: '2024-01-01',
};
const DAY_IN_MS = 86_400_000;

let stack: LocalStack;
let simulator: Phi3Simulator;
let app: AppHost;
let host: LocalFunctionsHost;
let blobService: BlobServiceClient;
let cosmos: CosmosClient;
let ledger: CosmosUsageLedger;
const savedEnv = { ...process.env };
const tokenCounter = createTokenCounter(MODEL);

beforeAll(async () => {
  stack = await startLocalStack();
  simulator = await startPhi3Simulator({
    model: MODEL,
    latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 },
  });
  app = await startAppHost({
    stack,
    functionKey: FUNCTION_KEY,
    settings: {
      PHI3_ENDPOINT: simulator.url,
      PHI3_API_KEY: simulator.apiKey,
      PHI3_MODEL: MODEL,
      PHI3_PRICES: JSON.stringify([PRICE]),
      COSMOS_DATABASE: 'e2ecosts',
      RETRY_BASE_DELAY_MS: '1',
      RETRY_MAX_DELAY_MS: '5',
    },
  });
  host = app.host;
  blobService = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
  const cosmosConfig = loadConfig(process.env).cosmos;
  cosmos = createCosmosClient(cosmosConfig);
  ledger = new CosmosUsageLedger((await ensureCosmosContainers(cosmos, cosmosConfig)).ledger);
});

afterAll(async () => {
  await app?.stop();
  cosmos?.dispose();
  await simulator?.close();
  await stack?.close();
  process.env = savedEnv;
});

const api = (path: string, key: string | null = FUNCTION_KEY): Promise<Response> => app.api(path, { key });

const runUntilDone = (jobId: string): Promise<Record<string, any>> => app.runUntilDone(jobId);

/** Ingests the file (one blob poll) and returns the job as it stands before any line is processed. */
async function ingestOnly(jobId: string): Promise<Record<string, any>> {
  for (let round = 0; round < 50; round += 1) {
    await host.pollBlobsNow();
    const response = await api(`jobs/${jobId}`);
    if (response.status === 200) {
      const job = (await response.json()) as Record<string, any>;
      if (job['ingest'].done === true) return job;
    }
  }
  throw new Error(`job ${jobId} was not ingested`);
}

async function upload(name: string, lines: readonly unknown[], metadata: Record<string, string> = {}): Promise<string> {
  const text = `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
  const container = blobService.getContainerClient('batch-input');
  await container.createIfNotExists();
  const result = await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text), { metadata });
  return jobIdFor('batch-input', name, result.etag!);
}

const request = (customId: string, messages: ChatMessage[], maxTokens: number) => ({
  custom_id: customId,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: MODEL, messages, max_tokens: maxTokens },
});

async function ledgerOf(jobId: string): Promise<LedgerEntry[]> {
  const entries: LedgerEntry[] = [];
  for await (const entry of ledger.listEntries(jobId)) entries.push(entry);
  return entries;
}

const day = (offset: number): string => new Date(Date.now() + offset * DAY_IN_MS).toISOString().slice(0, 10);
const nanos = (amount: number): number => Math.round(amount * 1e9);

describe('costs end to end on the local stack', () => {
  it('the estimate, shown before any call, brackets the real cost of a job', async () => {
    const lines = Array.from({ length: 6 }, (_, i) =>
      request(
        `e-${i}`,
        [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: `Estimate question ${i}: ${'why '.repeat(i * 3)}?` },
        ],
        20 + i * 15,
      ),
    );
    const jobId = await upload('estimate.jsonl', lines);
    const before = await ingestOnly(jobId);
    expect(before['request_counts'].completed + before['request_counts'].failed).toBe(0);
    const estimate = before['estimate'];
    expect(estimate.currency).toBe('USD');
    expect(estimate.prompt_tokens).toBe(
      lines.reduce((sum, l) => sum + tokenCounter.countChatPrompt(l.body.messages), 0),
    );
    expect(estimate.max_completion_tokens).toBe(lines.reduce((sum, l) => sum + l.body.max_tokens, 0));
    expect(nanos(estimate.min_cost)).toBe(costInNanos(PRICE, estimate.prompt_tokens, 0));
    expect(nanos(estimate.max_cost)).toBe(costInNanos(PRICE, estimate.prompt_tokens, estimate.max_completion_tokens));
    expect(estimate.remaining).toMatchObject({ requests: 6, min_cost: estimate.min_cost, max_cost: estimate.max_cost });

    const job = await runUntilDone(jobId);
    expect(job['status']).toBe('completed');
    expect(job['cost'].amount).toBeGreaterThanOrEqual(estimate.min_cost);
    expect(job['cost'].amount).toBeLessThanOrEqual(estimate.max_cost);
    expect(job['estimate'].remaining).toMatchObject({ requests: 0, min_cost: 0, max_cost: 0 });
  });

  it('a job with retries and failures: job totals, cost so far, ledger and rollups agree exactly', async () => {
    simulator.setFaults({ errorRate: 0.3, seed: 11 });
    try {
      const lines = [
        ...Array.from({ length: 10 }, (_, i) =>
          request(`r-${i}`, [{ role: 'user', content: `Retry question ${i}, say something.` }], 16),
        ),
        request('filtered', [{ role: 'user', content: 'please [[content_filter]] this' }], 5),
      ];
      const jobId = await upload('retries.jsonl', lines);
      const job = await runUntilDone(jobId);
      expect(job['request_counts'].failed).toBeGreaterThan(0);
      expect(simulator.log.entries().some((e) => e.status === 500)).toBe(true);

      const entries = await ledgerOf(jobId);
      const totals = await ledgerTotals(ledger, jobId);
      expect(totals.calls).toBe(entries.length);
      expect(totals.calls).toBeGreaterThanOrEqual(job['request_counts'].completed);
      expect(job['usage']).toEqual({
        input_tokens: totals.promptTokens,
        output_tokens: totals.completionTokens,
        total_tokens: totals.promptTokens + totals.completionTokens,
      });
      expect(nanos(job['cost'].amount)).toBe(totals.costInNanos);
      expect(job['cost_so_far']).toEqual({
        amount: job['cost'].amount,
        currency: 'USD',
        calls: totals.calls,
        unconfirmed_calls: 0,
      });
      // The ledger holds exactly the calls the endpoint billed, matched by the id each request carried;
      // the refused ones (500s, the filtered line's 400) left no entry.
      const ids = new Set(lines.map((l) => l.custom_id));
      const billedIds = simulator.log
        .entries()
        .filter((e) => e.status === 200 && ids.has(decodeURIComponent(e.customIdHeader ?? '')))
        .map((e) => e.clientRequestId);
      expect(entries.map((e) => e.id).sort()).toEqual(billedIds.sort());
      expect(entries.every((e) => e.state === 'billed')).toBe(true);

      const report = (await (await api(`costs?from=${day(-1)}&to=${day(1)}&groupBy=job`)).json()) as Record<
        string,
        any
      >;
      const row = report['rows'].find((r: { key: string }) => r.key === jobId);
      expect(row).toMatchObject({
        job: jobId,
        calls: totals.calls,
        input_tokens: totals.promptTokens,
        output_tokens: totals.completionTokens,
        cost_nanos: totals.costInNanos,
        currency: 'USD',
      });
      const byDayModel = (await (await api(`costs?from=${day(-1)}&to=${day(1)}&groupBy=day,model`)).json()) as Record<
        string,
        any
      >;
      expect(byDayModel['total'].cost_nanos).toBe(report['total'].cost_nanos);
    } finally {
      simulator.setFaults({ errorRate: 0 });
    }
  });

  it("a spending cap stops the job within one request's cost of it, and the job says so", async () => {
    // Lines whose answer is cut at exactly max_tokens: each costs precisely its maximum.
    const lines: Array<ReturnType<typeof request>> = [];
    for (let i = 0; lines.length < 8; i += 1) {
      const messages: ChatMessage[] = [{ role: 'user', content: `Capped question ${i}: list some colours.` }];
      const body = (maxTokens: number): ChatCompletionBody => ({ messages, max_tokens: maxTokens });
      const maxTokens = [12, 11, 10, 9, 8].find(
        (k) => simulatedCompletion(body(k), tokenCounter).completionTokens === k,
      );
      if (maxTokens !== undefined) lines.push(request(`c-${i}`, messages, maxTokens));
    }
    const maxCosts = lines.map((l) =>
      costInNanos(PRICE, tokenCounter.countChatPrompt(l.body.messages), l.body.max_tokens),
    );
    const capInNanos = 20_000_000; // "0.02"
    const jobId = await upload('capped.jsonl', lines, { maxcost: '0.02' });
    const job = await runUntilDone(jobId);

    const spent = (await ledgerTotals(ledger, jobId)).costInNanos;
    expect(spent).toBeLessThanOrEqual(capInNanos);
    expect(capInNanos - spent).toBeLessThan(Math.max(...maxCosts));
    expect(job['spending_cap']).toMatchObject({ max_cost: 0.02, currency: 'USD', reached: true });
    expect(job['spending_cap'].reached_at).toEqual(expect.any(Number));
    const errors = (await (await api(`jobs/${jobId}/results?kind=errors`)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.error.code === 'spending_cap_reached' && e.response === null)).toBe(true);
    expect(errors[0].error.message).toMatch(/spending cap of 0\.02 USD/);
    expect(job['request_counts']).toMatchObject({ total: 8, failed: errors.length, completed: 8 - errors.length });
    // Refused lines were never sent.
    const sent = simulator.log.entries().filter((e) => decodeURIComponent(e.customIdHeader ?? '').startsWith('c-'));
    expect(sent).toHaveLength(8 - errors.length);
  });

  it('serves reports as JSON and CSV, refuses bad parameters by name, and wants the key', async () => {
    const csvResponse = await api(`costs?from=${day(-1)}&to=${day(1)}&groupBy=model,day&format=csv`);
    expect(csvResponse.headers.get('content-type')).toMatch(/^text\/csv/);
    const csv = await csvResponse.text();
    const records = csv.split('\r\n');
    expect(records[0]).toBe('model,day,calls,unconfirmed_calls,input_tokens,output_tokens,total_tokens,cost,currency');
    expect(records.at(-1)).toBe('');
    expect(records[1]).toMatch(new RegExp(`^${MODEL},\\d{4}-\\d{2}-\\d{2},\\d+,0,\\d+,\\d+,\\d+,\\d+\\.\\d+,USD$`));

    for (const [query, param] of [
      [`from=2026-13-01&to=${day(0)}`, 'from'],
      [`from=${day(0)}`, 'to'],
      [`from=2020-01-01&to=2022-01-01`, 'to'],
      [`from=${day(0)}&to=${day(0)}&groupBy=hour`, 'groupBy'],
      [`from=${day(0)}&to=${day(0)}&format=pdf`, 'format'],
    ] as const) {
      const response = await api(`costs?${query}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { param: string } }).error.param).toBe(param);
    }
    expect((await api(`costs?from=${day(0)}&to=${day(0)}`, null)).status).toBe(401);
  });

  it('the costs command prints the report as a table, and as CSV', async () => {
    const run = async (argv: string[]) => {
      const stdout = new CapturingStream();
      const stderr = new CapturingStream();
      let exitCode = -1;
      const context: CliContext = {
        stdout,
        stderr,
        env: { PHI3_BATCH_API_URL: `${host.httpUrl}/api`, PHI3_BATCH_FUNCTION_KEY: FUNCTION_KEY },
        abortSignal: undefined,
        clock: { nowInMs: () => Date.now() },
        watch: {},
        dispatcher: undefined,
        createUploader: undefined,
      };
      const program = new Command('phi3-batch').exitOverride();
      registerCostsCommand(program, context, (code) => (exitCode = code));
      await program.parseAsync(argv, { from: 'user' });
      return { exitCode, stdout: stdout.text, stderr: stderr.text };
    };
    const table = await run(['costs', '--from', day(-1), '--to', day(1), '--by', 'model']);
    expect(table.exitCode).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[1]).toMatch(/^MODEL\s+CALLS\s+INPUT TOKENS\s+OUTPUT TOKENS\s+TOTAL TOKENS\s+COST$/);
    expect(lines[2]).toMatch(new RegExp(`^${MODEL}\\s+\\d+\\s+[\\d,]+\\s+[\\d,]+\\s+[\\d,]+\\s+\\$\\d+\\.\\d+$`));
    expect(lines.at(-1)).toMatch(/^TOTAL\s+/);
    const csv = await run(['costs', '--from', day(-1), '--to', day(1), '--by', 'job', '--csv']);
    expect(csv.stdout.split('\r\n')[0]).toBe(
      'job,calls,unconfirmed_calls,input_tokens,output_tokens,total_tokens,cost,currency',
    );
  });
});
