import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CosmosClient } from '@azure/cosmos';
import { describe, expect, it } from 'vitest';
import { ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { loadConfig } from '../../src/config.js';
import { evaluate } from './bicep.js';
import { cosmosModel, functionApp, mainScope, repoRoot } from './infraModel.js';

const settings = functionApp().settings;
const cosmos = cosmosModel();

/** What src/adapters/cosmos creates when it finds nothing: the code's own idea of the database. */
async function containersTheCodeCreates(): Promise<{
  database: string;
  containers: Array<{ id: string; partitionKeyPaths: string[] }>;
}> {
  const env: Record<string, string> = {
    PHI3_ENDPOINT: 'https://phi3.example.invalid',
    PHI3_API_KEY: 'k',
    COSMOS_ENDPOINT: 'https://cosmos.example.invalid',
  };
  env['AzureWebJobsStorage__accountName'] = 'staccount';
  for (const setting of settings.values()) if (typeof setting.value === 'string') env[setting.name] = setting.value;
  const config = loadConfig(env);
  let database = '';
  const containers: Array<{ id: string; partitionKeyPaths: string[] }> = [];
  const fakeDatabase = {
    containers: {
      createIfNotExists: async (body: { id: string; partitionKey?: { paths?: string[] } }) => {
        containers.push({ id: body.id, partitionKeyPaths: body.partitionKey?.paths ?? [] });
        return { container: {} };
      },
    },
  };
  const fakeClient = {
    databases: {
      createIfNotExists: async (body: { id: string }) => {
        database = body.id;
        return { database: fakeDatabase };
      },
    },
  };
  await ensureCosmosContainers(fakeClient as unknown as CosmosClient, config.cosmos);
  return { database, containers };
}

interface AdapterQueries {
  readonly file: string;
  /** Setting names of the containers the composition root hands the adapter. */
  readonly containerSettings: string[];
  /** Document fields its queries mention (`c.<field>`); conditional-patch predicates need no index. */
  readonly fields: string[];
}

/** Each Cosmos adapter wired in src/compositionRoot.ts, with the containers it gets and the fields it queries. */
function adapterQueries(): AdapterQueries[] {
  const root = readFileSync(join(repoRoot, 'src/compositionRoot.ts'), 'utf8');
  const wiring = new Map<string, string[]>();
  for (const [, className, args] of root.matchAll(/new (Cosmos\w+)\(([^)]*)\)/g)) {
    const containers = [...args!.matchAll(/containers\.(\w+)/g)].map((m) => `COSMOS_${m[1]!.toUpperCase()}_CONTAINER`);
    wiring.set(className!, [...(wiring.get(className!) ?? []), ...containers]);
  }
  const dir = join(repoRoot, 'src/adapters/cosmos');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.ts'))
    .flatMap((name) => {
      const source = readFileSync(join(dir, name), 'utf8');
      const className = /export class (\w+)/.exec(source)?.[1];
      const containerSettings = className === undefined ? [] : (wiring.get(className) ?? []);
      if (containerSettings.length === 0) return [];
      // What a query selects needs no index, only what it filters or sorts on: projections are left out.
      const queries = source
        .replace(/condition:\s*(`[^`]*`|'[^']*')/g, '')
        .replace(/\bSELECT\b[^]*?\bFROM\b/g, 'SELECT FROM');
      const fields = [...new Set([...queries.matchAll(/\bc\.([A-Za-z_]\w*)/g)].map((m) => m[1]!))];
      return [{ file: name, containerSettings, fields }];
    });
}

function isIndexed(field: string, container: { includedPaths: string[]; excludedPaths: string[] }): boolean {
  return container.includedPaths.some(
    (p) =>
      p === `/${field}/?` || p === `/${field}/*` || (p === '/*' && !container.excludedPaths.includes(`/${field}/?`)),
  );
}

describe('Cosmos DB in the infra against the code', () => {
  it('creates the database the app is configured with', () => {
    expect(cosmos.databaseNames).toEqual([settings.get('COSMOS_DATABASE')?.value]);
  });

  it('creates every container the code uses, with the partition key the code uses', async () => {
    const code = await containersTheCodeCreates();
    expect(cosmos.databaseNames).toEqual([code.database]);
    expect(code.containers.length).toBeGreaterThan(0);
    for (const container of code.containers) {
      const infra = cosmos.containers.find((c) => c.id === container.id);
      expect(infra, `container ${container.id}`).toBeDefined();
      expect(infra!.partitionKeyPaths, `partition key of ${container.id}`).toEqual(container.partitionKeyPaths);
    }
    expect(cosmos.containers.map((c) => c.id).sort()).toEqual(code.containers.map((c) => c.id).sort());
  });

  it('indexes, in the containers each adapter is given, every field its queries filter or sort on', () => {
    const adapters = adapterQueries();
    expect(adapters.map((a) => a.file)).toContain('CosmosJobStore.ts');
    const problems: string[] = [];
    for (const adapter of adapters) {
      const ids = adapter.containerSettings.map((name) => settings.get(name)?.value);
      const containers = cosmos.containers.filter((c) => ids.includes(c.id));
      if (containers.length !== ids.length)
        problems.push(`${adapter.file}: containers ${adapter.containerSettings.join(', ')} not all in the infra`);
      for (const field of adapter.fields) {
        if (!containers.some((c) => isIndexed(field, c)))
          problems.push(`${adapter.file}: c.${field} is not indexed in ${ids.join(' or ')}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('indexes nothing by default, so large payloads such as responses cost no index writes', () => {
    for (const container of cosmos.containers) {
      expect(container.excludedPaths, String(container.id)).toContain('/*');
      expect(
        container.includedPaths.filter((p) => /^\/(response|error|request|body)\b/.test(p)),
        String(container.id),
      ).toEqual([]);
    }
  });

  it('is serverless unless asked otherwise', () => {
    expect(evaluate('cosmosCapacityMode', mainScope())).toBe('serverless');
  });
});
