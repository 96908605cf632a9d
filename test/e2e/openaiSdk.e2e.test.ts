import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlobServiceClient } from '@azure/storage-blob';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppHost, type AppHost } from '../support/appHost.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { jobIdFor } from '../../src/core/jobId.js';

const FUNCTION_KEY = 'openai-sdk-function-key';
const MODEL = 'Phi-3-mini-4k-instruct';

let stack: LocalStack;
let simulator: Phi3Simulator;
let app: AppHost;
let client: OpenAI;
const savedEnv = { ...process.env };
const WEBHOOK_SECRET = `whsec_${Buffer.from('the-e2e-webhook-signing-key-0123').toString('base64')}`;
/** Deliveries the receiver refuses (500) per webhook-id before it takes one. */
const REFUSALS = 2;

/** A webhook receiver as a user would write one: verifies with the SDK, refuses the first deliveries, de-duplicates by id. */
class Receiver {
  readonly deliveries = new Map<string, number>();
  readonly accepted = new Map<string, OpenAI.Webhooks.UnwrapWebhookEvent>();
  readonly rejectedSignatures: string[] = [];
  server: Server | undefined;
  verifier = new OpenAI({ apiKey: 'unused', webhookSecret: WEBHOOK_SECRET });

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
        this.verifier.webhooks.unwrap(body, headers).then(
          (event) => {
            const id = headers['webhook-id']!;
            const seen = (this.deliveries.get(id) ?? 0) + 1;
            this.deliveries.set(id, seen);
            if (seen <= REFUSALS) return res.writeHead(500).end();
            if (!this.accepted.has(id)) this.accepted.set(id, event);
            return res.writeHead(204).end();
          },
          () => {
            this.rejectedSignatures.push(body);
            res.writeHead(400).end();
          },
        );
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  eventFor(batchId: string): OpenAI.Webhooks.UnwrapWebhookEvent | undefined {
    return [...this.accepted.values()].find((e) => 'data' in e && (e.data as { id: string }).id === batchId);
  }
}
const receiver = new Receiver();

beforeAll(async () => {
  const webhookUrl = await receiver.start();
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
      DEFAULT_MAX_TOKENS: '16',
      COSMOS_DATABASE: 'openai-sdk',
      RETRY_BASE_DELAY_MS: '1',
      // One line per work message: a poll of the queues then runs a known number of lines (the trigger's batch size).
      QUEUE_MESSAGE_MAX_REQUESTS: '1',
      // Windows of seconds, for the expiry test (in Azure the shortest is an hour).
      MIN_COMPLETION_WINDOW_MS: '1000',
      WEBHOOK_URL: webhookUrl,
      WEBHOOK_SECRET,
      // Retries at once: the test drives the queues itself (Azure's default spreads them over about 28 h).
      WEBHOOK_RETRY_DELAYS_MS: '0,0,0,0,0',
    },
  });
  // The SDK as a user sets it up against the Functions app: base URL and the function key; no retries, so each call is one request.
  client = new OpenAI({
    baseURL: `${app.host.httpUrl}/api/v1`,
    apiKey: 'unused-by-this-service',
    defaultHeaders: { 'x-functions-key': FUNCTION_KEY },
    maxRetries: 0,
  });
});

afterAll(async () => {
  await app?.stop();
  await simulator?.close();
  await stack?.close();
  await new Promise((resolve) => receiver.server?.close(resolve));
  process.env = savedEnv;
});

const line = (customId: string, content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'user', content }], max_tokens: 8, ...extra },
  });

async function uploadLines(lines: readonly string[], filename = 'batch.jsonl'): Promise<OpenAI.FileObject> {
  return client.files.create({ file: await toFile(Buffer.from(`${lines.join('\n')}\n`), filename), purpose: 'batch' });
}

/** Polls `batches.retrieve` until a final status, running the host's triggers in between (bounded, no sleeping). */
async function retrieveUntilFinal(id: string): Promise<OpenAI.Batch> {
  for (let round = 0; round < 500; round += 1) {
    const batch = await client.batches.retrieve(id);
    if (['completed', 'failed', 'cancelled', 'expired'].includes(batch.status)) return batch;
    await app.host.pollQueuesNow();
  }
  throw new Error(`batch ${id} did not finish`);
}

