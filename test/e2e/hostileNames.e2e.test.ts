import { request } from 'node:http';
import { BlobServiceClient, ContainerSASPermissions } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isValidJobId, jobIdFor } from '../../src/core/jobId.js';
import type { LocalFunctionsHost, LocalHostLogEntry } from '../../dev/local/host/index.js';
import { startAppHost, type AppHost } from '../support/appHost.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';

/*
 * Blob names are chosen by whoever uploads. Odd ones (spaces, any Unicode, characters that mean
 * something in a URL) must still make one job each whose output stays under {jobId}/. Names with
 * "." or ".." segments, which Azure stores as given when the dots are percent-encoded, cannot be
 * addressed exactly through any URL (every client normalises dot segments away): reading one would
 * read some other blob, possibly in another container, so they are refused, loudly.
 */

const FUNCTION_KEY = 'names-function-key';
const MODEL = 'Phi-3-mini-4k-instruct';

let stack: LocalStack;
let simulator: Phi3Simulator;
let app: AppHost;
let host: LocalFunctionsHost;
let blobService: BlobServiceClient;
const savedEnv = { ...process.env };
const logEntries: LocalHostLogEntry[] = [];

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
      COSMOS_DATABASE: 'names',
      RETRY_BASE_DELAY_MS: '1',
    },
    log: (entry) => void logEntries.push(entry),
  });
  host = app.host;
  blobService = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
  await blobService.getContainerClient('batch-input').createIfNotExists();
});

afterAll(async () => {
  await app?.stop();
  await simulator?.close();
  await stack?.close();
  process.env = savedEnv;
});

const api = (path: string): Promise<Response> => app.api(path);

const fileFor = (tag: string, count = 2): string =>
  `${Array.from({ length: count }, (_, i) => JSON.stringify({ custom_id: `${tag}-${i}`, messages: [{ role: 'user', content: `prompt ${i} of ${tag}` }], max_tokens: 8 })).join('\n')}\n`;

/** Uploads through the SDK (which addresses exactly the name given, dot segments aside). */
async function upload(container: string, name: string, text: string): Promise<string> {
  const client = blobService.getContainerClient(container);
  await client.createIfNotExists();
  const result = await client.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
  return result.etag!;
}

