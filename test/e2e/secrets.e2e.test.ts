import { format, inspect } from 'node:util';
import type { CosmosClient } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createCosmosClient } from '../../src/adapters/cosmos/createCosmosClient.js';
import { loadConfig } from '../../src/config.js';
import { DASHBOARD_ASSETS } from '../../src/dashboard/dashboardAssets.js';
import { jobIdFor } from '../../src/core/jobId.js';
import type { LocalHostLogEntry } from '../../dev/local/host/index.js';
import { closeServices } from '../../src/compositionRoot.js';
import { startAppHost, type AppHost } from '../support/appHost.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';

/*
 * PHI3_API_KEY goes into one header of one kind of request and nowhere else: not into a log line
 * (the host's, the app's, the console), an HTTP answer, a Cosmos document, a blob, a queue message,
 * whatever the endpoint answers (200, 400, 422, 500, a timeout, a 401 for a wrong key).
 */

const FUNCTION_KEY = 'secrets-function-key';
const MODEL = 'Phi-3-mini-4k-instruct';
const KEY = `sk-${'Z'.repeat(29)}`;
const WRONG_KEY = `sk-${'W'.repeat(29)}`;

/** The key, any 12 characters of its distinctive run (a truncated or half-masked copy), and its base64 at each alignment. */
function needlesFor(key: string): string[] {
  const needles = [key, key.slice(3, 15)];
  for (let shift = 0; shift < 3; shift += 1) {
    const encoded = Buffer.from(key.slice(shift)).toString('base64');
    needles.push(encoded.slice(0, (Math.floor((key.length - shift) / 3) - 1) * 4));
  }
  return needles;
}
const NEEDLES = [...needlesFor(KEY), ...needlesFor(WRONG_KEY)];

interface Evidence {
  readonly source: string;
  readonly text: string;
}

function leaks(evidence: readonly Evidence[]): string[] {
  return evidence.filter((e) => NEEDLES.some((needle) => e.text.includes(needle))).map((e) => e.source);
}

let stack: LocalStack;
let simulator: Phi3Simulator;
let app: AppHost;
let blobService: BlobServiceClient;
let queueService: QueueServiceClient;
let cosmos: CosmosClient;
const savedEnv = { ...process.env };
const logEntries: LocalHostLogEntry[] = [];
const consoleLines: string[] = [];
const hostLogger = { log: (entry: LocalHostLogEntry) => void logEntries.push(entry) };
const restoreWrites: Array<() => void> = [];

beforeAll(async () => {
  // Everything printed by anyone in this process, from here on.
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    vi.spyOn(console, method).mockImplementation(
      (...args: unknown[]) => void consoleLines.push(`console.${method}: ${format(...args)}`),
    );
  }
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = (chunk: unknown, ...rest: unknown[]) => {
      consoleLines.push(
        `${stream === process.stdout ? 'stdout' : 'stderr'}: ${Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk)}`,
      );
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    };
    restoreWrites.push(() => {
      stream.write = write;
    });
  }

  stack = await startLocalStack();
  simulator = await startPhi3Simulator({
    model: MODEL,
    apiKey: KEY,
    latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 },
    limits: { requestsPerMinute: 100_000, tokensPerMinute: 100_000_000 },
  });
  app = await startAppHost({
    stack,
    functionKey: FUNCTION_KEY,
    settings: {
      PHI3_ENDPOINT: simulator.url,
      PHI3_API_KEY: KEY,
      PHI3_MODEL: MODEL,
      PHI3_RPM_LIMIT: '100000',
      PHI3_TPM_LIMIT: '100000000',
      COSMOS_DATABASE: 'secrets',
      RETRY_MAX_ATTEMPTS: '2',
      RETRY_BASE_DELAY_MS: '1',
      RETRY_MAX_DELAY_MS: '5',
    },
    log: (entry) => hostLogger.log(entry),
  });
  blobService = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
  queueService = QueueServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
  cosmos = createCosmosClient(loadConfig(process.env).cosmos);
});

afterAll(async () => {
  await app?.stop();
  cosmos?.dispose();
  await simulator?.close();
  await stack?.close();
  for (const restore of restoreWrites) restore();
  vi.restoreAllMocks();
  process.env = savedEnv;
});

const api = (path: string, init?: { method?: string; key?: string | null }): Promise<Response> => app.api(path, init);

const runUntilDone = (jobId: string): Promise<Record<string, any>> => app.runUntilDone(jobId);

async function upload(name: string, lines: readonly unknown[]): Promise<string> {
  const text = `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`;
  const container = blobService.getContainerClient('batch-input');
  await container.createIfNotExists();
  const result = await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
  return jobIdFor('batch-input', name, result.etag!);
}

const ask = (customId: string, content: string, maxTokens = 16) => ({
  custom_id: customId,
  messages: [{ role: 'user', content }],
  max_tokens: maxTokens,
});

const responses: Evidence[] = [];

