import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServices } from '../../src/compositionRoot.js';
import { withSettingDefaults } from '../../src/config.js';
import { jobIdFor } from '../../src/core/jobId.js';
import { createLocalFunctionsHost, type LocalFunctionsHost } from '../../dev/local/host/index.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import {
  assemble,
  MODEL,
  prototypeSnapshot,
  expectNoPollution,
  referenceLines,
  referenceOutcomes,
  segmentSpec,
  SegmentRenderer,
  separator,
} from './hostileFiles.js';

/*
 * Hostile files through the whole local stack (Azurite, the Cosmos stand-in, the simulator, the
 * local Functions host running the app's own registrations): the real adapters store, queue and read
 * back whatever a line can hold, and each non-blank line ends up exactly once in the output files.
 */

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const FUNCTION_KEY = 'hostile-function-key';
const MAX_LINE_BYTES = 2048;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

let stack: LocalStack;
let simulator: Phi3Simulator;
let host: LocalFunctionsHost;
let blobService: BlobServiceClient;
const savedEnv = { ...process.env };

beforeAll(async () => {
  stack = await startLocalStack();
  simulator = await startPhi3Simulator({
    model: MODEL,
    latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 },
    limits: { requestsPerMinute: 100_000, tokensPerMinute: 100_000_000 },
  });
  Object.assign(process.env, stack.settings, {
    PHI3_ENDPOINT: simulator.url,
    PHI3_API_KEY: simulator.apiKey,
    PHI3_MODEL: MODEL,
    PHI3_RPM_LIMIT: '100000',
    PHI3_TPM_LIMIT: '100000000',
    // This test is about reading files exactly; the context-length checks have tests of their own.
    PHI3_CONTEXT_LENGTH: '100000000',
    MAX_LINE_BYTES: String(MAX_LINE_BYTES),
    COSMOS_DATABASE: 'hostile',
    RETRY_BASE_DELAY_MS: '1',
  });
  Object.assign(process.env, withSettingDefaults(process.env));
  host = createLocalFunctionsHost({
    entryModules: [root('src/index.ts')],
    hostJsonPath: root('host.json'),
    httpPort: 0,
    functionKey: FUNCTION_KEY,
    pollAutomatically: false,
  });
  await host.start();
  blobService = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
  await blobService.getContainerClient('batch-input').createIfNotExists();
});

afterAll(async () => {
  await host?.stop();
  await closeServices();
  await simulator?.close();
  await stack?.close();
  process.env = savedEnv;
});

async function api(path: string): Promise<Response> {
  return fetch(`${host.httpUrl}/api/${path}`, { headers: { 'x-functions-key': FUNCTION_KEY } });
}

const fileArb = fc
  .record({
    specs: fc.array(segmentSpec, { minLength: 20, maxLength: 40 }),
    separators: fc.array(separator, { minLength: 1, maxLength: 40 }),
    bom: fc.boolean(),
    trailing: fc.boolean(),
  })
  .map(({ specs, separators, bom, trailing }) => {
    const renderer = new SegmentRenderer(MAX_LINE_BYTES);
    return assemble(
      specs.map((s) => renderer.render(s)),
      separators,
      bom,
      trailing,
    ).bytes;
  });

