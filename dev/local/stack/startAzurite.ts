import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ensureError } from '../../../src/core/errors.js';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** Azurite's well-known development account (public, documented; not a secret). */
export const azuriteAccount = {
  name: 'devstoreaccount1',
  key: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
} as const;

export interface StartAzuriteOptions {
  /** Default 0 (a free port); 10000 is the usual fixed one. */
  readonly blobPort?: number;
  /** Default 0 (a free port); 10001 is the usual fixed one. */
  readonly queuePort?: number;
  /** Azurite's loose mode: ignore unsupported headers instead of failing. Default false. */
  readonly loose?: boolean;
  /**
   * Keep Blob and Queue data in this directory (Azurite's Loki databases and extent files) instead of memory.
   * Every write is saved before it is answered, so an acknowledged write survives a `kill -9`.
   */
  readonly dataDirectory?: string;
}

export interface LocalAzurite {
  /** e.g. `http://127.0.0.1:10000/devstoreaccount1` */
  readonly blobEndpoint: string;
  readonly queueEndpoint: string;
  /** Account key + explicit BlobEndpoint/QueueEndpoint, for the storage SDKs and `AzureWebJobsStorage`. */
  readonly connectionString: string;
  close(): Promise<void>;
}

/** The Loki database behind one of Azurite's metadata stores (lokijs, throttled saves on). */
interface LokiDatabase {
  saveDatabase(callback: (error?: unknown) => void): void;
}

interface AzuriteServer {
  /** Azurite's own fields, read to save its databases before a write is answered. */
  readonly httpServer?: Server;
  readonly metadataStore?: { db?: LokiDatabase };
  readonly extentMetadataStore?: { db?: LokiDatabase };
  start(): Promise<void>;
  close(): Promise<void>;
  clean(): Promise<void>;
  getHttpServerAddress(): string;
}

type AzuriteConfigurationConstructor = new (
  host: string,
  port: number,
  keepAliveTimeoutInSeconds: number,
  metadataDbPath: string,
  extentDbPath: string,
  persistencePaths: unknown[],
  enableAccessLog: boolean,
  accessLogWriteStream: undefined,
  enableDebugLog: boolean,
  debugLogFilePath: undefined,
  loose: boolean,
  skipApiVersionCheck: boolean,
  cert: string,
  key: string,
  pwd: string,
  oauth: undefined,
  disableProductStyleUrl: boolean,
  isMemoryPersistence: boolean,
  memoryStore: unknown,
) => unknown;

interface AzuriteModules {
  readonly BlobServer: new (config: unknown) => AzuriteServer;
  readonly BlobConfiguration: AzuriteConfigurationConstructor;
  readonly QueueServer: new (config: unknown) => AzuriteServer;
  readonly QueueConfiguration: AzuriteConfigurationConstructor;
  readonly MemoryExtentChunkStore: new (sizeLimitInBytes: number) => unknown;
  readonly defaultMemoryLimitInBytes: number;
}

const host = '127.0.0.1';
const keepAliveTimeoutInSeconds = 5;

function loadAzurite(): AzuriteModules {
  // Deep imports into Azurite's CommonJS build; loaded lazily so the host never pulls Azurite in.
  const require = createRequire(import.meta.url);
  const memory = require('azurite/dist/src/common/persistence/MemoryExtentStore.js') as {
    MemoryExtentChunkStore: new (sizeLimitInBytes: number) => unknown;
    DEFAULT_EXTENT_MEMORY_LIMIT: number;
  };
  return {
    BlobServer: (require('azurite/dist/src/blob/BlobServer.js') as { default: AzuriteModules['BlobServer'] }).default,
    BlobConfiguration: (
      require('azurite/dist/src/blob/BlobConfiguration.js') as { default: AzuriteConfigurationConstructor }
    ).default,
    QueueServer: (require('azurite/dist/src/queue/QueueServer.js') as { default: AzuriteModules['QueueServer'] })
      .default,
    QueueConfiguration: (
      require('azurite/dist/src/queue/QueueConfiguration.js') as { default: AzuriteConfigurationConstructor }
    ).default,
    MemoryExtentChunkStore: memory.MemoryExtentChunkStore,
    defaultMemoryLimitInBytes: memory.DEFAULT_EXTENT_MEMORY_LIMIT,
  };
}

interface Persistence {
  readonly metadataDbPath: string;
  readonly extentDbPath: string;
  readonly extentDirectory: string;
}

function persistenceIn(dataDirectory: string, service: 'blob' | 'queue'): Persistence {
  const extentDirectory = join(dataDirectory, `__${service}storage__`);
  mkdirSync(extentDirectory, { recursive: true });
  return {
    metadataDbPath: join(dataDirectory, `__azurite_db_${service}__.json`),
    extentDbPath: join(dataDirectory, `__azurite_db_${service}_extent__.json`),
    extentDirectory,
  };
}