/** Every HTTP answer of the API (status, every header, the body), for every job. */
async function callEveryRoute(jobIds: readonly string[]): Promise<Evidence[]> {
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  const costs = `costs?from=${day(-1)}&to=${day(1)}`;
  const paths = [
    'jobs',
    'jobs?limit=1',
    'jobs?limit=100',
    ...jobIds.flatMap((id) => [
      `jobs/${id}`,
      `jobs/${id}/results`,
      `jobs/${id}/results?kind=errors`,
      `jobs/${id}/results?kind=all`,
    ]),
    `${costs}&groupBy=day`,
    `${costs}&groupBy=model`,
    `${costs}&groupBy=job`,
    `${costs}&groupBy=day&format=csv`,
    'dashboard',
    `dashboard?code=${FUNCTION_KEY}`,
    ...Object.keys(DASHBOARD_ASSETS).map((asset) => `dashboard/${asset}`),
    `jobs/job_${'0'.repeat(32)}`,
    'jobs/not-a-job',
    'costs?from=yesterday',
  ];
  const evidence: Evidence[] = [];
  const record = async (label: string, response: Response): Promise<void> => {
    const headers = [...response.headers].map(([name, value]) => `${name}: ${value}`).join('\n');
    evidence.push({ source: `http ${label}`, text: `${response.status}\n${headers}\n\n${await response.text()}` });
  };
  for (const path of paths) await record(`GET ${path}`, await api(path));
  await record('GET jobs (no key)', await api('jobs', { key: null }));
  await record('GET jobs (wrong function key)', await api('jobs', { key: 'nope' }));
  return [...evidence, ...responses];
}

/** Every document of every container of every Cosmos database. */
async function readCosmos(): Promise<Evidence[]> {
  const evidence: Evidence[] = [];
  const { resources: databases } = await cosmos.databases.readAll().fetchAll();
  for (const database of databases) {
    const { resources: containers } = await cosmos.database(database.id).containers.readAll().fetchAll();
    for (const container of containers) {
      const { resources } = await cosmos
        .database(database.id)
        .container(container.id)
        .items.query<Record<string, unknown>>('SELECT * FROM c')
        .fetchAll();
      for (const doc of resources)
        evidence.push({
          source: `cosmos ${database.id}/${container.id}/${String(doc['id'])}`,
          text: JSON.stringify(doc),
        });
    }
  }
  return evidence;
}

/** Every blob (metadata and content) of every container, and every message of every queue. */
async function readStorage(): Promise<Evidence[]> {
  const evidence: Evidence[] = [];
  for await (const container of blobService.listContainers({ includeMetadata: true })) {
    const client = blobService.getContainerClient(container.name);
    for await (const blob of client.listBlobsFlat({ includeMetadata: true })) {
      const content = await client.getBlobClient(blob.name).downloadToBuffer();
      evidence.push({
        source: `blob ${container.name}/${blob.name}`,
        text: `${blob.name}\n${JSON.stringify(blob.metadata ?? {})}\n${content.toString('utf8')}\n${content.toString('latin1')}`,
      });
    }
  }
  for await (const queue of queueService.listQueues({ includeMetadata: true })) {
    const { peekedMessageItems } = await queueService.getQueueClient(queue.name).peekMessages({ numberOfMessages: 32 });
    for (const message of peekedMessageItems) {
      evidence.push({
        source: `queue ${queue.name}/${message.messageId}`,
        text: `${message.messageText}\n${Buffer.from(message.messageText, 'base64').toString('utf8')}`,
      });
    }
  }
  return evidence;
}

function readLogs(): Evidence[] {
  return [
    ...logEntries.map((entry, index) => ({
      source: `log #${index} ${entry.category}`,
      text: inspect(entry, { depth: 20, breakLength: Infinity }),
    })),
    ...consoleLines.map((line, index) => ({ source: `console #${index}`, text: line })),
  ];
}

async function everything(jobIds: readonly string[]): Promise<Evidence[]> {
  return [...readLogs(), ...(await callEveryRoute(jobIds)), ...(await readCosmos()), ...(await readStorage())];
}

