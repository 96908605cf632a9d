import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { runCli, type RunCliOptions } from '../../cli/runCli.js';
import { parseTagOptions, uploadBatchFile, type BlobUploader } from '../../cli/uploadBatchFile.js';
import { jobIdFor } from '../../src/core/jobId.js';
import { FakeJobsApi } from './fakeJobsApi.js';
import { stages, T0_IN_MS } from './fixtures.js';
import { startInProcessBlobStorage, type InProcessBlobStorage } from './inProcessAzurite.js';
import { CapturingStream } from './streams.js';

const LINES = [
  {
    custom_id: 'r1',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'Phi-3-mini-4k-instruct', messages: [{ role: 'user', content: 'Hi' }] },
  },
  {
    custom_id: 'r2',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'Phi-3-mini-4k-instruct', messages: [{ role: 'user', content: 'Bonjour é' }] },
  },
];
const CONTENT = `${LINES.map((line) => JSON.stringify(line)).join('\n')}\n`;

let dir: string;
let file: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phi3-batch-submit-'));
  file = join(dir, 'prompts.jsonl');
  await writeFile(file, CONTENT);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An uploader that reads what it is given as a stream and answers with a made-up ETag. */
function recordingUploader(): BlobUploader & {
  received: { blobName: string; body: string; sizeInBytes: number; overwrite: boolean }[];
} {
  const received: { blobName: string; body: string; sizeInBytes: number; overwrite: boolean }[] = [];
  return {
    container: 'batch-input',
    received,
    async upload(blobName: string, source: Readable, options) {
      const chunks: Buffer[] = [];
      for await (const chunk of source) chunks.push(chunk as Buffer);
      received.push({
        blobName,
        body: Buffer.concat(chunks).toString('utf8'),
        sizeInBytes: options.sizeInBytes,
        overwrite: options.overwrite,
      });
      return { etag: '"0x8DC0FFEE"' };
    },
  };
}

describe('uploadBatchFile', () => {
  test('streams the file and names the job after container, blob name and the upload ETag', async () => {
    const uploader = recordingUploader();
    const uploaded = await uploadBatchFile({ filePath: file, uploader });
    expect(uploader.received).toEqual([
      { blobName: 'prompts.jsonl', body: CONTENT, sizeInBytes: Buffer.byteLength(CONTENT), overwrite: false },
    ]);
    expect(uploaded).toEqual({
      container: 'batch-input',
      blobName: 'prompts.jsonl',
      etag: '"0x8DC0FFEE"',
      sizeInBytes: Buffer.byteLength(CONTENT),
      jobId: jobIdFor('batch-input', 'prompts.jsonl', '"0x8DC0FFEE"'),
    });
  });

  test('a chosen blob name', async () => {
    const uploader = recordingUploader();
    const uploaded = await uploadBatchFile({
      filePath: file,
      blobName: 'team-a/run-1.JSONL',
      uploader,
      overwrite: true,
    });
    expect(uploaded.jobId).toBe(jobIdFor('batch-input', 'team-a/run-1.JSONL', '"0x8DC0FFEE"'));
    expect(uploader.received[0]).toMatchObject({ blobName: 'team-a/run-1.JSONL', overwrite: true });
  });

  test('sends --tag pairs as tag_ blob metadata with the upload, and refuses bad ones before uploading', async () => {
    const metadata: Array<Readonly<Record<string, string>> | undefined> = [];
    const uploader: BlobUploader = {
      container: 'batch-input',
      async upload(_blobName, source, options) {
        for await (const _ of source) void _;
        metadata.push(options.metadata);
        return { etag: '"0x1"' };
      },
    };
    await uploadBatchFile({ filePath: file, uploader, tags: parseTagOptions(['Project=apollo', 'team=a=b']) });
    expect(metadata).toEqual([{ tag_project: 'apollo', tag_team: 'a=b' }]);
    expect(() => parseTagOptions(['cost center=x'])).toThrow(/letters, digits or underscores/);
    expect(() => parseTagOptions(['team=a', 'TEAM=b'])).toThrow(/given twice/);
    expect(() => parseTagOptions(['team'])).toThrow(/key=value/);
    expect(parseTagOptions([])).toBeUndefined();
  });

  test.each([
    ['a file not named .jsonl', () => join(dir, 'prompts.json'), undefined, 'not_jsonl'],
    ['a missing file', () => join(dir, 'missing.jsonl'), undefined, 'file_not_found'],
    ['a directory', () => join(dir, 'folder.jsonl'), undefined, 'not_a_file'],
    ['a blob name the ingest would ignore', () => file, 'prompts.txt', 'invalid_blob_name'],
    ['a blob name starting with /', () => file, '/x.jsonl', 'invalid_blob_name'],
  ])('refuses %s before uploading anything', async (_what, path, blobName, code) => {
    await mkdir(join(dir, 'folder.jsonl'), { recursive: true });
    const uploader = recordingUploader();
    await expect(uploadBatchFile({ filePath: path(), blobName, uploader })).rejects.toMatchObject({
      name: 'CliUsageError',
      code,
    });
    expect(uploader.received).toEqual([]);
  });
});

