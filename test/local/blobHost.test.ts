import { fileURLToPath } from 'node:url';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { describe, expect, test } from 'vitest';
import { blobPoisonQueueName, blobReceiptsContainerName, maxBlobTries } from '../../dev/local/host/BlobListener.js';
import {
  createLocalFunctionsHost,
  type CreateLocalFunctionsHostOptions,
} from '../../dev/local/host/LocalFunctionsHost.js';
import { createBlobModelBindingData, createClientFromModelBindingData } from '../../dev/local/host/modelBindingData.js';
import { recordInvocations } from '../support/invocations.js';
import { withLocalStack } from '../support/localStack.js';
import { uniqueName } from '../support/uniqueName.js';
import { waitFor } from '../support/waitFor.js';
import type { FakeBlobClient } from './fixtures/blobApp.js';
import { receivedBy } from './fixtures/recorder.js';

const entry = fileURLToPath(new URL('./fixtures/blobApp.ts', import.meta.url));
const hostJsonPath = fileURLToPath(new URL('./fixtures/host.json', import.meta.url));

const local = withLocalStack({ cosmos: false });

interface BlobTestContext {
  readonly uploads: ContainerClient;
  readonly raw: ContainerClient;
  readonly blobs: BlobServiceClient;
  readonly options: CreateLocalFunctionsHostOptions;
}

async function setUp(overrides: Partial<CreateLocalFunctionsHostOptions> = {}): Promise<BlobTestContext> {
  const blobs = BlobServiceClient.fromConnectionString(local.stack.azurite.connectionString);
  const uploads = blobs.getContainerClient(uniqueName('uploads'));
  const raw = blobs.getContainerClient(uniqueName('raw'));
  await Promise.all([uploads.create(), raw.create()]);
  return {
    uploads,
    raw,
    blobs,
    options: {
      entryModules: [entry],
      hostJsonPath,
      env: {
        AzureWebJobsStorage: local.stack.azurite.connectionString,
        UPLOADS_CONTAINER: uploads.containerName,
        RAW_CONTAINER: raw.containerName,
      },
      httpEnabled: false,
      pollAutomatically: false,
      ...overrides,
    },
  };
}

function deliveriesOf(
  container: ContainerClient,
  functionName = 'onUpload',
): { name: string; etag: string; input: unknown }[] {
  return receivedBy(functionName)
    .filter((r) => String(r.triggerMetadata?.blobTrigger).startsWith(`${container.containerName}/`))
    .map((r) => ({
      name: String(r.triggerMetadata?.blobTrigger).slice(container.containerName.length + 1),
      etag: String((r.triggerMetadata?.properties as { eTag?: string } | undefined)?.eTag),
      input: r.input,
    }));
}

async function upload(container: ContainerClient, name: string, text: string): Promise<string> {
  const response = await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text), {
    metadata: { origin: 'test' },
    blobHTTPHeaders: { blobContentType: 'application/jsonl' },
  });
  return response.etag ?? '';
}

