import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CosmosClient, type Container } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { afterEach, describe, expect, test } from 'vitest';
import { createCosmosClient } from '../../src/adapters/cosmos/createCosmosClient.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import { cosmosEmulatorKey, createLocalCosmosAgent, startCosmos } from '../../dev/local/stack/startCosmos.js';
import { localStackDataPaths, localStackSettingNames, startLocalStack } from '../../dev/local/stack/startLocalStack.js';
import { startLocalStackProcesses } from '../../dev/local/stack/startLocalStackProcesses.js';

const loader = fileURLToPath(new URL('../support/tsLoader/register.mjs', import.meta.url));
const directories: string[] = [];

async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'local-data-'));
  directories.push(directory);
  return directory;
}

afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

async function cosmosFrom(settings: Readonly<Record<string, string>>): Promise<CosmosClient> {
  const caCertPem = await readFile(settings[localStackSettingNames.cosmosCaCertFile]!, 'utf8');
  return new CosmosClient({
    endpoint: settings[localStackSettingNames.cosmosEndpoint]!,
    key: settings[localStackSettingNames.cosmosKey]!,
    agent: createLocalCosmosAgent(caCertPem),
    connectionPolicy: { enableEndpointDiscovery: false },
  });
}

interface Doc {
  readonly id: string;
  readonly pk: string;
  readonly n: number;
  readonly _etag?: string;
}

async function allDocs(container: Container): Promise<Doc[]> {
  const { resources } = await container.items.query<Doc>('SELECT * FROM c').fetchAll();
  return resources.sort((a, b) => a.id.localeCompare(b.id));
}

