import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { BulkOperationType, CosmosClient, type Container, type Database } from '@azure/cosmos';
import type { AppConfig } from '../../config.js';
import { createAzureCredential } from '../azureCredential.js';

export function createCosmosClient(config: AppConfig['cosmos']): CosmosClient {
  // Only the local stand-in uses a private CA; in Azure the platform's trust store applies.
  const agent =
    config.caCertFile === undefined
      ? new Agent({ keepAlive: true })
      : new Agent({ keepAlive: true, ca: readFileSync(config.caCertFile, 'utf8') });
  const base = {
    endpoint: config.endpoint,
    agent,
    connectionPolicy: { enableEndpointDiscovery: config.caCertFile === undefined },
  };
  return config.key !== undefined
    ? new CosmosClient({ ...base, key: config.key })
    : new CosmosClient({ ...base, aadCredentials: createAzureCredential(config.clientId) });
}

export interface CosmosContainers {
  readonly database: Database;
  readonly jobs: Container;
  readonly lines: Container;
  readonly budget: Container;
  readonly ledger: Container;
  readonly rollups: Container;
  readonly cache: Container;
}

/**
 * Creates the database and containers if missing (locally; in Azure the infra creates them and
 * these calls are reads). Partition keys: jobs by `/id`, lines by `/jobId` so a job's outcomes share a partition.
 */
export async function ensureCosmosContainers(
  client: CosmosClient,
  config: AppConfig['cosmos'],
): Promise<CosmosContainers> {
  const { database } = await evenIfRaced(() => client.databases.createIfNotExists({ id: config.database }));
  const container = async (id: string, partitionKey: string): Promise<Container> =>
    (await evenIfRaced(() => database.containers.createIfNotExists({ id, partitionKey: { paths: [partitionKey] } })))
      .container;
  const jobs = await container(config.jobsContainer, '/id');
  const lines = await container(config.linesContainer, '/jobId');
  const budget = await container(config.budgetContainer, '/id');
  const ledger = await container(config.ledgerContainer, '/jobId');
  // By day: a rollup refresh writes one day's partition; a report reads the partitions of its range.
  const rollups = await container(config.rollupsContainer, '/day');
  // By the request's hash: every read and write is a point operation on its own partition.
  const cache = await container(config.cacheContainer, '/id');
  return { database, jobs, lines, budget, ledger, rollups, cache };
}

/** An id no document has: reading it is the cheapest request the bulk path can make. */
const WARM_UP_ID = '__phi3-batch-warm-up__';

/**
 * Before its first bulk request to a container, the SDK looks up the container and its partition key
 * ranges: round trips that would otherwise fall on the first write-aheads of the first job after a
 * start, when the store is busiest. A bulk read of a document that does not exist (a 404, 1 RU) pays
 * them when the app starts.
 */
export async function warmBulkRouting(containers: readonly Container[]): Promise<void> {
  await Promise.all(
    containers.map((container) =>
      container.items.bulk([{ operationType: BulkOperationType.Read, id: WARM_UP_ID, partitionKey: WARM_UP_ID }], {
        continueOnError: true,
      }),
    ),
  );
}

/**
 * `createIfNotExists` reads, then creates: two processes starting at once can both read "missing" and
 * one create fails with a conflict. The other created it, which is all that was asked: read it again.
 */
async function evenIfRaced<T>(createIfNotExists: () => Promise<T>): Promise<T> {
  try {
    return await createIfNotExists();
  } catch (error) {
    if ((error as { code?: unknown }).code !== 409) throw error;
    return createIfNotExists();
  }
}
