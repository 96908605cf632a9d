import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import type { ChatCompletionBody } from '../../src/core/chat.js';
import { jobIdFor } from '../../src/core/jobId.js';
import { startAppHost, type AppHost } from '../support/appHost.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { simulatedCompletion, startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';

const FUNCTION_KEY = 'test-function-key';
const MODEL = 'Phi-3-mini-4k-instruct';
const DEFAULT_MAX_TOKENS = 64;

let stack: LocalStack;
let simulator: Phi3Simulator;
let app: AppHost;
let blobService: BlobServiceClient;
const savedEnv = { ...process.env };

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
      DEFAULT_MAX_TOKENS: String(DEFAULT_MAX_TOKENS),
      COSMOS_DATABASE: 'e2e',
      RETRY_BASE_DELAY_MS: '1',
    },
  });
  blobService = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
});

afterAll(async () => {
  await app?.stop();
  await simulator?.close();
  await stack?.close();
  process.env = savedEnv;
});

const api = (path: string, init?: { method?: string; key?: string | null }): Promise<Response> => app.api(path, init);

const runUntilDone = (jobId: string): Promise<Record<string, any>> => app.runUntilDone(jobId);

async function upload(name: string, text: string): Promise<string> {
  const container = blobService.getContainerClient('batch-input');
  await container.createIfNotExists();
  const result = await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
  return jobIdFor('batch-input', name, result.etag!);
}

const request = (customId: string | undefined, content: string, extra: Record<string, unknown> = {}) => ({
  ...(customId === undefined ? {} : { custom_id: customId }),
  method: 'POST',
  url: '/v1/chat/completions',
  body: {
    model: MODEL,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content },
    ],
    ...extra,
  },
});

