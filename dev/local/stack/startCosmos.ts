import { rm, writeFile } from 'node:fs/promises';
import { Agent, type AgentOptions } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import {
  CosmosJournal,
  prepareStandInAccountCapture,
  takeCreatedStandInAccount,
  type CosmosJournalStats,
} from './CosmosJournal.js';
import { useLinearStandInQueries } from './linearQueries.js';
import type { AddressInfo, Socket } from 'node:net';

/** The Cosmos emulator's well-known key. The stand-in accepts any key; the SDK only needs valid base64. */
export const cosmosEmulatorKey =
  'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';

export interface StartCosmosOptions {
  /** Default 0 (a free port); 8081 is the emulator's usual one. */
  readonly port?: number;
  /** Also write the CA certificate (PEM) here, for settings such as COSMOS_CA_CERT_FILE. Removed on close. */
  readonly caCertPath?: string;
  /**
   * Keep the stand-in's data in this journal file (replayed at start, appended on every write); without it
   * everything is in memory only. See CosmosJournal.
   */
  readonly journalPath?: string;
  /** Compact the journal once it has grown by this much (default 64 MB). */
  readonly journalCompactAfterBytes?: number;
}

export interface LocalCosmos {
  /** e.g. `https://127.0.0.1:8081/` */
  readonly endpoint: string;
  readonly key: string;
  /** The self-signed certificate the server presents; trust it with `createLocalCosmosAgent`. */
  readonly caCertPem: string;
  readonly caCertPath: string | undefined;
  /** Requests served so far (each Cosmos operation, or batch of bulk operations, is one): for benchmarks. */
  readonly requestCount: () => number;
  /** What the journal replayed at start and how often it compacted (undefined in memory). */
  readonly journalStats: () => CosmosJournalStats | undefined;
  close(): Promise<void>;
}

const host = '127.0.0.1';
const IDLE_CONNECTION_TIMEOUT_IN_MS = 240_000;
const loopbackHosts = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export class NonLoopbackHostError extends Error {
  override readonly name = 'NonLoopbackHostError';
  readonly code = 'NonLoopbackHost';
}

/**
 * An https.Agent that trusts `caCertPem` and refuses any host other than loopback, so the extra trust
 * can never apply to a real endpoint. Pass it as CosmosClient's `agent`. TLS verification stays on.
 */
export function createLocalCosmosAgent(caCertPem: string, options: Omit<AgentOptions, 'ca'> = {}): Agent {
  class LoopbackOnlyAgent extends Agent {
    override createConnection(connectOptions: { host?: string | null }, callback?: unknown): Socket {
      const target = connectOptions.host ?? '';
      if (!loopbackHosts.has(target)) {
        throw new NonLoopbackHostError(
          `This agent trusts a local test certificate and only connects to loopback, not "${target}".`,
        );
      }
      return (
        Agent.prototype as unknown as { createConnection: (o: unknown, c?: unknown) => Socket }
      ).createConnection.call(this, connectOptions, callback);
    }
  }
  return new LoopbackOnlyAgent({ keepAlive: true, ...options, ca: caCertPem });
}

interface SelfSignedModule {
  generate(
    attributes: { name: string; value: string }[],
    options: Record<string, unknown>,
  ): Promise<{ cert: string; private: string }>;
}

interface CosmosServerModule {
  createHttpsServer(options: Record<string, unknown>): Server;
}

async function generateCertificate(): Promise<{ cert: string; key: string }> {
  const require = createRequire(import.meta.url);
  const selfsigned = require('selfsigned') as SelfSignedModule;
  const now = Date.now();
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    // Back-dated a little so clock skew between processes never makes it "not yet valid".
    notBeforeDate: new Date(now - 60 * 60 * 1000),
    notAfterDate: new Date(now + 30 * 24 * 60 * 60 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** The header with which the Cosmos SDK asks the gateway for a query's plan rather than its results. */
const QUERY_PLAN_HEADER = 'x-ms-cosmos-is-query-plan-request';

/**
 * The SDK asks for a query's plan beside every query it sends, and uses the plan only when the service
 * says a query needs one (a cross-partition ORDER BY or aggregate the gateway cannot serve whole), which
 * the stand-in never says: it runs every query whole. The stand-in ignores the header and runs the query
 * for it, so every query would run twice.
 * Such requests are answered at once with an error naming why: were a plan ever needed, the query would
 * fail loudly rather than run on a made-up plan.
 */
function answerQueryPlanRequestsUnrun(server: Server): void {
  const handlers = server.listeners('request') as Array<(request: IncomingMessage, response: ServerResponse) => void>;
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (String(request.headers[QUERY_PLAN_HEADER]).toLowerCase() !== 'true') {
      for (const handler of handlers) handler(request, response);
      return;
    }
    request.resume();
    response.writeHead(400, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        code: 'BadRequest',
        message: 'The local Cosmos DB stand-in computes no query plans: it runs every query whole.',
      }),
    );
  });
}

/** `@vercel/cosmosdb-server` over HTTPS in this process, with a certificate generated for this run. */
export async function startCosmos(options: StartCosmosOptions = {}): Promise<LocalCosmos> {
  const { cert, key } = await generateCertificate();
  const require = createRequire(import.meta.url);
  const { createHttpsServer } = require('@vercel/cosmosdb-server') as CosmosServerModule;
  useLinearStandInQueries();
  const server = createHttpsServer({ cert, key, keepAlive: true });
  answerQueryPlanRequestsUnrun(server);
  // Node closes an idle keep-alive connection after 5 s by default. Under load a client often sends on a
  // connection at the moment the server closes it: ECONNRESET on a write the client cannot safely repeat.
  // Idle connections are kept as long as a cloud gateway keeps them.
  server.keepAliveTimeout = IDLE_CONNECTION_TIMEOUT_IN_MS;
  server.headersTimeout = IDLE_CONNECTION_TIMEOUT_IN_MS + 1_000;
  const journal =
    options.journalPath === undefined
      ? undefined
      : new CosmosJournal({ path: options.journalPath, compactAfterBytes: options.journalCompactAfterBytes });
  prepareStandInAccountCapture();
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', onError);
      // The stand-in has just created its (empty) account; fill it before the first request is read.
      try {
        if (journal !== undefined) journal.attach(takeCreatedStandInAccount());
      } catch (error) {
        server.close();
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let requests = 0;
  server.on('request', () => {
    requests += 1;
  });
  const caCertPath = options.caCertPath;
  if (caCertPath !== undefined) {
    try {
      await writeFile(caCertPath, cert, { mode: 0o644 });
    } catch (error) {
      server.closeAllConnections();
      server.close();
      throw error;
    }
  }
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    // Clients keep connections alive; end them so close() does not wait for their idle timeout.
    server.closeAllConnections();
    await closed;
    journal?.close();
    if (caCertPath !== undefined) {
      await rm(caCertPath, { force: true });
    }
  };
  return {
    endpoint: `https://${host}:${port}/`,
    key: cosmosEmulatorKey,
    caCertPem: cert,
    caCertPath,
    requestCount: () => requests,
    journalStats: () => journal?.stats,
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}
