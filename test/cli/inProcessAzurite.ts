import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface AzuriteServer {
  start(): Promise<void>;
  close(): Promise<void>;
  clean(): Promise<void>;
  getHttpServerAddress(): string;
}

type BlobConfigurationCtor = new (...args: unknown[]) => object;

/** The well-known Azurite development account. */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface InProcessBlobStorage {
  readonly connectionString: string;
  close(): Promise<void>;
}

/** Azurite's blob service in this process, in memory, on a free loopback port. */
export async function startInProcessBlobStorage(): Promise<InProcessBlobStorage> {
  const { AzuriteTelemetryClient } = require('azurite/dist/src/common/Telemetry.js') as {
    AzuriteTelemetryClient: { init(location: string, enableTelemetry: boolean, env: unknown): void };
  };
  // Nothing may leave the machine.
  AzuriteTelemetryClient.init('', false, undefined);
  const BlobServer = (require('azurite/dist/src/blob/BlobServer.js') as { default: new (config: object) => AzuriteServer }).default;
  const BlobConfiguration = (require('azurite/dist/src/blob/BlobConfiguration.js') as { default: BlobConfigurationCtor }).default;
  const config = new BlobConfiguration(
    '127.0.0.1', // host
    0, // port
    5, // keepAliveTimeout
    undefined, // metadataDBPath
    undefined, // extentDBPath
    undefined, // persistencePathArray
    false, // enableAccessLog
    undefined, // accessLogWriteStream
    false, // enableDebugLog
    undefined, // debugLogFilePath
    false, // loose
    true, // skipApiVersionCheck: current SDKs send a newer version than Azurite knows
    '', // cert
    '', // key
    '', // pwd
    undefined, // oauth
    false, // disableProductStyleUrl
    true, // isMemoryPersistence
  );
  const server = new BlobServer(config);
  await server.start();
  const endpoint = `${server.getHttpServerAddress()}/${ACCOUNT}`;
  return {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};BlobEndpoint=${endpoint};`,
    async close() {
      await server.close();
      await server.clean();
    },
  };
}