describe('local host: blob triggers', () => {
  test('sdkBinding: the handler gets the client its factory builds from ModelBindingData, not the bytes', async () => {
    const ctx = await setUp();
    const host = createLocalFunctionsHost(ctx.options);
    await host.start();
    try {
      const etag = await upload(ctx.uploads, 'incoming/job-1.jsonl', '{"custom_id":"1"}\n');
      await host.pollBlobsNow();
      const [delivery] = receivedBy('onUpload').filter(
        (r) => r.triggerMetadata?.blobTrigger === `${ctx.uploads.containerName}/incoming/job-1.jsonl`,
      );
      const client = delivery?.input as FakeBlobClient;
      expect(client).toEqual({
        kind: 'fakeBlobClient',
        source: 'AzureStorageBlobs',
        contentType: 'application/json',
        content: {
          Connection: 'AzureWebJobsStorage',
          ContainerName: ctx.uploads.containerName,
          BlobName: 'incoming/job-1.jsonl',
        },
      });
      expect(delivery?.triggerMetadata).toMatchObject({
        name: 'job-1.jsonl',
        uri: `${local.stack.azurite.blobEndpoint}/${ctx.uploads.containerName}/incoming/job-1.jsonl`,
        properties: { eTag: etag, length: 18, contentType: 'application/jsonl' },
        metadata: { origin: 'test' },
      });
    } finally {
      await host.stop();
    }
  });

  test('without sdkBinding the handler gets the bytes', async () => {
    const ctx = await setUp();
    const host = createLocalFunctionsHost(ctx.options);
    await host.start();
    try {
      await upload(ctx.raw, 'plain.txt', 'raw bytes');
      await host.pollBlobsNow();
      const [delivery] = deliveriesOf(ctx.raw, 'onRawUpload');
      expect(Buffer.isBuffer(delivery?.input)).toBe(true);
      expect((delivery?.input as Buffer).toString('utf8')).toBe('raw bytes');
    } finally {
      await host.stop();
    }
  });

  test('each blob version is delivered once; re-uploading the same name delivers the new ETag', async () => {
    const ctx = await setUp();
    const host = createLocalFunctionsHost(ctx.options);
    await host.start();
    try {
      const first = await upload(ctx.uploads, 'incoming/a.jsonl', 'v1');
      await upload(ctx.uploads, 'elsewhere/ignored.jsonl', 'not under incoming/');
      await host.pollBlobsNow();
      await host.pollBlobsNow();
      expect(deliveriesOf(ctx.uploads)).toEqual([{ name: 'incoming/a.jsonl', etag: first, input: expect.anything() }]);

      const second = await upload(ctx.uploads, 'incoming/a.jsonl', 'v2');
      expect(second).not.toBe(first);
      await host.pollBlobsNow();
      expect(deliveriesOf(ctx.uploads).map((d) => d.etag)).toEqual([first, second]);

      // The receipt is where the real host keeps it: ETag before the (slash-containing) blob name.
      const receipts = ctx.blobs.getContainerClient(blobReceiptsContainerName);
      const receipt = receipts.getBlobClient(
        `blobreceipts/local-functions-host/Host.Functions.onUpload/${first}/${ctx.uploads.containerName}/incoming/a.jsonl`,
      );
      const properties = await receipt.getProperties();
      expect(
        Object.fromEntries(Object.entries(properties.metadata ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
      ).toMatchObject({
        iscompleted: 'true',
        attempts: '1',
      });
    } finally {
      await host.stop();
    }
  });

  test('a new host (restart) does not deliver versions an earlier host completed', async () => {
    const ctx = await setUp();
    const first = createLocalFunctionsHost(ctx.options);
    await first.start();
    await upload(ctx.uploads, 'incoming/once.jsonl', 'x');
    await first.pollBlobsNow();
    await first.stop();
    const second = createLocalFunctionsHost(ctx.options);
    await second.start();
    try {
      expect(await second.pollBlobsNow()).toEqual({ candidates: 1 });
      expect(deliveriesOf(ctx.uploads)).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });

  test('two hosts watching the same container deliver every version exactly once between them', async () => {
    const ctx = await setUp();
    const hosts = [createLocalFunctionsHost(ctx.options), createLocalFunctionsHost(ctx.options)];
    await Promise.all(hosts.map((host) => host.start()));
    try {
      const names = Array.from({ length: 12 }, (_, i) => `incoming/shared-${i}.jsonl`);
      await Promise.all(names.map((name) => upload(ctx.uploads, name, name)));
      // Both scan the same listing at the same time and race for every receipt.
      await Promise.all(hosts.map((host) => host.pollBlobsNow()));
      await Promise.all(hosts.map((host) => host.pollBlobsNow()));
      const delivered = deliveriesOf(ctx.uploads).map((d) => d.name);
      expect(delivered.sort()).toEqual([...names].sort());
    } finally {
      await Promise.all(hosts.map((host) => host.stop()));
    }
  });

  test('a failing blob is retried by later polls, then reported to webjobs-blobtrigger-poison', async () => {
    const ctx = await setUp();
    const host = createLocalFunctionsHost(ctx.options);
    const invocations = recordInvocations(host);
    await host.start();
    try {
      const etag = await upload(ctx.uploads, 'incoming/fail-bad.jsonl', 'bad');
      await waitFor(
        async () => {
          await host.pollBlobsNow();
          return invocations.events.some((e) => e.trigger.type === 'blob' && e.trigger.disposition === 'poisoned');
        },
        { description: 'the blob to be poisoned' },
      );
      const tries = invocations.events.filter((e) => e.functionName === 'onUpload');
      expect(tries.map((e) => (e.trigger.type === 'blob' ? [e.trigger.attempt, e.trigger.disposition] : []))).toEqual([
        [1, 'retryPending'],
        [2, 'retryPending'],
        [3, 'retryPending'],
        [4, 'retryPending'],
        [5, 'poisoned'],
      ]);
      expect(tries).toHaveLength(maxBlobTries);
      await host.pollBlobsNow();
      expect(invocations.events.filter((e) => e.functionName === 'onUpload')).toHaveLength(maxBlobTries);

      const poison = QueueServiceClient.fromConnectionString(local.stack.azurite.connectionString).getQueueClient(
        blobPoisonQueueName,
      );
      const messages = (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map(
        (m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as Record<string, string>,
      );
      expect(messages).toContainEqual({
        Type: 'BlobTrigger',
        FunctionId: 'Host.Functions.onUpload',
        BlobType: 'BlockBlob',
        ContainerName: ctx.uploads.containerName,
        BlobName: 'incoming/fail-bad.jsonl',
        ETag: etag,
      });
    } finally {
      invocations.dispose();
      await host.stop();
    }
  });

  test('polls by itself when pollAutomatically is on', async () => {
    const ctx = await setUp({ pollAutomatically: true, blobPollingIntervalInMs: 50 });
    const host = createLocalFunctionsHost(ctx.options);
    const invocations = recordInvocations(host);
    await host.start();
    try {
      await upload(ctx.uploads, 'incoming/auto.jsonl', 'auto');
      const event = await invocations.next((e) => e.functionName === 'onUpload');
      expect(event.trigger).toMatchObject({ type: 'blob', blobName: 'incoming/auto.jsonl', disposition: 'completed' });
    } finally {
      invocations.dispose();
      await host.stop();
    }
  });
});

describe('ModelBindingData conversion', () => {
  test('an unregistered source fails like the library does', async () => {
    const data = { ...createBlobModelBindingData('AzureWebJobsStorage', 'c', 'b'), source: 'NoSuchSource' };
    await expect(createClientFromModelBindingData(data)).rejects.toThrow(/Unable to create client.*NoSuchSource/);
  });

  test('a factory registered only with the ESM build is diagnosed (the library would not see it in Azure either)', async () => {
    const source = 'EsmOnlySource';
    // What an ESM app gets from `import base from '@azure/functions-extensions-base'` (the .mjs build has
    // only a default export).
    const esm = (await import('@azure/functions-extensions-base')) as {
      default: typeof import('@azure/functions-extensions-base');
    };
    esm.default.ResourceFactoryResolver.getInstance().registerResourceFactory(source, () => ({}));
    const data = { ...createBlobModelBindingData('AzureWebJobsStorage', 'c', 'b'), source };
    await expect(createClientFromModelBindingData(data)).rejects.toMatchObject({
      name: 'LocalHostError',
      message: expect.stringContaining('ESM build'),
    });
  });
});