describe('hostile files through the local stack', () => {
  it('every non-blank line is in the output exactly once, with the code the reference gives it', async () => {
    const prototypes = prototypeSnapshot();
    const handmade = Buffer.concat([
      Buffer.from('\uFEFF'),
      Buffer.from(
        [
          JSON.stringify({
            custom_id: 'lone \ud83d surrogate',
            messages: [{ role: 'user', content: 'a \ud800 b' }],
            max_tokens: 5,
          }),
          `\uFEFF${JSON.stringify({ custom_id: 'after a stray BOM', messages: [{ role: 'user', content: 'nul \u0000 rtl \u202E' }] })}`,
          `${JSON.stringify({ custom_id: 'cr only', messages: [{ role: 'user', content: 'x' }] })}\r${JSON.stringify({ custom_id: 'joined', messages: [] })}`,
          '{"custom_id":"proto","__proto__":{"polluted":"yes"},"messages":[{"role":"user","content":"p"}]}',
          `{"custom_id":"deep","messages":[{"role":"user","content":"d"}],"x":${'['.repeat(600)}${']'.repeat(600)}}`,
          JSON.stringify({ custom_id: 'too large', messages: [{ role: 'user', content: 'L'.repeat(MAX_LINE_BYTES) }] }),
          JSON.stringify({
            custom_id: '😀 שלום 漢字',
            method: 'POST',
            url: '/chat/completions',
            body: { messages: [{ role: 'user', content: 'ok' }], max_tokens: 3 },
          }),
          '',
        ].join('\r\n'),
      ),
      Buffer.from([0xff, 0xfe, 0x00, 0x0a]),
      Buffer.from(JSON.stringify({ custom_id: 'last, no newline', messages: [{ role: 'user', content: 'end' }] })),
    ]);
    const files = [handmade, ...fc.sample(fileArb, { seed: 20_261_127, numRuns: 4 })];
    const jobs: Array<{ jobId: string; bytes: Buffer }> = [];
    for (const [index, bytes] of files.entries()) {
      const result = await blobService
        .getContainerClient('batch-input')
        .getBlockBlobClient(`hostile-${index}.jsonl`)
        .upload(bytes, bytes.length);
      jobs.push({ jobId: jobIdFor('batch-input', `hostile-${index}.jsonl`, result.etag!), bytes });
    }

    const finished = new Map<string, Record<string, any>>();
    for (let round = 0; round < 500 && finished.size < jobs.length; round += 1) {
      await host.pollBlobsNow();
      await host.pollQueuesNow();
      for (const { jobId } of jobs) {
        const response = await api(`jobs/${jobId}`);
        if (response.status !== 200) continue;
        const job = (await response.json()) as Record<string, any>;
        if (['completed', 'failed', 'cancelled'].includes(job['status'])) finished.set(jobId, job);
      }
    }
    expect(finished.size).toBe(jobs.length);

    let requestsSent = 0;
    const expectedHeaders: string[] = [];
    for (const { jobId, bytes } of jobs) {
      const lines = referenceLines(bytes);
      const expected = referenceOutcomes(lines, { maxLineBytes: MAX_LINE_BYTES, maxLinesPerFile: 1_000_000 });
      const output = (await (await api(`jobs/${jobId}/results?kind=all`)).text())
        .split('\n')
        .filter(Boolean)
        .map(
          (l) =>
            JSON.parse(l) as {
              id: string;
              custom_id: string;
              response: { status_code: number } | null;
              error: { code: string } | null;
            },
        );
      const byLine = new Map(output.map((o) => [Number(o.id.slice(o.id.lastIndexOf('_') + 1)), o]));
      expect(byLine.size).toBe(output.length);
      const nonBlank = expected.filter((e) => e.kind !== 'blank').length;
      expect(output).toHaveLength(nonBlank);
      expect(finished.get(jobId)!['request_counts'].total).toBe(nonBlank);
      lines.forEach((line, i) => {
        const want = expected[i]!;
        const got = byLine.get(line.lineNumber);
        if (want.kind === 'blank') return expect(got).toBeUndefined();
        expect(got?.custom_id, `line ${line.lineNumber}`).toBe(want.customId);
        if (want.kind === 'invalid') return expect([got!.error?.code, got!.response]).toEqual([want.code, null]);
        // Sent once: the endpoint's answer, a success or its own refusal, never a validation code.
        requestsSent += 1;
        expectedHeaders.push(want.customId.replace(LONE_SURROGATE, '\ufffd'));
        expect(
          got!.response?.status_code ?? 0,
          `line ${line.lineNumber}: ${JSON.stringify(got)}`,
        ).toBeGreaterThanOrEqual(200);
      });
    }
    const calls = simulator.log.entries().map((e) => decodeURIComponent(e.customIdHeader ?? ''));
    expect(requestsSent).toBeGreaterThan(10);
    expect(calls.sort()).toEqual(expectedHeaders.sort());
    expectNoPollution(prototypes);
  });
});
