import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { describe, expect, test } from 'vitest';
import { startAzurite } from '../../dev/local/stack/startAzurite.js';
import { createLocalCosmosAgent, NonLoopbackHostError, startCosmos } from '../../dev/local/stack/startCosmos.js';
import { localStackSettingNames, startLocalStack } from '../../dev/local/stack/startLocalStack.js';
import { startLocalStackProcesses } from '../../dev/local/stack/startLocalStackProcesses.js';
import { fileURLToPath } from 'node:url';
import { countActiveHandles, expectNoHandlesBeyond } from '../support/activeHandles.js';
import { uniqueName } from '../support/uniqueName.js';

/** True when something accepts TCP connections on the port. */
function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function portOf(endpoint: string): number {
  return Number(new URL(endpoint).port);
}

describe('startAzurite', () => {
  test('serves blob and queue round trips to the current SDKs, then releases everything on close', async () => {
    const baseline = await countActiveHandles();
    const azurite = await startAzurite();
    try {
      expect(azurite.blobEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
      expect(azurite.connectionString).toContain(`BlobEndpoint=${azurite.blobEndpoint};`);

      const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
        uniqueName('ctr'),
      );
      await container.create();
      const blob = container.getBlockBlobClient('folder/data.jsonl');
      const uploaded = await blob.upload('{"a":1}\n', 8, { metadata: { kind: 'input' } });
      expect((await blob.downloadToBuffer()).toString('utf8')).toBe('{"a":1}\n');
      expect((await blob.getProperties()).metadata).toEqual({ kind: 'input' });
      await expect(blob.upload('again', 5, { conditions: { ifNoneMatch: '*' } })).rejects.toMatchObject({
        statusCode: 409,
      });
      expect(uploaded.etag).toBeTruthy();

      const queue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(uniqueName('q'));
      await queue.create();
      await queue.sendMessage(Buffer.from('hello').toString('base64'));
      const first = (await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 })).receivedMessageItems;
      expect(first).toHaveLength(1);
      const [message] = first;
      expect(Buffer.from(message?.messageText ?? '', 'base64').toString('utf8')).toBe('hello');
      expect(message?.dequeueCount).toBe(1);
      // Invisible while leased.
      expect((await queue.receiveMessages({ numberOfMessages: 32 })).receivedMessageItems).toHaveLength(0);
      // Visible again at once after an update with visibility 0; the dequeue count goes up.
      await queue.updateMessage(message?.messageId ?? '', message?.popReceipt ?? '', undefined, 0);
      const second = (await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 }))
        .receivedMessageItems;
      expect(second[0]?.dequeueCount).toBe(2);
      await queue.deleteMessage(second[0]?.messageId ?? '', second[0]?.popReceipt ?? '');
      expect((await queue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toHaveLength(0);
    } finally {
      await azurite.close();
    }
    expect(await isListening(portOf(azurite.blobEndpoint))).toBe(false);
    expect(await isListening(portOf(azurite.queueEndpoint))).toBe(false);
    await expectNoHandlesBeyond(baseline);
  });

  test('two instances in one process keep separate data', async () => {
    const [one, two] = await Promise.all([startAzurite(), startAzurite()]);
    try {
      const name = uniqueName('shared');
      await BlobServiceClient.fromConnectionString(one.connectionString).getContainerClient(name).create();
      const exists = await BlobServiceClient.fromConnectionString(two.connectionString)
        .getContainerClient(name)
        .exists();
      expect(exists).toBe(false);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});

describe('startCosmos', () => {
  test('serves the Cosmos SDK over TLS trusted only through the loopback agent, then releases everything', async () => {
    const baseline = await countActiveHandles();
    const directory = await mkdtemp(join(tmpdir(), 'cosmos-ca-'));
    const caCertPath = join(directory, 'ca.pem');
    const cosmos = await startCosmos({ caCertPath });
    const agent = createLocalCosmosAgent(cosmos.caCertPem);
    const client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key, agent });
    try {
      expect(await readFile(caCertPath, 'utf8')).toBe(cosmos.caCertPem);
      const { database } = await client.databases.createIfNotExists({ id: uniqueName('db') });
      const { container } = await database.containers.createIfNotExists({
        id: 'jobs',
        partitionKey: { paths: ['/pk'] },
      });
      await container.items.create({ id: 'a', pk: 'p1', n: 1 });
      await container.items.create({ id: 'b', pk: 'p1', n: 2 });
      await expect(container.items.create({ id: 'a', pk: 'p1' })).rejects.toMatchObject({ code: 409 });
      const { resource } = await container.item('a', 'p1').read<{ n: number }>();
      expect(resource?.n).toBe(1);
      const { resources } = await container.items
        .query<{ id: string }>({
          query: 'SELECT c.id FROM c WHERE c.pk = @pk AND c.n > @n',
          parameters: [
            { name: '@pk', value: 'p1' },
            { name: '@n', value: 1 },
          ],
        })
        .fetchAll();
      expect(resources.map((r) => r.id)).toEqual(['b']);

      // Without the agent, TLS verification rejects the self-signed certificate.
      const untrusting = new CosmosClient({
        endpoint: cosmos.endpoint,
        key: cosmos.key,
        connectionPolicy: {
          retryOptions: { maxRetryAttemptCount: 0, fixedRetryIntervalInMilliseconds: 0, maxWaitTimeInSeconds: 1 },
        },
      });
      await expect(untrusting.databases.readAll().fetchAll()).rejects.toThrow();
      untrusting.dispose();
    } finally {
      client.dispose();
      agent.destroy();
      await cosmos.close();
      await rm(directory, { recursive: true, force: true });
    }
    expect(existsSync(caCertPath)).toBe(false);
    expect(await isListening(portOf(cosmos.endpoint))).toBe(false);
    await expectNoHandlesBeyond(baseline);
  });

  test("answers the SDK's query-plan requests at once, without running the query", async () => {
    const cosmos = await startCosmos();
    const agent = createLocalCosmosAgent(cosmos.caCertPem);
    const client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key, agent });
    try {
      const databaseId = uniqueName('db');
      const { database } = await client.databases.createIfNotExists({ id: databaseId });
      const { container } = await database.containers.createIfNotExists({
        id: 'items',
        partitionKey: { paths: ['/pk'] },
      });
      await container.items.create({ id: 'a', pk: 'p1', n: 1 });
      const query = { query: 'SELECT c.id FROM c WHERE c.pk = @pk', parameters: [{ name: '@pk', value: 'p1' }] };
      const ask = (headers: Record<string, string>) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const request = httpsRequest(
            new URL(`dbs/${databaseId}/colls/items/docs`, cosmos.endpoint),
            {
              method: 'POST',
              agent,
              headers: {
                'content-type': 'application/query+json',
                'x-ms-documentdb-isquery': 'True',
                'x-ms-documentdb-partitionkey': '["p1"]',
                ...headers,
              },
            },
            (response) => {
              let body = '';
              response.on('data', (chunk: Buffer) => (body += chunk.toString()));
              response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
            },
          );
          request.on('error', reject);
          request.end(JSON.stringify(query));
        });
      const plan = await ask({ 'x-ms-cosmos-is-query-plan-request': 'True' });
      expect(plan.status).toBe(400);
      expect(plan.body).toContain('computes no query plans');
      const results = await ask({});
      expect(results.status).toBe(200);
      expect(JSON.parse(results.body)).toMatchObject({ Documents: [{ id: 'a' }] });

      const before = cosmos.requestCount();
      const { resources } = await container.items.query<{ id: string }>(query).fetchAll();
      expect(resources.map((r) => r.id)).toEqual(['a']);
      // The query, and the plan request answered beside it.
      expect(cosmos.requestCount() - before).toBe(2);
    } finally {
      client.dispose();
      agent.destroy();
      await cosmos.close();
    }
  });

  test('the agent refuses hosts other than loopback', async () => {
    const agent = createLocalCosmosAgent('not used before the host check');
    try {
      expect(() => agent.createConnection({ host: 'example.com', port: 443 })).toThrow(NonLoopbackHostError);
    } finally {
      agent.destroy();
    }
  });
});