describe('submit against blob storage', () => {
  let storage: InProcessBlobStorage;
  let api: FakeJobsApi;
  let container: ContainerClient;
  let containerName: string;
  let counter = 0;

  beforeAll(async () => {
    storage = await startInProcessBlobStorage();
    api = await FakeJobsApi.start();
  });
  afterAll(async () => {
    await api.close();
    await storage.close();
  });
  beforeEach(async () => {
    counter += 1;
    containerName = `input-${process.pid}-${counter}`;
    container = BlobServiceClient.fromConnectionString(storage.connectionString).getContainerClient(containerName);
    await container.create();
  });

  async function submit(argv: string[], options: Partial<RunCliOptions> = {}) {
    const stdout = new CapturingStream();
    const stderr = new CapturingStream();
    const code = await runCli(['submit', ...argv], {
      stdout,
      stderr,
      env: {
        AzureWebJobsStorage: storage.connectionString,
        INPUT_CONTAINER: containerName,
        PHI3_BATCH_API_URL: api.baseUrl,
      },
      clock: { nowInMs: () => T0_IN_MS },
      watch: { delay: async () => {}, tty: false },
      ...options,
    });
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  test('uploads the file and prints the id of the job the ingest will create', async () => {
    const { code, stdout, stderr } = await submit([file]);
    expect(code).toBe(0);
    const blob = container.getBlobClient('prompts.jsonl');
    const properties = await blob.getProperties();
    expect(stdout).toBe(`${jobIdFor(containerName, 'prompts.jsonl', properties.etag!)}\n`);
    expect(properties.contentType).toBe('application/jsonl');
    expect((await blob.downloadToBuffer()).toString('utf8')).toBe(CONTENT);
    expect(stderr).toBe(`Uploaded ${file} (${Buffer.byteLength(CONTENT)} B) to ${containerName}/prompts.jsonl\n`);
  });

  test('--name; an existing blob is not replaced unless --overwrite, which makes a new job', async () => {
    const first = await submit([file, '--name', 'runs/a.jsonl']);
    expect(first.code).toBe(0);
    const again = await submit([file, '--name', 'runs/a.jsonl']);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain(`${containerName}/runs/a.jsonl already exists`);
    const replaced = await submit([file, '--name', 'runs/a.jsonl', '--overwrite']);
    expect(replaced.code).toBe(0);
    const etag = (await container.getBlobClient('runs/a.jsonl').getProperties()).etag!;
    expect(replaced.stdout.trim()).toBe(jobIdFor(containerName, 'runs/a.jsonl', etag));
    expect(replaced.stdout).not.toBe(first.stdout);
  });

  test('--cache and --no-cache set the blob metadata the job reads; neither sets none', async () => {
    await submit([file, '--name', 'on.jsonl', '--cache']);
    await submit([file, '--name', 'off.jsonl', '--no-cache']);
    await submit([file, '--name', 'default.jsonl']);
    const metadata = async (name: string) => (await container.getBlobClient(name).getProperties()).metadata;
    expect(await metadata('on.jsonl')).toEqual({ cache: 'true' });
    expect(await metadata('off.jsonl')).toEqual({ cache: 'false' });
    expect(await metadata('default.jsonl')).toEqual({});
  });

  test('--priority and --cache together: both in the metadata', async () => {
    await submit([file, '--name', 'both.jsonl', '--priority', 'low', '--cache']);
    const { metadata } = await container.getBlobClient('both.jsonl').getProperties();
    expect(metadata).toEqual({ priority: 'low', cache: 'true' });
  });

  test('--priority becomes the blob’s priority metadata, set with the upload itself', async () => {
    const { code } = await submit([file, '--name', 'urgent.jsonl', '--priority', 'High']);
    expect(code).toBe(0);
    expect((await container.getBlobClient('urgent.jsonl').getProperties()).metadata).toEqual({ priority: 'high' });
    expect((await submit([file, '--name', 'weighted.jsonl', '--priority', '12'])).code).toBe(0);
    expect((await container.getBlobClient('weighted.jsonl').getProperties()).metadata).toEqual({ priority: '12' });
  });

  test('an unreadable --priority: exit 2 saying what is allowed, nothing uploaded', async () => {
    const { code, stderr } = await submit([file, '--priority', 'asap']);
    expect(code).toBe(2);
    expect(stderr).toContain('priority "asap" is not high, normal, low or a whole-number weight from 1 to 100');
    const names: string[] = [];
    for await (const blob of container.listBlobsFlat()) names.push(blob.name);
    expect(names).toEqual([]);
  });

  test('a container that does not exist: exit 1 naming it', async () => {
    const { code, stderr } = await submit([file], {
      env: { AzureWebJobsStorage: storage.connectionString, INPUT_CONTAINER: 'no-such-container' },
    });
    expect(code).toBe(1);
    expect(stderr).toContain('Container no-such-container does not exist');
  });

  test('a file that is not .jsonl: exit 2, nothing uploaded', async () => {
    const { code, stderr } = await submit([join(dir, 'prompts.csv')]);
    expect(code).toBe(2);
    expect(stderr).toContain('must end with .jsonl');
    const names: string[] = [];
    for await (const blob of container.listBlobsFlat()) names.push(blob.name);
    expect(names).toEqual([]);
  });

  test('--watch follows the job to completion, prints the summary and exits 0', async () => {
    api.nextJob = [undefined, stages.reading(2), stages.running(2, 1), stages.finalizing(2), stages.completed(2)];
    const { code, stdout, stderr } = await submit([file, '--watch']);
    expect(code).toBe(0);
    const [id, ...summary] = stdout.trim().split('\n');
    const etag = (await container.getBlobClient('prompts.jsonl').getProperties()).etag!;
    expect(id).toBe(jobIdFor(containerName, 'prompts.jsonl', etag));
    expect(summary[0]).toBe(id);
    expect(summary.join('\n')).toMatch(/Status +completed \(100%\)/);
    expect(stderr).toContain('waiting for the ingest function');
    expect(stderr).toContain('writing output files…');
    expect(stderr.trim().split('\n').at(-1)).toMatch(/^100% 2\/2 .*\| completed$/);
    expect(api.requests.filter((r) => r.url === `/api/jobs/${id}`).length).toBe(5);
  });

  test('--watch of a job that fails exits 1', async () => {
    api.nextJob = [stages.failed()];
    const { code, stdout } = await submit([file, '--watch']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/Status +failed/);
  });

  test('--watch with a refused function key stops at once with exit 1', async () => {
    const guarded = await FakeJobsApi.start({ functionKey: 'right' });
    try {
      const { code, stdout, stderr } = await submit([file, '--watch'], {
        env: {
          AzureWebJobsStorage: storage.connectionString,
          INPUT_CONTAINER: containerName,
          PHI3_BATCH_API_URL: guarded.baseUrl,
          PHI3_BATCH_FUNCTION_KEY: 'wrong',
        },
      });
      expect(code).toBe(1);
      expect(stdout).toMatch(/^job_[0-9a-f]{32}\n$/);
      expect(stderr).toContain('Could not follow the job; the job goes on. Check it with: phi3-batch status job_');
      expect(stderr).toContain('Set PHI3_BATCH_FUNCTION_KEY');
      expect(guarded.requests.length).toBe(1);
    } finally {
      await guarded.close();
    }
  });

  test('--watch interrupted: exit 130 and how to check on the job later', async () => {
    const controller = new AbortController();
    api.nextJob = [stages.running(2, 1)];
    const { code, stdout, stderr } = await submit([file, '--watch'], {
      abortSignal: controller.signal,
      watch: {
        tty: false,
        delay: async (_ms, signal) => {
          controller.abort();
          signal?.throwIfAborted();
        },
      },
    });
    expect(code).toBe(130);
    const id = stdout.trim();
    expect(stderr).toContain(`Stopped watching; the job goes on. Check it with: phi3-batch status ${id}`);
  });
});
