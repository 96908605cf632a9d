import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { CosmosClient, type Container, type Database } from '@azure/cosmos';
import type { AppConfig } from '../../config.js';
import { createAzureCredential } from '../azureCredential.js';

export function createCosmosClient(config: AppConfig['cosmos']): CosmosClient {
  // Only the local stand-in uses a private CA; in Azure the platform's trust store applies.
  const agent =
    config.caCertFile === undefined
      ? new Agent({ keepAlive: true })
      : new Agent({ keepAlive: true, ca: readFileSync(config.caCertFile, 'utf8') });
  const base = { endpoint: config.endpoint, agent, connectionPolicy: { enableEndpointDiscovery: config.caCertFile === undefined } };
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
}

/**
 * Creates the database and containers if missing (locally; in Azure the infra creates them and
 * these calls are reads). Partition keys: jobs by `/id`, lines by `/jobId` so a job's outcomes share a partition.
 */
export async function ensureCosmosContainers(client: CosmosClient, config: AppConfig['cosmos']): Promise<CosmosContainers> {
  const { database } = await evenIfRaced(() => client.databases.createIfNotExists({ id: config.database }));
  const container = async (id: string, partitionKey: string): Promise<Container> =>
    (await evenIfRaced(() => database.containers.createIfNotExists({ id, partitionKey: { paths: [partitionKey] } }))).container;
  const jobs = await container(config.jobsContainer, '/id');
  const lines = await container(config.linesContainer, '/jobId');
  const budget = await container(config.budgetContainer, '/id');
  const ledger = await container(config.ledgerContainer, '/jobId');
  // By day: a rollup refresh writes one day's partition; a report reads the partitions of its range.
  const rollups = await container(config.rollupsContainer, '/day');
  return { database, jobs, lines, budget, ledger, rollups };
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
