import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  AnonymousCredential as BlobAnonymousCredential,
  BlobServiceClient,
  newPipeline as newBlobPipeline,
  StorageSharedKeyCredential as BlobSharedKeyCredential,
} from '@azure/storage-blob';
import {
  AnonymousCredential as QueueAnonymousCredential,
  newPipeline as newQueuePipeline,
  QueueServiceClient,
  StorageSharedKeyCredential as QueueSharedKeyCredential,
  type RequestPolicyFactory,
  type StoragePipelineOptions,
} from '@azure/storage-queue';
import {
  resolveStorageConnection,
  type AppSettings,
  type StorageEndpoint,
  type StorageService,
} from './appSettings.js';
import { LocalHostError, LocalHostErrorCode } from './errors.js';

// Fail fast when storage is down: the host polls again anyway, and a long SDK retry would stall stop().
const pipelineOptions: StoragePipelineOptions = {
  retryOptions: { maxTries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 1_000 },
};

const developmentStorage = {
  accountName: 'devstoreaccount1',
  accountKey: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
  blob: 'http://127.0.0.1:10000/devstoreaccount1',
  queue: 'http://127.0.0.1:10001/devstoreaccount1',
} as const;

interface ParsedConnection {
  readonly url: string;
  readonly accountName: string | undefined;
  readonly accountKey: string | undefined;
}

/** Reads a storage connection string the way the SDKs do (keys, SAS, explicit endpoints, development storage). */
export function parseStorageConnectionString(connectionString: string, service: StorageService): ParsedConnection {
  const parts = new Map<string, string>();
  for (const piece of connectionString.split(';')) {
    const equals = piece.indexOf('=');
    if (equals > 0) {
      parts.set(piece.slice(0, equals).trim().toLowerCase(), piece.slice(equals + 1).trim());
    }
  }
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    return {
      url: developmentStorage[service],
      accountName: developmentStorage.accountName,
      accountKey: developmentStorage.accountKey,
    };
  }
  const accountName = parts.get('accountname');
  const accountKey = parts.get('accountkey');
  const sas = parts.get('sharedaccesssignature');
  let url = parts.get(`${service}endpoint`);
  if (url === undefined && accountName !== undefined) {
    const protocol = parts.get('defaultendpointsprotocol') ?? 'https';
    url = `${protocol}://${accountName}.${service}.${parts.get('endpointsuffix') ?? 'core.windows.net'}`;
  }
  if (url === undefined || (accountKey === undefined && sas === undefined)) {
    throw new LocalHostError(
      LocalHostErrorCode.MissingConnection,
      `A storage connection string needs ${service === 'blob' ? 'BlobEndpoint' : 'QueueEndpoint'} or AccountName, and AccountKey or SharedAccessSignature.`,
    );
  }
  if (sas !== undefined && accountKey === undefined) {
    url = `${url.replace(/\/+$/, '')}?${sas.replace(/^\?/, '')}`;
  }
  return { url: url.replace(/\/+$/, ''), accountName, accountKey };
}

/**
 * One client per (connection, service), built from the app settings the host was given. All of them
 * share agents the host owns, so `close()` really closes the host's storage connections.
 */
export class StorageClients {
  readonly #settings: AppSettings;
  readonly #queues = new Map<string, QueueServiceClient>();
  readonly #blobs = new Map<string, BlobServiceClient>();
  readonly #httpAgent = new HttpAgent({ keepAlive: true });
  readonly #httpsAgent = new HttpsAgent({ keepAlive: true });
  readonly #agentPolicy: RequestPolicyFactory;

  constructor(settings: AppSettings) {
    this.#settings = settings;
    this.#agentPolicy = {
      create: (nextPolicy) => ({
        sendRequest: (request) => {
          request.agent = request.url.startsWith('https:') ? this.#httpsAgent : this.#httpAgent;
          return nextPolicy.sendRequest(request);
        },
      }),
    };
  }

  queueService(connection: string | undefined, functionName: string): QueueServiceClient {
    const endpoint = resolveStorageConnection(connection, 'queue', this.#settings, functionName);
    const key = endpointKey(endpoint);
    let client = this.#queues.get(key);
    if (!client) {
      const { url, accountName, accountKey } =
        endpoint.kind === 'connectionString'
          ? parseStorageConnectionString(endpoint.connectionString, 'queue')
          : { url: endpoint.serviceUri, accountName: undefined, accountKey: undefined };
      const credential =
        accountName !== undefined && accountKey !== undefined
          ? new QueueSharedKeyCredential(accountName, accountKey)
          : new QueueAnonymousCredential();
      const pipeline = newQueuePipeline(credential, pipelineOptions);
      pipeline.factories.push(this.#agentPolicy);
      client = new QueueServiceClient(url, pipeline);
      this.#queues.set(key, client);
    }
    return client;
  }

  blobService(connection: string | undefined, functionName: string): BlobServiceClient {
    const endpoint = resolveStorageConnection(connection, 'blob', this.#settings, functionName);
    const key = endpointKey(endpoint);
    let client = this.#blobs.get(key);
    if (!client) {
      const { url, accountName, accountKey } =
        endpoint.kind === 'connectionString'
          ? parseStorageConnectionString(endpoint.connectionString, 'blob')
          : { url: endpoint.serviceUri, accountName: undefined, accountKey: undefined };
      const credential =
        accountName !== undefined && accountKey !== undefined
          ? new BlobSharedKeyCredential(accountName, accountKey)
          : new BlobAnonymousCredential();
      const pipeline = newBlobPipeline(credential, pipelineOptions);
      pipeline.factories.push(this.#agentPolicy);
      client = new BlobServiceClient(url, pipeline);
      this.#blobs.set(key, client);
    }
    return client;
  }

  /** Ends every storage connection the host opened. */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}

function endpointKey(endpoint: StorageEndpoint): string {
  return endpoint.kind === 'connectionString' ? `cs:${endpoint.connectionString}` : `uri:${endpoint.serviceUri}`;
}