describe('startLocalStack', () => {
  test('returns app settings for both services and closes both', async () => {
    const stack = await startLocalStack();
    const caFile = stack.settings[localStackSettingNames.cosmosCaCertFile] ?? '';
    try {
      expect(stack.settings[localStackSettingNames.storage]).toBe(stack.azurite.connectionString);
      expect(stack.settings[localStackSettingNames.cosmosEndpoint]).toBe(stack.cosmos?.endpoint);
      expect(await readFile(caFile, 'utf8')).toBe(stack.cosmos?.caCertPem);
    } finally {
      await stack.close();
    }
    expect(existsSync(caFile)).toBe(false);
    expect(await isListening(portOf(stack.azurite.blobEndpoint))).toBe(false);
  });

  test('honours fixed ports', async () => {
    // Find three free ports, then ask for them explicitly.
    const probe = await startLocalStack();
    const ports = [
      portOf(probe.azurite.blobEndpoint),
      portOf(probe.azurite.queueEndpoint),
      portOf(probe.cosmos?.endpoint ?? ''),
    ];
    await probe.close();
    const stack = await startLocalStack({
      azurite: { blobPort: ports[0], queuePort: ports[1] },
      cosmos: { port: ports[2] },
    });
    try {
      expect([
        portOf(stack.azurite.blobEndpoint),
        portOf(stack.azurite.queueEndpoint),
        portOf(stack.cosmos?.endpoint ?? ''),
      ]).toEqual(ports);
    } finally {
      await stack.close();
    }
  });
});

describe('startLocalStackProcesses', () => {
  test('runs Storage and Cosmos each in a child process; the settings reach both; close ends both', async () => {
    const loader = fileURLToPath(new URL('../support/tsLoader/register.mjs', import.meta.url));
    const stack = await startLocalStackProcesses({ nodeArgs: ['--import', loader] });
    try {
      const blobs = BlobServiceClient.fromConnectionString(stack.settings[localStackSettingNames.storage]!);
      const container = blobs.getContainerClient(uniqueName('parts'));
      await container.create();
      await container.getBlockBlobClient('a.txt').upload('hello', 5);
      expect((await container.getBlobClient('a.txt').downloadToBuffer()).toString()).toBe('hello');

      const caCertPem = await readFile(stack.settings[localStackSettingNames.cosmosCaCertFile]!, 'utf8');
      const cosmos = new CosmosClient({
        endpoint: stack.settings[localStackSettingNames.cosmosEndpoint]!,
        key: stack.settings[localStackSettingNames.cosmosKey]!,
        agent: createLocalCosmosAgent(caCertPem),
        connectionPolicy: { enableEndpointDiscovery: false },
      });
      const { database } = await cosmos.databases.createIfNotExists({ id: uniqueName('db') });
      expect(database.id).toMatch(/^db/);
      cosmos.dispose();
    } finally {
      await stack.close();
    }
    expect(await isListening(portOf(stack.settings[localStackSettingNames.cosmosEndpoint]!))).toBe(false);
    expect(existsSync(stack.settings[localStackSettingNames.cosmosCaCertFile]!)).toBe(false);
  });
});