describe('local stack with a data directory', () => {
  test('a SIGKILL of both stack processes loses no acknowledged Blob, Queue or Cosmos write', async () => {
    const dataDirectory = await temporaryDirectory();
    const first = await startLocalStackProcesses({ nodeArgs: ['--import', loader], dataDirectory });
    const blobs = BlobServiceClient.fromConnectionString(first.settings[localStackSettingNames.storage]!);
    const queues = QueueServiceClient.fromConnectionString(first.settings[localStackSettingNames.storage]!);
    const cosmos = await cosmosFrom(first.settings);
    let etagBeforeKill: string;
    try {
      const container = blobs.getContainerClient('kept');
      await container.create();
      await container.getBlockBlobClient('a.txt').upload('hello', 5);
      await container.getBlockBlobClient('gone.txt').upload('bye', 3);
      await container.getBlobClient('gone.txt').delete();
      const queue = queues.getQueueClient('kept');
      await queue.create();
      await queue.sendMessage('first');
      await queue.sendMessage('second');
      const received = await queue.receiveMessages({ numberOfMessages: 1 });
      await queue.deleteMessage(
        received.receivedMessageItems[0]!.messageId,
        received.receivedMessageItems[0]!.popReceipt,
      );

      const { database } = await cosmos.databases.createIfNotExists({ id: 'kept' });
      const { container: docs } = await database.containers.createIfNotExists({
        id: 'docs',
        partitionKey: { paths: ['/pk'] },
      });
      for (let i = 0; i < 20; i += 1)
        await docs.items.create<Doc>({ id: `d${String(i).padStart(2, '0')}`, pk: `p${i % 3}`, n: i });
      await docs.items.upsert<Doc>({ id: 'd01', pk: 'p1', n: 101 });
      const { resource: current } = await docs.item('d02', 'p2').read<Doc>();
      await docs
        .item('d02', 'p2')
        .replace<Doc>(
          { id: 'd02', pk: 'p2', n: 102 },
          { accessCondition: { type: 'IfMatch', condition: current!._etag } },
        );
      await docs.item('d03', 'p0').patch([{ op: 'incr', path: '/n', value: 100 }]);
      await docs.item('d04', 'p1').delete();
      etagBeforeKill = (await docs.item('d05', 'p2').read<Doc>()).resource!._etag!;
    } finally {
      cosmos.dispose();
    }
    await first.kill();

    const second = await startLocalStackProcesses({ nodeArgs: ['--import', loader], dataDirectory });
    const again = await cosmosFrom(second.settings);
    try {
      const blobsAgain = BlobServiceClient.fromConnectionString(second.settings[localStackSettingNames.storage]!);
      const container = blobsAgain.getContainerClient('kept');
      expect((await container.getBlobClient('a.txt').downloadToBuffer()).toString()).toBe('hello');
      expect(await container.getBlobClient('gone.txt').exists()).toBe(false);
      const queue = QueueServiceClient.fromConnectionString(
        second.settings[localStackSettingNames.storage]!,
      ).getQueueClient('kept');
      const peeked = await queue.peekMessages({ numberOfMessages: 32 });
      expect(peeked.peekedMessageItems.map((m) => m.messageText)).toEqual(['second']);

      const docs = again.database('kept').container('docs');
      const kept = await allDocs(docs);
      expect(kept.map((d) => d.id)).toEqual(
        Array.from({ length: 20 }, (_, i) => `d${String(i).padStart(2, '0')}`).filter((id) => id !== 'd04'),
      );
      expect(kept.find((d) => d.id === 'd01')?.n).toBe(101);
      expect(kept.find((d) => d.id === 'd02')?.n).toBe(102);
      expect(kept.find((d) => d.id === 'd03')?.n).toBe(103);
      // Etags survive: a conditional write made with one read before the kill still succeeds.
      await docs
        .item('d05', 'p2')
        .replace<Doc>(
          { id: 'd05', pk: 'p2', n: 105 },
          { accessCondition: { type: 'IfMatch', condition: etagBeforeKill } },
        );
      // New documents get new resource ids: none overwrites one written before the kill.
      for (let i = 20; i < 30; i += 1) await docs.items.create<Doc>({ id: `d${i}`, pk: `p${i % 3}`, n: i });
      expect(await allDocs(docs)).toHaveLength(29);
      await expect(docs.items.create<Doc>({ id: 'd00', pk: 'p0', n: 0 })).rejects.toMatchObject({ code: 409 });
    } finally {
      again.dispose();
      await second.close();
    }
  });

  test('a record torn by a kill is ignored on replay; the journal is compacted at start and past its threshold', async () => {
    const dataDirectory = await temporaryDirectory();
    const { cosmosJournal } = localStackDataPaths(dataDirectory);
    const first = await startLocalStack({ dataDirectory, cosmos: { journalCompactAfterBytes: 4096 } });
    const cosmos = await cosmosFrom(first.settings);
    try {
      const { database } = await cosmos.databases.createIfNotExists({ id: 'kept' });
      const { container } = await database.containers.createIfNotExists({
        id: 'docs',
        partitionKey: { paths: ['/pk'] },
      });
      for (let n = 0; n < 200; n += 1) await container.items.upsert<Doc>({ id: 'counter', pk: 'p', n });
      // One compaction at start, then more as 200 writes of the same document pass 4 KB each time.
      expect(first.cosmos?.journalStats()?.compactions).toBeGreaterThan(2);
      expect((await stat(cosmosJournal)).size).toBeLessThan(8192);
    } finally {
      cosmos.dispose();
      await first.close();
    }
    // What a kill in the middle of a write leaves: the start of a record, without its newline.
    await appendFile(cosmosJournal, '{"k":"doc","db":"kept","coll":"docs","v":{"id":"counter","pk":"p","n":9');

    const second = await startLocalStack({ dataDirectory });
    const again = await cosmosFrom(second.settings);
    try {
      expect(second.cosmos?.journalStats()).toMatchObject({ tornRecordIgnored: true });
      const { resource } = await again.database('kept').container('docs').item('counter', 'p').read<Doc>();
      expect(resource?.n).toBe(199);
      await again.database('kept').container('docs').items.upsert<Doc>({ id: 'counter', pk: 'p', n: 200 });
    } finally {
      again.dispose();
      await second.close();
    }
    // The torn text was dropped by the compaction at start, so the write after it replays cleanly.
    const third = await startLocalStack({ dataDirectory });
    const thirdClient = await cosmosFrom(third.settings);
    try {
      expect(third.cosmos?.journalStats()).toMatchObject({ tornRecordIgnored: false });
      expect((await thirdClient.database('kept').container('docs').item('counter', 'p').read<Doc>()).resource?.n).toBe(
        200,
      );
    } finally {
      thirdClient.dispose();
      await third.close();
    }
  });

  test('a journal line that is not a record in the middle of the file stops the start with a message naming the file', async () => {
    const dataDirectory = await temporaryDirectory();
    const { cosmosJournal } = localStackDataPaths(dataDirectory);
    const first = await startLocalStack({ dataDirectory });
    await first.close();
    await writeFile(cosmosJournal, 'not json\n{"k":"db-","id":"x"}\n');
    await expect(startLocalStack({ dataDirectory })).rejects.toThrow(`${cosmosJournal} line 1 is not a journal record`);
  });
});

describe('COSMOS_ENDPOINT pointing at another Cosmos endpoint (as for the Cosmos DB emulator)', () => {
  test('the app reaches it with its endpoint, key and CA certificate file settings', async () => {
    const directory = await temporaryDirectory();
    const caCertFile = join(directory, 'emulator.pem');
    // The stand-in plays the emulator: HTTPS with its own self-signed certificate, the emulator's well-known key.
    const emulator = await startCosmos({ caCertPath: caCertFile });
    const settings = withSettingDefaults({
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      PHI3_ENDPOINT: 'http://127.0.0.1:1',
      PHI3_API_KEY: 'unused',
      PHI3_MODEL: 'Phi-3-mini-4k-instruct',
      COSMOS_ENDPOINT: `https://localhost:${new URL(emulator.endpoint).port}/`,
      COSMOS_KEY: cosmosEmulatorKey,
      COSMOS_CA_CERT_FILE: caCertFile,
    });
    const config = loadConfig(settings);
    const client = createCosmosClient(config.cosmos);
    try {
      const { database } = await client.databases.createIfNotExists({ id: 'emulated' });
      const { container } = await database.containers.createIfNotExists({
        id: 'docs',
        partitionKey: { paths: ['/pk'] },
      });
      await container.items.create<Doc>({ id: 'a', pk: 'p', n: 1 });
      expect((await container.item('a', 'p').read<Doc>()).resource?.n).toBe(1);
    } finally {
      client.dispose();
      await emulator.close();
    }
  });
});
