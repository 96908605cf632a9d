import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureFileStore } from '../../src/adapters/storage/AzureFileStore.js';
import { FileTooLargeError } from '../../src/app/openai/ports.js';
import { startInProcessBlobStorage, type InProcessBlobStorage } from '../cli/inProcessAzurite.js';
import { uniqueName } from '../support/uniqueName.js';

let storage: InProcessBlobStorage;
let service: BlobServiceClient;

beforeAll(async () => {
  storage = await startInProcessBlobStorage();
  service = BlobServiceClient.fromConnectionString(storage.connectionString);
});
afterAll(async () => {
  await storage?.close();
});

async function* chunks(count: number, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < count; i += 1) yield Buffer.alloc(size, 97 + (i % 26));
}

async function text(content: AsyncIterable<Buffer> | undefined): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of content ?? []) parts.push(part);
  return Buffer.concat(parts).toString('utf8');
}

describe('AzureFileStore on Azurite', () => {
  it('streams an upload in, keeps its name and purpose, lists, reads, copies and deletes it', async () => {
    const container = uniqueName('files');
    await service.getContainerClient(container).create();
    const files = new AzureFileStore(service, container);
    const stored = await files.upload(
      { id: 'file-b', filename: 'Zoë’s batch.jsonl', purpose: 'batch', createdAtInMs: 1_700_000_000_000 },
      chunks(3, 1000),
      { maxBytes: 10_000 },
    );
    expect(stored.bytes).toBe(3000);
    await files.upload({ id: 'file-a', filename: 'a.jsonl', purpose: 'batch', createdAtInMs: 1 }, chunks(1, 10), {
      maxBytes: 10_000,
    });
    expect(await files.get('file-b')).toEqual(stored);
    const listed: string[] = [];
    for await (const file of files.list({})) listed.push(file.id);
    expect(listed).toEqual(['file-a', 'file-b']);
    const after: string[] = [];
    for await (const file of files.list({ afterId: 'file-a' })) after.push(file.id);
    expect(after).toEqual(['file-b']);
    expect(await text(await files.openRead('file-b'))).toBe(await text(chunks(3, 1000)));

    const copy = await files.copyTo('file-b', { container, name: 'job_x/input.jsonl' }, { jobid: 'job_x' });
    expect(copy?.size).toBe(3000);
    const properties = await service.getContainerClient(container).getBlobClient('job_x/input.jsonl').getProperties();
    expect(properties.metadata).toEqual({ jobid: 'job_x' });
    expect(properties.etag).toBe(copy?.etag);

    expect(await files.delete('file-b')).toBe(true);
    expect(await files.delete('file-b')).toBe(false);
    expect(await files.get('file-b')).toBeUndefined();
    expect(await files.openRead('file-b')).toBeUndefined();
    expect(await files.copyTo('file-b', { container, name: 'job_y/input.jsonl' }, {})).toBeUndefined();
  });

  it('refuses an upload past the limit and leaves nothing behind', async () => {
    const container = uniqueName('files');
    await service.getContainerClient(container).create();
    const files = new AzureFileStore(service, container);
    await expect(
      files.upload({ id: 'file-big', filename: 'big.jsonl', purpose: 'batch', createdAtInMs: 1 }, chunks(5, 1000), {
        maxBytes: 4500,
      }),
    ).rejects.toBeInstanceOf(FileTooLargeError);
    expect(await files.get('file-big')).toBeUndefined();
  });
});
