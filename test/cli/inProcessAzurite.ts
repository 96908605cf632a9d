import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  /** The account's blob endpoint, e.g. https://127.0.0.1:port/devstoreaccount1. */
  readonly accountUrl: string;
  /** With `https`: the server's self-signed certificate, for clients to trust. */
  readonly caCertPem: string | undefined;
  close(): Promise<void>;
}

export interface InProcessBlobStorageOptions {
  /**
   * HTTPS with a certificate made for this run, and OAuth bearer tokens accepted (Azurite's `--oauth basic`:
   * it checks a token's shape, lifetime, issuer and audience, not a signature).
   */
  readonly oauth?: boolean;
}

interface SelfSignedModule {
  generate(
    attributes: { name: string; value: string }[],
    options: Record<string, unknown>,
  ): Promise<{ cert: string; private: string }>;
}

async function writeCertificate(dir: string): Promise<{ certPath: string; keyPath: string; cert: string }> {
  const selfsigned = require('selfsigned') as SelfSignedModule;
  const now = Date.now();
  const pems = await selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 60 * 60 * 1000),
    notAfterDate: new Date(now + 24 * 60 * 60 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  await writeFile(certPath, pems.cert);
  await writeFile(keyPath, pems.private, { mode: 0o600 });
  return { certPath, keyPath, cert: pems.cert };
}

/** Azurite's blob service in this process, in memory, on a free loopback port. */
export async function startInProcessBlobStorage(
  options: InProcessBlobStorageOptions = {},
): Promise<InProcessBlobStorage> {
  // Azurite reads its certificate from files.
  const certDir = options.oauth === true ? await mkdtemp(join(tmpdir(), 'phi3-azurite-cert-')) : undefined;
  const tls = certDir === undefined ? undefined : await writeCertificate(certDir);
  const { AzuriteTelemetryClient } = require('azurite/dist/src/common/Telemetry.js') as {
    AzuriteTelemetryClient: { init(location: string, enableTelemetry: boolean, env: unknown): void };
  };
  // Nothing may leave the machine.
  AzuriteTelemetryClient.init('', false, undefined);
  const BlobServer = (
    require('azurite/dist/src/blob/BlobServer.js') as { default: new (config: object) => AzuriteServer }
  ).default;
  const BlobConfiguration = (
    require('azurite/dist/src/blob/BlobConfiguration.js') as { default: BlobConfigurationCtor }
  ).default;
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
    tls?.certPath ?? '', // cert
    tls?.keyPath ?? '', // key
    '', // pwd
    tls === undefined ? undefined : 'basic', // oauth
    false, // disableProductStyleUrl
    true, // isMemoryPersistence
  );
  const server = new BlobServer(config);
  await server.start();
  const endpoint = `${server.getHttpServerAddress()}/${ACCOUNT}`;
  const protocol = tls === undefined ? 'http' : 'https';
  return {
    connectionString: `DefaultEndpointsProtocol=${protocol};AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};BlobEndpoint=${endpoint};`,
    accountUrl: endpoint,
    caCertPem: tls?.cert,
    async close() {
      await server.close();
      await server.clean();
      if (certDir !== undefined) await rm(certDir, { recursive: true, force: true });
    },
  };
}
