import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { AzureBlobStore } from '../../src/adapters/storage/AzureBlobStore.js';
import { AzureMessageQueue } from '../../src/adapters/storage/AzureMessageQueue.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { BlobChangedError } from '../../src/app/ports.js';
import { itKeepsBlockBlobsLikeAzure } from './blobBlocksConformance.js';
import { itRefusesAChangedVersion } from './blobVersionConformance.js';

let stack: LocalStack;
let blobs: AzureBlobStore;
let blobService: BlobServiceClient;
let queueService: QueueServiceClient;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${counter++}`;

beforeAll(async () => {
  stack = await startLocalStack({ cosmos: false });
  blobService = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
  queueService = QueueServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
  blobs = new AzureBlobStore(blobService);
});

afterAll(async () => {
  await stack?.close();
});

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

describe('AzureBlobStore against Azurite', () => {
  itKeepsBlockBlobsLikeAzure(() => blobs, 'block-parts');
  itRefusesAChangedVersion(() => blobs, 'versions');

  it('streams a pinned version, reads ranges, and refuses a changed blob', async () => {
    const container = unique('c');
    await blobs.ensureContainer(container);
    await blobs.upload(container, 'a.jsonl', 'line one\nline two\n', { contentType: 'application/jsonl' });
    const properties = (await blobs.getProperties(container, 'a.jsonl'))!;
    expect(properties.size).toBe(18);
    expect((await collect(await blobs.openRead(container, 'a.jsonl', { etag: properties.etag }))).toString()).toBe(
      'line one\nline two\n',
    );
    expect(
      (await collect(await blobs.openRead(container, 'a.jsonl', { etag: properties.etag, offset: 9 }))).toString(),
    ).toBe('line two\n');
    expect(
      (await blobs.readRange(container, 'a.jsonl', { etag: properties.etag, offset: 5, length: 3 })).toString(),
    ).toBe('one');

    await blobs.setMetadata(container, 'a.jsonl', { jobid: 'x' }, { etag: properties.etag });
    const relabelled = (await blobs.getProperties(container, 'a.jsonl'))!;
    expect(relabelled.metadata).toEqual({ jobid: 'x' });
    expect(relabelled.etag).not.toBe(properties.etag);
    await expect(
      blobs.readRange(container, 'a.jsonl', { etag: properties.etag, offset: 0, length: 1 }),
    ).rejects.toBeInstanceOf(BlobChangedError);
    await expect(blobs.openRead(container, 'a.jsonl', { etag: properties.etag })).rejects.toBeInstanceOf(
      BlobChangedError,
    );
    await expect(blobs.setMetadata(container, 'a.jsonl', {}, { etag: properties.etag })).rejects.toBeInstanceOf(
      BlobChangedError,
    );
  });

  it('streams a large version in order, its first range small, and takes a known size without asking for it', async () => {
    const container = unique('c');
    await blobs.ensureContainer(container);
    const content = Buffer.from(Array.from({ length: 600_000 }, (_, i) => 97 + (i % 26)));
    await blobs.upload(container, 'big.jsonl', content.toString(), { contentType: 'application/jsonl' });
    const { etag, size } = (await blobs.getProperties(container, 'big.jsonl'))!;

    const chunks: Buffer[] = [];
    for await (const chunk of await blobs.openRead(container, 'big.jsonl', { etag })) chunks.push(chunk);
    expect(chunks.map((c) => c.length)).toEqual([256 * 1024, 600_000 - 256 * 1024]);
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
    expect(
      (await collect(await blobs.openRead(container, 'big.jsonl', { etag, size, offset: 100 }))).equals(
        content.subarray(100),
      ),
    ).toBe(true);

    // Given the size, opening asks nothing of storage: a missing version shows when its first range is read.
    const opened = await blobs.openRead(container, 'missing.jsonl', { etag, size: 10 });
    await expect(collect(opened)).rejects.toBeInstanceOf(BlobChangedError);
    await expect(blobs.openRead(container, 'missing.jsonl', { etag })).rejects.toBeInstanceOf(BlobChangedError);
  });

  it('uploads from an async iterable and reports missing blobs as undefined', async () => {
    const container = unique('c');
    await blobs.ensureContainer(container);
    async function* parts() {
      for (let i = 0; i < 1000; i += 1) yield `{"n":${i}}\n`;
    }
    await blobs.upload(container, 'out/results.jsonl', parts(), { contentType: 'application/jsonl' });
    const text = (await blobs.download(container, 'out/results.jsonl'))!.toString();
    expect(text.split('\n').filter(Boolean)).toHaveLength(1000);
    expect(await blobs.download(container, 'missing')).toBeUndefined();
    expect(await blobs.getProperties(container, 'missing')).toBeUndefined();
  });
});

describe('AzureMessageQueue against Azurite', () => {
  it('sends base64 JSON, as the Functions queue trigger expects, with an optional delay', async () => {
    const client = queueService.getQueueClient(unique('q'));
    const queue = new AzureMessageQueue(client);
    await queue.ensureExists();
    await queue.send([{ a: 1 }, { b: 'é' }]);
    await queue.send([{ later: true }], { visibilityDelayInMs: 60_000 });
    const received = await client.receiveMessages({ numberOfMessages: 32 });
    const payloads = received.receivedMessageItems.map((m) =>
      JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')),
    );
    expect(payloads).toEqual(expect.arrayContaining([{ a: 1 }, { b: 'é' }]));
    expect(payloads).toHaveLength(2);
    const properties = await client.getProperties();
    expect(properties.approximateMessagesCount).toBe(3);
  });
});