describe('the endpoint key never leaves the request header', () => {
  const jobIds: string[] = [];

  it('runs jobs through every kind of answer: success, 400, 422, validation, 500s, timeouts, a retry, and a wrong key', async () => {
    const mixed = await upload('mixed.jsonl', [
      ask('ok-1', 'Say hello.'),
      {
        custom_id: 'ok-2',
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: MODEL, messages: [{ role: 'user', content: 'Count to three.' }], max_tokens: 12 },
      },
      ask('filtered', 'please [[content_filter]] this'),
      // A 422 from the endpoint (a line over the model's context is refused before any call).
      { ...ask('json-mode', 'Answer in JSON.'), response_format: { type: 'json_object' } },
      '{"custom_id": "broken", "messages": [',
      {
        custom_id: 'bare',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Why?' },
        ],
      },
    ]);
    const first = await runUntilDone(mixed);
    expect(first['status']).toBe('completed');
    expect(first['request_counts']).toEqual({ total: 6, completed: 3, failed: 3 });
    const errors = (await (await api(`jobs/${mixed}/results?kind=errors`)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors.map((e) => [e.custom_id, e.response?.status_code ?? null])).toEqual([
      ['filtered', 400],
      ['json-mode', 422],
      ['~line-5', null],
    ]);

    simulator.setFaults({ errorRate: 1 });
    const failing = await upload('server-errors.jsonl', [ask('e-1', 'one'), ask('e-2', 'two')]);
    const second = await runUntilDone(failing);
    expect(second['request_counts']).toEqual({ total: 2, completed: 0, failed: 2 });

    // Every call hangs; a short client timeout, for this phase only (the app is rebuilt from its settings).
    simulator.setFaults({ errorRate: 0, hangRate: 1, hangInMs: 60_000 });
    await closeServices();
    process.env['PHI3_TIMEOUT_MS'] = '300';
    const hanging = await upload('timeouts.jsonl', [ask('t-1', 'slow')]);
    const third = await runUntilDone(hanging);
    await closeServices();
    process.env['PHI3_TIMEOUT_MS'] = '60000';
    const timedOut = (await (await api(`jobs/${hanging}/results?kind=errors`)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(third['request_counts']).toEqual({ total: 1, completed: 0, failed: 1 });
    expect(timedOut[0].error.code).toBe('retries_exhausted');

    // The endpoint is well again: the failed lines go once more; a finished job cannot be cancelled.
    simulator.setFaults({ hangRate: 0 });
    for (const [label, response] of [
      ['POST retry', await api(`jobs/${failing}/retry?retryable_only=true`, { method: 'POST' })],
      ['POST cancel', await api(`jobs/${mixed}/cancel`, { method: 'POST' })],
    ] as const) {
      const headers = [...response.headers].map(([name, value]) => `${name}: ${value}`).join('\n');
      responses.push({ source: `http ${label}`, text: `${response.status}\n${headers}\n\n${await response.text()}` });
    }
    expect((await runUntilDone(failing))['request_counts']).toEqual({ total: 2, completed: 2, failed: 0 });

    // A wrong key: the app is rebuilt from its settings, and the deployment answers 401.
    await closeServices();
    process.env['PHI3_API_KEY'] = WRONG_KEY;
    const refused = await upload('wrong-key.jsonl', [ask('w-1', 'one'), ask('w-2', 'two'), ask('w-3', 'three')]);
    const fourth = await runUntilDone(refused);
    expect(fourth['status']).toBe('failed');
    expect(fourth['errors'].data[0].code).toBe('deployment_rejected');
    expect(simulator.log.entries().some((e) => e.status === 401)).toBe(true);

    jobIds.push(mixed, failing, hanging, refused);
  });

  it('appears in no log line, HTTP answer, Cosmos document, blob or queue message', async () => {
    const evidence = await everything(jobIds);
    // Whatever was printed or queued is in there too (both may well be empty by now).
    const kinds = new Set(evidence.map((e) => e.source.split(' ')[0]));
    for (const kind of ['blob', 'cosmos', 'http', 'log']) expect(kinds.has(kind), kind).toBe(true);
    expect(logEntries.some((e) => e.category === 'user')).toBe(true);
    expect(evidence.some((e) => e.source.startsWith('blob batch-output/') && e.source.endsWith('/errors.jsonl'))).toBe(
      true,
    );
    expect(leaks(evidence)).toEqual([]);
  });

  it('is found wherever a copy is planted, so the search above can fail', async () => {
    const planted = `planted ${KEY} here`;
    hostLogger.log({ level: 'information', category: 'user', message: planted });
    console.warn(planted);
    await blobService
      .getContainerClient('batch-output')
      .getBlockBlobClient('planted/secret.txt')
      .upload(planted, planted.length);
    await queueService
      .getQueueClient('batch-control')
      .sendMessage(Buffer.from(JSON.stringify({ note: `${WRONG_KEY.slice(1)}` })).toString('base64'));
    // A job document whose input blob name carries the key, so the API serves it back.
    const jobs = cosmos.database('secrets').container('jobs');
    const { resource: original } = await jobs.item(jobIds[0]!, jobIds[0]).read<Record<string, any>>();
    const { _rid, _self, _etag, _attachments, _ts, ...copy } = original!;
    const plantedId = `job_${'f'.repeat(32)}`;
    await jobs.items.create({ ...copy, id: plantedId, input: { ...copy['input'], name: `planted-${KEY}.jsonl` } });

    const found = leaks(await everything([...jobIds, plantedId]));
    const foundKinds = new Set(found.map((source) => source.split(' ')[0]));
    expect([...foundKinds].sort()).toEqual(['blob', 'console', 'cosmos', 'http', 'log', 'queue']);
    expect(found).toContain(`http GET jobs/${plantedId}`);
    expect(found).toContain(`cosmos secrets/jobs/${plantedId}`);
    expect(found).toContain('blob batch-output/planted/secret.txt');
  });
});