async function contentLines(fileId: string): Promise<Array<Record<string, any>>> {
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, any>);
}

describe('the OpenAI SDK against the local stack', () => {
  it('uploads a file, creates a batch with metadata, polls it to completed and downloads output and error files', async () => {
    const lines = [
      line('a-1', 'One'),
      line('a-2', 'Two'),
      '{"custom_id": "a-broken", ',
      line('a-3', 'Three'),
      line('a-4', 'please [[content_filter]] this'),
    ];
    const file = await uploadLines(lines, 'questions.jsonl');
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', filename: 'questions.jsonl', status: 'processed' });
    expect(file.bytes).toBe(Buffer.byteLength(`${lines.join('\n')}\n`));
    expect(await client.files.retrieve(file.id)).toEqual(file);
    expect(await (await client.files.content(file.id)).text()).toBe(`${lines.join('\n')}\n`);

    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { team: 'search', run: 'nightly' },
    });
    expect(created).toMatchObject({
      object: 'batch',
      endpoint: '/v1/chat/completions',
      input_file_id: file.id,
      completion_window: '24h',
      status: 'validating',
      metadata: { team: 'search', run: 'nightly' },
      output_file_id: null,
      error_file_id: null,
    });
    expect(created.expires_at).toBe(created.created_at + 24 * 3600);

    const done = await retrieveUntilFinal(created.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 5, completed: 3, failed: 2 });
    expect(done.completed_at).toBeGreaterThanOrEqual(done.created_at);
    expect(done.metadata).toEqual({ team: 'search', run: 'nightly' });
    expect(done.errors?.data?.map((e) => [e.line, e.code])).toEqual([[3, 'invalid_json_line']]);

    const output = await contentLines(done.output_file_id!);
    expect(output.map((l) => l['custom_id'])).toEqual(['a-1', 'a-2', 'a-3']);
    expect(output.every((l) => l['response'].status_code === 200 && l['error'] === null)).toBe(true);
    const errors = await contentLines(done.error_file_id!);
    expect(errors.map((l) => [l['custom_id'], l['error'].code])).toEqual([
      ['~line-3', 'invalid_json_line'],
      ['a-4', 'content_filter'],
    ]);
    expect(await client.files.retrieve(done.output_file_id!)).toMatchObject({
      object: 'file',
      purpose: 'batch_output',
    });

    // The batch keeps its own copy: deleting the uploaded file leaves it and its files alone.
    expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: 'file', deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect((await client.batches.retrieve(done.id)).status).toBe('completed');
  });

  it('answers a repeated batch with metadata.cache from the response cache: same output shape, cached lines marked, $0', async () => {
    const file = await uploadLines([line('c-1', 'Cache me', { temperature: 0.9 }), line('c-2', 'And me')]);
    const create = () =>
      client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        metadata: { cache: 'true' },
      });
    const first = await retrieveUntilFinal((await create()).id);
    const calls = simulator.log.entries().length;
    const second = await retrieveUntilFinal((await create()).id);
    expect(simulator.log.entries().length).toBe(calls);
    expect(second.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    expect(second).toMatchObject({ cache: { choice: true, hits: 2 }, cost: { amount: 0 } });
    const [before, after] = [await contentLines(first.output_file_id!), await contentLines(second.output_file_id!)];
    expect(after.map((l) => l['cached'])).toEqual([true, true]);
    expect(after.map((l) => l['response'])).toEqual(before.map((l) => l['response']));
    expect(before.some((l) => 'cached' in l)).toBe(false);
  });

  it('posts a signed batch.completed webhook that the SDK verifies; a receiver refusing the first deliveries gets it once per id', async () => {
    const file = await uploadLines([line('h-1', 'Hook')]);
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await retrieveUntilFinal(batch.id);
    for (let round = 0; round < 50 && receiver.eventFor(batch.id) === undefined; round += 1)
      await app.host.pollQueuesNow();
    const event = receiver.eventFor(batch.id)!;
    expect(event).toMatchObject({ object: 'event', type: 'batch.completed', data: { id: batch.id } });
    expect(receiver.deliveries.get(event.id)).toBe(REFUSALS + 1);
    expect(receiver.rejectedSignatures).toEqual([]);
    const after = (await client.batches.retrieve(batch.id)) as OpenAI.Batch & { webhook: Record<string, unknown> };
    expect(after.webhook).toMatchObject({
      event_id: event.id,
      type: 'batch.completed',
      attempts: REFUSALS + 1,
      last_status: 204,
    });
    expect(after.webhook['delivered_at']).not.toBeNull();
  });

  it('lists batches and files newest first with cursor pagination, as the SDK pages them', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const file = await uploadLines([line(`p-${i}`, `Page ${i}`)]);
      const batch = await client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        metadata: { list: 'yes' },
      });
      ids.push(batch.id);
    }
    const first = await client.batches.list({ limit: 2 });
    expect(first.data).toHaveLength(2);
    expect(first.has_more).toBe(true);
    const all: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) all.push(batch.id);
    // Newest first: the three just created lead, each listed once.
    expect(all.slice(0, 3)).toEqual([...ids].reverse());
    expect(new Set(all).size).toBe(all.length);

    const files: string[] = [];
    for await (const file of client.files.list({ limit: 1 })) files.push(file.id);
    expect(new Set(files).size).toBe(files.length);
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const id of ids) await retrieveUntilFinal(id);
  });

  it('cancels a running batch: finished lines are kept, the rest end as batch_cancelled', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => line(`c-${i}`, `Question ${i}`));
    const file = await uploadLines(lines);
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    // One poll reads the file (control queue); the next runs one trigger batch of lines (16 of 40).
    await app.host.pollQueuesNow();
    await app.host.pollQueuesNow();
    const running = await client.batches.retrieve(batch.id);
    expect(running.status).toBe('in_progress');
    expect(running.request_counts!.completed).toBeGreaterThan(0);
    expect(running.request_counts!.completed).toBeLessThan(40);

    const cancelling = await client.batches.cancel(batch.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).not.toBeNull();
    const cancelled = await retrieveUntilFinal(batch.id);
    expect(cancelled.status).toBe('cancelled');
    const counts = cancelled.request_counts!;
    expect(counts.total).toBe(40);
    expect(counts.completed + counts.failed).toBe(40);
    expect(counts.completed).toBeGreaterThan(0);

    const output = await contentLines(cancelled.output_file_id!);
    const errors = await contentLines(cancelled.error_file_id!);
    expect(errors.every((l) => l['error'].code === 'batch_cancelled')).toBe(true);
    const seen = [...output, ...errors].map((l) => l['custom_id']).sort();
    expect(seen).toEqual(lines.map((_, i) => `c-${i}`).sort());
    await expect(client.batches.cancel(batch.id)).resolves.toMatchObject({ status: 'cancelled' });
  });

  it('ends a batch whose window closes over a slow endpoint as expired: what was sent finished, the rest is batch_expired', async () => {
    // More lines than the budget (1,000 RPM) admits in the 3 s window, and than one instance holds at once.
    const lines = Array.from({ length: 120 }, (_, i) => line(`x-${i}`, `Slow ${i}`));
    const file = await uploadLines(lines);
    simulator.setLatency({ baseInMs: 3_500 });
    try {
      const batch = await client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '3s' as '24h',
      });
      expect(batch.expires_at).toBe(batch.created_at + 3);
      const expired = await retrieveUntilFinal(batch.id);
      expect(expired.status).toBe('expired');
      expect(expired.expired_at).not.toBeNull();
      const output = expired.output_file_id ? await contentLines(expired.output_file_id) : [];
      const errors = await contentLines(expired.error_file_id!);
      expect(errors.every((l) => l['error'].code === 'batch_expired')).toBe(true);
      expect(errors.length).toBeGreaterThan(0);
      expect([...output, ...errors].map((l) => l['custom_id']).sort()).toEqual(lines.map((_, i) => `x-${i}`).sort());
      // Every line the endpoint saw finished and is in the output; none reached it after the window closed.
      const sent = simulator.log.admitted().filter((e) => e.customIdHeader?.startsWith('x-'));
      expect(sent.map((e) => e.customIdHeader).sort()).toEqual(output.map((l) => l['custom_id']).sort());
      expect(sent.every((e) => e.atInMs < expired.expires_at! * 1000 + 1000)).toBe(true);
    } finally {
      simulator.setLatency({ baseInMs: 0 });
    }
  });

  it('shows a dropped file as a batch, with the window and metadata of its blob metadata', async () => {
    const text = `${[line('d-1', 'Dropped one'), line('d-2', 'Dropped two')].join('\n')}\n`;
    const container = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!).getContainerClient(
      'batch-input',
    );
    await container.createIfNotExists();
    const uploaded = await container.getBlockBlobClient('dropped/run.jsonl').upload(text, Buffer.byteLength(text), {
      // Blob metadata is ASCII: JSON's \u escapes carry the rest.
      metadata: { completionwindow: '48h', batchmetadata: '{"source":"drop","owner-name":"Zo\\u00eb"}' },
    });
    await app.host.pollBlobsNow();
    const id = jobIdFor('batch-input', 'dropped/run.jsonl', uploaded.etag!);
    const batch = await retrieveUntilFinal(id);
    expect(batch).toMatchObject({
      status: 'completed',
      completion_window: '48h',
      metadata: { source: 'drop', 'owner-name': 'Zoë' },
    });
    expect(batch.expires_at).toBe(batch.created_at + 48 * 3600);
    expect(batch.input_file_id).toMatch(/^file-input-/);
    expect(await (await client.files.content(batch.input_file_id)).text()).toBe(text);
    expect((await contentLines(batch.output_file_id!)).map((l) => l['custom_id'])).toEqual(['d-1', 'd-2']);
    expect(batch.error_file_id).toBeNull();
    const listed = await client.batches.list({ limit: 100 });
    expect(listed.data.map((b) => b.id)).toContain(id);
  });

  it('answers bad requests with the statuses and bodies the SDK raises as its typed errors', async () => {
    await expect(client.batches.retrieve('job_00000000000000000000000000000000')).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    await expect(client.batches.retrieve('batch_abc')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.retrieve('file-nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.content('file-0123456789abcdef0123456789abcdef')).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    await expect(client.batches.cancel('job_00000000000000000000000000000000')).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );

    const wrongPurpose = client.files.create({
      file: await toFile(Buffer.from(line('x', 'y')), 'x.jsonl'),
      purpose: 'fine-tune',
    });
    await expect(wrongPurpose).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(wrongPurpose).rejects.toMatchObject({ status: 400, param: 'purpose', type: 'invalid_request_error' });

    const file = await uploadLines([line('e-1', 'x')]);
    const create = (body: Record<string, unknown>) =>
      client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        ...body,
      } as never);
    await expect(create({ endpoint: '/v1/embeddings' })).rejects.toMatchObject({ status: 400, param: 'endpoint' });
    await expect(create({ completion_window: '2w' })).rejects.toMatchObject({
      status: 400,
      param: 'completion_window',
    });
    await expect(create({ completion_window: '8d' })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(create({ input_file_id: 'file-0123456789abcdef0123456789abcdef' })).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    await expect(create({ metadata: tooMany })).rejects.toMatchObject({ status: 400, param: 'metadata' });
    await expect(create({ metadata: { k: 'v'.repeat(513) } })).rejects.toMatchObject({
      status: 400,
      param: 'metadata',
    });
    await expect(create({ metadata: { priority: 'asap' } })).rejects.toMatchObject({
      status: 400,
      param: 'metadata.priority',
      message: expect.stringContaining('metadata.priority "asap" is not high, normal, low'),
    });

    // Without the function key the host refuses the call: the SDK's AuthenticationError.
    const keyless = new OpenAI({ baseURL: `${app.host.httpUrl}/api/v1`, apiKey: 'x', maxRetries: 0 });
    await expect(keyless.batches.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    // A batch that ran to the end cannot be cancelled: 409, the SDK's ConflictError.
    const done = await retrieveUntilFinal((await create({})).id);
    await expect(client.batches.cancel(done.id)).rejects.toBeInstanceOf(OpenAI.ConflictError);
  });
});