function createConfiguration(
  Configuration: AzuriteConfigurationConstructor,
  port: number,
  loose: boolean,
  storage: { readonly memoryStore: unknown } | Persistence,
): unknown {
  const onDisk = 'extentDirectory' in storage;
  return new Configuration(
    host,
    port,
    keepAliveTimeoutInSeconds,
    // Database names are unused in memory; Azurite still wants them.
    onDisk ? storage.metadataDbPath : '__azurite_db__.json',
    onDisk ? storage.extentDbPath : '__azurite_db_extent__.json',
    onDisk ? [{ locationId: 'Default', locationPath: storage.extentDirectory, maxConcurrency: 10 }] : [],
    false,
    undefined,
    false,
    undefined,
    loose,
    // Current SDKs send API versions newer than Azurite 3.35 knows.
    true,
    '',
    '',
    '',
    undefined,
    false,
    !onDisk,
    onDisk ? undefined : storage.memoryStore,
  );
}

function save(database: LokiDatabase | undefined): Promise<void> {
  if (database === undefined) return Promise.resolve();
  return new Promise((resolve, reject) =>
    database.saveDatabase((error) => (error ? reject(ensureError(error)) : resolve())),
  );
}

const readOnlyMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Azurite saves its Loki databases every 5 s, so a `kill -9` loses up to 5 s of acknowledged writes. Here
 * every response to a write waits until both databases have been saved after it (extent locations first,
 * then the metadata that points at them). Loki's throttled saves group the writes that arrive during a save
 * into the next one, so a busy server saves back to back rather than once per request. A save writes a
 * temporary file and renames it over the old one: a kill leaves either. Reads (including a queue receive,
 * whose only effect is a message's visibility) are answered at once.
 */
function saveBeforeAnsweringWrites(server: AzuriteServer): void {
  const httpServer = server.httpServer;
  if (httpServer === undefined) throw new Error('Azurite changed: its server has no httpServer field.');
  const handlers = httpServer.listeners('request') as Array<
    (request: IncomingMessage, response: ServerResponse) => void
  >;
  httpServer.removeAllListeners('request');
  httpServer.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (!readOnlyMethods.has(request.method ?? 'GET')) {
      const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
      (response as { end: (...args: unknown[]) => ServerResponse }).end = (...args: unknown[]) => {
        save(server.extentMetadataStore?.db)
          .then(() => save(server.metadataStore?.db))
          .then(
            () => end(...args),
            // Not saved: not acknowledged. The client sees the connection fail and retries.
            () => response.destroy(),
          );
        return response;
      };
    }
    for (const handler of handlers) handler(request, response);
  });
}

/**
 * Azurite Blob + Queue in this process, on 127.0.0.1, in memory or (with `dataDirectory`) on disk.
 * Telemetry is never initialised (only Azurite's CLI entry points do that).
 */
export async function startAzurite(options: StartAzuriteOptions = {}): Promise<LocalAzurite> {
  const modules = loadAzurite();
  // One chunk store per instance so two stacks in one process never share data or a size limit.
  const memoryStore = new modules.MemoryExtentChunkStore(modules.defaultMemoryLimitInBytes);
  const loose = options.loose ?? false;
  const dataDirectory = options.dataDirectory;
  const storage = (service: 'blob' | 'queue'): { readonly memoryStore: unknown } | Persistence =>
    dataDirectory === undefined ? { memoryStore } : persistenceIn(dataDirectory, service);
  const blob = new modules.BlobServer(
    createConfiguration(modules.BlobConfiguration, options.blobPort ?? 0, loose, storage('blob')),
  );
  const queue = new modules.QueueServer(
    createConfiguration(modules.QueueConfiguration, options.queuePort ?? 0, loose, storage('queue')),
  );
  if (dataDirectory !== undefined) {
    saveBeforeAnsweringWrites(blob);
    saveBeforeAnsweringWrites(queue);
  }
  const started: AzuriteServer[] = [];
  const closeAll = async (): Promise<void> => {
    const servers = started.splice(0);
    const results = await Promise.allSettled(
      servers.map(async (server) => {
        await server.close();
        // In memory, clean() frees the data; on disk it would delete it.
        if (dataDirectory === undefined) await server.clean();
      }),
    );
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure) {
      throw failure.reason;
    }
  };
  try {
    await blob.start();
    started.push(blob);
    await queue.start();
    started.push(queue);
  } catch (error) {
    await closeAll();
    throw error;
  }
  const blobEndpoint = `${blob.getHttpServerAddress()}/${azuriteAccount.name}`;
  const queueEndpoint = `${queue.getHttpServerAddress()}/${azuriteAccount.name}`;
  let closing: Promise<void> | undefined;
  return {
    blobEndpoint,
    queueEndpoint,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${azuriteAccount.name};AccountKey=${azuriteAccount.key};` +
      `BlobEndpoint=${blobEndpoint};QueueEndpoint=${queueEndpoint};`,
    close: () => {
      closing ??= closeAll();
      return closing;
    },
  };
}