/** Uploads with the name's path sent as is, dots percent-encoded, as any HTTP client can: Azure keeps the name literally. */
async function uploadRaw(container: string, encodedName: string, text: string): Promise<void> {
  const sas = new URL(
    await blobService.getContainerClient(container).generateSasUrl({
      permissions: ContainerSASPermissions.parse('racwl'),
      expiresOn: new Date(Date.now() + 3_600_000),
    }),
  );
  const status = await new Promise<number>((resolve, reject) => {
    const put = request(
      {
        host: sas.hostname,
        port: sas.port,
        method: 'PUT',
        path: `${sas.pathname}/${encodedName}${sas.search}`,
        headers: { 'x-ms-blob-type': 'BlockBlob', 'content-length': Buffer.byteLength(text) },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    put.on('error', reject);
    put.end(text);
  });
  expect(status).toBe(201);
}

async function listNames(container: string): Promise<Array<{ name: string; metadata: Record<string, string> }>> {
  const all: Array<{ name: string; metadata: Record<string, string> }> = [];
  for await (const blob of blobService.getContainerClient(container).listBlobsFlat({ includeMetadata: true }))
    all.push({ name: blob.name, metadata: blob.metadata ?? {} });
  return all;
}

async function download(container: string, name: string): Promise<string> {
  return (await blobService.getContainerClient(container).getBlobClient(name).downloadToBuffer()).toString('utf8');
}

/** Polls blobs and queues until every listed job is terminal and nothing new turns up; bounded, no sleeping. */
async function runUntilQuiet(jobIds: readonly string[]): Promise<Map<string, Record<string, any>>> {
  const done = new Map<string, Record<string, any>>();
  for (let round = 0; round < 500; round += 1) {
    const blobs = await host.pollBlobsNow();
    await host.pollQueuesNow();
    for (const id of jobIds) {
      if (done.has(id)) continue;
      const response = await api(`jobs/${id}`);
      if (response.status !== 200) continue;
      const job = (await response.json()) as Record<string, any>;
      if (['completed', 'failed', 'cancelled'].includes(job['status'])) done.set(id, job);
    }
    // Done when every job is, and no blob is left to deliver (or to try again).
    if (done.size === jobIds.length && blobs.candidates === 0) return done;
  }
  throw new Error(`jobs did not finish: ${jobIds.filter((id) => !done.has(id)).join(', ')}`);
}

describe('hostile blob names dropped into the input container', () => {
  const odd = [
    'données été 😀.jsonl',
    'with  two spaces .jsonl',
    'q?x=1#frag&y.jsonl',
    'nested/dir/deep.jsonl',
    '%2e%2e/percent-dots.jsonl',
    'UPPER.JSONL',
    'quote\'"<>.jsonl',
    'שלום\u202Eevil.jsonl',
  ];
  const expectedJobs = new Map<string, string>();

  it('each odd name becomes one job whose files land under {jobId}/ and nowhere else', async () => {
    for (const [index, name] of odd.entries())
      expectedJobs.set(jobIdFor('batch-input', name, await upload('batch-input', name, fileFor(`odd${index}`))), name);
    // An ordinary file whose name a traversal below points at, and someone else's file in another container.
    expectedJobs.set(
      jobIdFor('batch-input', 'b.jsonl', await upload('batch-input', 'b.jsonl', fileFor('own-b'))),
      'b.jsonl',
    );
    await upload('elsewhere', 'theirs.jsonl', fileFor('theirs'));
    await upload('batch-input', 'notes.txt', 'not a batch file');
    await uploadRaw('batch-input', '%2E%2E/x.jsonl', fileFor('dots-x'));
    await uploadRaw('batch-input', 'a/%2E%2E/b.jsonl', fileFor('dots-b'));
    await uploadRaw('batch-input', 'x/%2E%2E/%2E%2E/elsewhere/theirs.jsonl', fileFor('dots-theirs'));
    await uploadRaw('batch-input', 'a/%2E/single-dot.jsonl', fileFor('dots-single'));
    expect((await listNames('batch-input')).map((b) => b.name)).toEqual(
      expect.arrayContaining(['../x.jsonl', 'a/../b.jsonl', 'x/../../elsewhere/theirs.jsonl', 'a/./single-dot.jsonl']),
    );

    const finished = await runUntilQuiet([...expectedJobs.keys()]);
    for (const [jobId, name] of expectedJobs) {
      const job = finished.get(jobId)!;
      expect(isValidJobId(jobId)).toBe(true);
      expect(job['input_blob']).toBe(`batch-input/${name}`);
      expect(job['status']).toBe('completed');
      expect(job['request_counts']).toEqual({ total: 2, completed: 2, failed: 0 });
      const results = (await download('batch-output', `${jobId}/results.jsonl`))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { custom_id: string });
      const tag = name === 'b.jsonl' ? 'own-b' : `odd${odd.indexOf(name)}`;
      expect(results.map((r) => r.custom_id)).toEqual([`${tag}-0`, `${tag}-1`]);
    }

    // Exactly these jobs exist, and every output file sits under one of their ids.
    const listed = (await (await api('jobs?limit=100')).json()) as { data: Array<{ id: string }> };
    expect(listed.data.map((j) => j.id).sort()).toEqual([...expectedJobs.keys()].sort());
    for (const blob of await listNames('batch-output')) {
      const [prefix] = blob.name.split('/');
      expect(expectedJobs.has(prefix!), blob.name).toBe(true);
      expect(blob.name.split('/')).not.toContain('..');
    }
  });

  it('a name with dot segments is refused with a warning, and the blob it would resolve to is never read or touched', async () => {
    const warnings = logEntries.filter((e) => e.level === 'warning').map((e) => e.message);
    for (const name of ['../x.jsonl', 'a/../b.jsonl', 'x/../../elsewhere/theirs.jsonl', 'a/./single-dot.jsonl']) {
      expect(
        warnings.some((m) => m.includes(`batch-input/${name}`)),
        `a warning for ${name}`,
      ).toBe(true);
    }
    // Someone else's file keeps its metadata and was never a job; b.jsonl is only its own job.
    expect((await listNames('elsewhere')).map((b) => b.metadata)).toEqual([{}]);
    const b = (await listNames('batch-input')).find((blob) => blob.name === 'b.jsonl')!;
    expect(expectedJobs.get(b.metadata['jobid']!)).toBe('b.jsonl');
    expect(
      simulator.log
        .entries()
        .map((e) => decodeURIComponent(e.customIdHeader ?? ''))
        .filter((id) => id.startsWith('dots-') || id.startsWith('theirs')),
    ).toEqual([]);
  });

  it('a file that is not .jsonl is ignored with a warning, not silently', async () => {
    const warning = logEntries.find((e) => e.level === 'warning' && e.message.includes('batch-input/notes.txt'));
    expect(warning?.message).toMatch(/only \.jsonl files are batch inputs/);
    const notes = (await listNames('batch-input')).find((blob) => blob.name === 'notes.txt')!;
    expect(notes.metadata).toEqual({});
  });
});
