import { createRequire } from 'node:module';

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
}

export interface LocalAzurite {
  /** e.g. `http://127.0.0.1:10000/devstoreaccount1` */
  readonly blobEndpoint: string;
  readonly queueEndpoint: string;
  /** Account key + explicit BlobEndpoint/QueueEndpoint, for the storage SDKs and `AzureWebJobsStorage`. */
  readonly connectionString: string;
  close(): Promise<void>;
}

interface AzuriteServer {
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
    BlobConfiguration: (require('azurite/dist/src/blob/BlobConfiguration.js') as { default: AzuriteConfigurationConstructor })
      .default,
    QueueServer: (require('azurite/dist/src/queue/QueueServer.js') as { default: AzuriteModules['QueueServer'] }).default,
    QueueConfiguration: (require('azurite/dist/src/queue/QueueConfiguration.js') as { default: AzuriteConfigurationConstructor })
      .default,
    MemoryExtentChunkStore: memory.MemoryExtentChunkStore,
    defaultMemoryLimitInBytes: memory.DEFAULT_EXTENT_MEMORY_LIMIT,
  };
}

function createConfiguration(
  Configuration: AzuriteConfigurationConstructor,
  port: number,
  loose: boolean,
  memoryStore: unknown,
): unknown {
  return new Configuration(
    host,
    port,
    keepAliveTimeoutInSeconds,
    // Database names are unused in memory; Azurite still wants them.
    '__azurite_db__.json',
    '__azurite_db_extent__.json',
    [],
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
    true,
    memoryStore,
  );
}

/**
 * Azurite Blob + Queue in this process, in memory, on 127.0.0.1. Telemetry is never initialised
 * (only Azurite's CLI entry points do that).
 */
export async function startAzurite(options: StartAzuriteOptions = {}): Promise<LocalAzurite> {
  const modules = loadAzurite();
  // One chunk store per instance so two stacks in one process never share data or a size limit.
  const memoryStore = new modules.MemoryExtentChunkStore(modules.defaultMemoryLimitInBytes);
  const loose = options.loose ?? false;
  const blob = new modules.BlobServer(
    createConfiguration(modules.BlobConfiguration, options.blobPort ?? 0, loose, memoryStore),
  );
  const queue = new modules.QueueServer(
    createConfiguration(modules.QueueConfiguration, options.queuePort ?? 0, loose, memoryStore),
  );
  const started: AzuriteServer[] = [];
  const closeAll = async (): Promise<void> => {
    const servers = started.splice(0);
    const results = await Promise.allSettled(
      servers.map(async (server) => {
        await server.close();
        await server.clean();
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