describe('end to end on the local stack', () => {
  it('drop a file with valid and invalid lines: results, errors, counts and tokens match the endpoint exactly', async () => {
    const valid = [
      request('q-1', 'What is the capital of France?', { max_tokens: 30 }),
      request('q-2', 'Name three prime numbers.', { max_tokens: 50, temperature: 0 }),
      request(undefined, 'No custom id here.', { max_tokens: 20 }),
      { custom_id: 'bare-1', messages: [{ role: 'user', content: 'A bare chat body without max_tokens.' }] },
      request('q-5', 'Explain photosynthesis in a paragraph.', { max_tokens: 8 }),
    ];
    const lines = [
      JSON.stringify(valid[0]),
      '{"custom_id": "broken", "body": ',
      JSON.stringify(valid[1]),
      '',
      JSON.stringify(valid[2]),
      JSON.stringify({ ...request('q-1', 'duplicate id') }),
      JSON.stringify({ ...request('wrong-url', 'x'), url: '/v1/embeddings' }),
      JSON.stringify(valid[3]),
      JSON.stringify(valid[4]),
      JSON.stringify({
        custom_id: 'filtered',
        messages: [{ role: 'user', content: 'please [[content_filter]] this' }],
        max_tokens: 5,
      }),
    ];
    const jobId = await upload('mixed.jsonl', `\uFEFF${lines.join('\r\n')}\r\n`);
    const job = await runUntilDone(jobId);

    expect(job['status']).toBe('completed');
    expect(job['request_counts']).toEqual({ total: 9, completed: 5, failed: 4 });
    expect(job['ingest']).toMatchObject({ done: true, requests: 6, invalid_lines: 3, default_max_tokens_applied: 1 });
    expect(job['errors'].data.map((e: { code: string; line: number }) => [e.line, e.code])).toEqual([
      [2, 'invalid_json_line'],
      [6, 'duplicate_custom_id'],
      [7, 'url_mismatch'],
    ]);

    // Every successful result is the simulator's deterministic answer to exactly what was sent.
    const tokenCounter = createTokenCounter(MODEL);
    const results = await downloadLines(`${jobId}/results.jsonl`);
    expect(results.map((r) => r.custom_id)).toEqual(['q-1', 'q-2', '~line-5', 'bare-1', 'q-5']);
    valid.forEach((line, index) => {
      const body = ('body' in line ? line.body : line) as ChatCompletionBody & Record<string, unknown>;
      const { model: _model, custom_id: _id, ...sent } = body as Record<string, unknown>;
      const expected = simulatedCompletion(
        { ...(sent as unknown as ChatCompletionBody), max_tokens: body.max_tokens ?? DEFAULT_MAX_TOKENS },
        tokenCounter,
      );
      const result = results[index]!;
      expect(result.response.status_code).toBe(200);
      expect(result.response.body.choices[0].message.content).toBe(expected.content);
      expect(result.response.body.usage.completion_tokens).toBe(expected.completionTokens);
      expect(result.error).toBeNull();
    });

    const errors = await downloadLines(`${jobId}/errors.jsonl`);
    expect(errors.map((e) => [e.custom_id, e.error.code])).toEqual([
      ['~line-2', 'invalid_json_line'],
      ['q-1', 'duplicate_custom_id'],
      ['wrong-url', 'url_mismatch'],
      ['filtered', 'content_filter'],
    ]);
    expect(errors[3]?.['response'].status_code).toBe(400);

    // Counts and token totals equal the simulator's own log of what it admitted.
    const admitted = simulator.log.admitted();
    expect(admitted).toHaveLength(5);
    const loggedPrompt = admitted.reduce((sum, e) => sum + (e.promptTokens ?? 0), 0);
    const loggedCompletion = admitted.reduce((sum, e) => sum + e.completionTokens, 0);
    expect(job['usage']).toEqual({
      input_tokens: loggedPrompt,
      output_tokens: loggedCompletion,
      total_tokens: loggedPrompt + loggedCompletion,
    });
    expect(new Set(admitted.map((e) => decodeURIComponent(e.customIdHeader ?? '')))).toEqual(
      new Set(['q-1', 'q-2', '~line-5', 'bare-1', 'q-5']),
    );
    expect(job['cost'].amount).toBeGreaterThan(0);

    // The results endpoint serves the same lines.
    const served = await (await api(`jobs/${jobId}/results`)).text();
    expect(
      served
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).custom_id),
    ).toEqual(['q-1', 'q-2', '~line-5', 'bare-1', 'q-5']);
    const servedErrors = await (await api(`jobs/${jobId}/results?kind=errors`)).text();
    expect(servedErrors.trim().split('\n')).toHaveLength(4);

    // The blob carries its job id.
    const properties = await blobService.getContainerClient('batch-input').getBlobClient('mixed.jsonl').getProperties();
    expect(properties.metadata?.['jobid']).toBe(jobId);
  });

  it('a file with no valid line becomes a failed job that says why', async () => {
    const jobId = await upload('all-bad.jsonl', 'nope\n{"messages": []}\n');
    const job = await runUntilDone(jobId);
    expect(job['status']).toBe('failed');
    expect(job['errors'].data[0].message).toMatch(/no valid request line/);
    expect(job['request_counts']).toEqual({ total: 2, completed: 0, failed: 2 });
  });

  it('serves the jobs API with clear errors', async () => {
    const list = (await (await api('jobs?limit=1')).json()) as {
      data: Array<{ id: string }>;
      has_more: boolean;
      next_page: string | null;
    };
    expect(list.data).toHaveLength(1);
    expect(list.has_more).toBe(true);
    const next = (await (await api(`jobs?limit=1&after=${list.next_page}`)).json()) as { data: Array<{ id: string }> };
    expect(next.data[0]!.id).not.toBe(list.data[0]!.id);

    const missing = await api(`jobs/job_${'0'.repeat(32)}`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const malformed = await api('jobs/not-a-job');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { param: string } }).error.param).toBe('jobId');
    expect((await api('jobs?limit=0')).status).toBe(400);
    expect((await api('jobs', { key: null })).status).toBe(401);
  });
});

async function downloadLines(name: string): Promise<Array<Record<string, any>>> {
  const buffer = await blobService.getContainerClient('batch-output').getBlobClient(name).downloadToBuffer();
  return buffer
    .toString('utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}
