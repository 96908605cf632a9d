import { readFileSync } from 'node:fs';
import type { Container, CosmosClient, SqlParameter } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosmosJobSpendStore } from '../../src/adapters/cosmos/CosmosJobSpendStore.js';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { CosmosRollupStore } from '../../src/adapters/cosmos/CosmosRollupStore.js';
import { CosmosUsageLedger } from '../../src/adapters/cosmos/CosmosUsageLedger.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { deleteJob } from '../../src/app/deleteJob.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { silentLogger } from '../../src/app/Logger.js';
import { applyRetention } from '../../src/app/retention.js';
import type { LedgerEntry } from '../../src/app/ports.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { runQueues, type World } from '../app/finishedJob.js';
import { chatLine, createWorld, okResponse, ScriptedChatClient } from '../app/fixtures.js';
import { cosmosConfigOn } from '../support/cosmosOnStack.js';

/** Every ```sql block of the document, with the container its first line names. */
function documentedQueries(): Array<{ container: string; query: string }> {
  const text = readFileSync(new URL('../../docs/data-model.md', import.meta.url), 'utf8');
  return [...text.matchAll(/```sql\n([\s\S]*?)```/g)].map(([, body]) => {
    const named = /^-- container: (\w+)\n/.exec(body!);
    if (named === null) throw new Error(`A sql block does not name its container:\n${body}`);
    return { container: named[1]!, query: body!.slice(named[0].length).trim() };
  });
}

let stack: LocalStack;
let cosmos: CosmosClient;
let containers: Record<string, Container>;
let world: World;
const jobs: Record<string, string> = {};

async function runJob(name: string, lines: number, tags: Record<string, string>): Promise<string> {
  world.blobs.put(
    'batch-input',
    name,
    Array.from({ length: lines }, (_, i) => chatLine(`id-${i}`, `prompt ${name} ${i}`)).join('\n'),
    Object.fromEntries(Object.entries(tags).map(([k, v]) => [`tag_${k}`, v])),
  );
  const ingested = await ingestBlob('batch-input', name, world.ingestDeps);
  if (ingested.kind !== 'ingested') throw new Error(ingested.kind);
  await runQueues(world);
  return ingested.jobId;
}

async function ledgerOf(jobId: string): Promise<LedgerEntry[]> {
  const entries = [];
  for await (const entry of world.ledger.listEntries(jobId)) entries.push(entry);
  return entries;
}

beforeAll(async () => {
  stack = await startLocalStack();
  const config = cosmosConfigOn(stack, 'datamodel');
  cosmos = createCosmosClient(config);
  const c = await ensureCosmosContainers(cosmos, config);
  containers = { jobs: c.jobs, lines: c.lines, ledger: c.ledger, rollups: c.rollups, budget: c.budget };
  world = createWorld(new ScriptedChatClient((body) => okResponse(body)), {
    jobs: new CosmosJobStore(c.jobs, c.lines),
    ledger: new CosmosUsageLedger(c.ledger),
    rollups: new CosmosRollupStore(c.rollups),
    jobSpend: new CosmosJobSpendStore(c.jobs),
  });
  // Through the app: two projects in November, one of them again in December, and an untagged job.
  world.clock.now = Date.UTC(2026, 10, 20, 12);
  jobs['apolloNov'] = await runJob('apollo-nov.jsonl', 6, { project: 'apollo', team: 'search' });
  jobs['hermesNov'] = await runJob('hermes-nov.jsonl', 3, { project: 'hermes' });
  jobs['untagged'] = await runJob('untagged.jsonl', 2, {});
  world.clock.now = Date.UTC(2026, 11, 2, 12);
  jobs['apolloDec'] = await runJob('apollo-dec.jsonl', 4, { project: 'apollo' });
  // A deleted job is still named by the reports: its tombstone and ledger stay.
  await deleteJob(
    { jobs: world.jobs, blobs: world.blobs, clock: world.clock, outputContainer: 'batch-output' },
    jobs['hermesNov'],
  );
}, 120_000);

afterAll(async () => {
  cosmos?.dispose();
  await stack?.close();
});

describe('docs/data-model.md', () => {
  const queries = documentedQueries();
  const parameters = (): SqlParameter[] => [
    { name: '@from', value: '2026-11-01' },
    { name: '@to', value: '2026-12-31' },
    { name: '@project', value: 'apollo' },
    { name: '@jobId', value: jobs['apolloNov']! },
  ];
  const run = async (index: number): Promise<unknown[]> => {
    const { container, query } = queries[index]!;
    const target = containers[container];
    if (target === undefined) throw new Error(`No container ${container}`);
    const { resources } = await target.items
      .query({ query, parameters: parameters().filter((p) => query.includes(p.name)) })
      .fetchAll();
    return resources;
  };
  const costOf = async (jobId: string) => (await ledgerOf(jobId)).reduce((sum, e) => sum + e.costInNanos, 0);

  it('has the four ready queries, each naming a container that exists', () => {
    expect(queries.map((q) => q.container)).toEqual(['rollups', 'rollups', 'jobs', 'ledger']);
  });

  it('spend by tag per month: the rows, summed per month and tag, equal the ledger', async () => {
    const rows = (await run(0)) as Array<{ month: string; project?: string; calls: number; costInNanos: number }>;
    const sums = new Map<string, number>();
    for (const row of rows) {
      const key = `${row.month}|${row.project ?? ''}`;
      sums.set(key, (sums.get(key) ?? 0) + row.costInNanos);
    }
    expect(Object.fromEntries(sums)).toEqual({
      '2026-11|apollo': await costOf(jobs['apolloNov']!),
      '2026-11|hermes': await costOf(jobs['hermesNov']!),
      '2026-11|': await costOf(jobs['untagged']!),
      '2026-12|apollo': await costOf(jobs['apolloDec']!),
    });
    expect(rows.reduce((sum, r) => sum + r.calls, 0)).toBe(15);
  });

  it('one tag value’s spend over a range is the sum of its jobs’ ledgers', async () => {
    expect(await run(1)).toEqual([(await costOf(jobs['apolloNov']!)) + (await costOf(jobs['apolloDec']!))]);
    expect(await costOf(jobs['apolloNov']!)).toBeGreaterThan(0);
  });

  it('top jobs by cost: every finished job, the deleted one too, most expensive first, with its ledger total', async () => {
    const rows = (await run(2)) as Array<{ id: string; costInNanos: number; tags?: Record<string, string> }>;
    const expected = await Promise.all(Object.values(jobs).map(async (id) => ({ id, costInNanos: await costOf(id) })));
    expected.sort((a, b) => b.costInNanos - a.costInNanos);
    expect(rows.map((r) => ({ id: r.id, costInNanos: r.costInNanos }))).toEqual(expected);
    expect(rows[0]!.tags).toEqual({ project: 'apollo', team: 'search' });
  });

  it('a job’s calls, in order, are its ledger', async () => {
    const rows = (await run(3)) as Array<{ line: number; state: string; costInNanos: number }>;
    expect(rows).toHaveLength(6);
    expect(rows.every((r) => r.state === 'billed')).toBe(true);
    expect(rows.reduce((sum, r) => sum + r.costInNanos, 0)).toBe(await costOf(jobs['apolloNov']!));
  });
  // Last: it removes the outcomes the queries above do not need.
  it('retention on the stand-in removes outcomes and files of jobs past their period, and the ledger queries still add up', async () => {
    const before = await run(0);
    const count = async (jobId: string) => {
      const { resources } = await containers['lines']!.items.query({
        query: 'SELECT VALUE COUNT(1) FROM c WHERE c.jobId = @jobId',
        parameters: [{ name: '@jobId', value: jobId }],
      }).fetchAll();
      return resources[0] as number;
    };
    expect(await count(jobs['apolloNov']!)).toBe(6);
    // 20 November + 30 days: the November jobs are past it, the December one is not.
    world.clock.now = Date.UTC(2026, 11, 21, 12);
    const deps = {
      jobs: world.jobs,
      blobs: world.blobs,
      clock: world.clock,
      logger: silentLogger,
      outputContainer: 'batch-output',
    };
    // The deleted job's data is gone already: only the two other November jobs are expired.
    expect(await applyRetention({ outcomesDays: 30, filesDays: 30 }, deps)).toEqual({ outcomes: 2, files: 2 });
    expect(await count(jobs['apolloNov']!)).toBe(0);
    expect(await count(jobs['untagged']!)).toBe(0);
    expect(await count(jobs['apolloDec']!)).toBe(4);
    expect(await world.blobs.download('batch-output', `${jobs['apolloNov']!}/results.jsonl`)).toBeUndefined();
    expect(await world.blobs.download('batch-output', `${jobs['apolloDec']!}/results.jsonl`)).toBeDefined();
    expect(await run(0)).toEqual(before);
    expect(await ledgerOf(jobs['apolloNov']!)).toHaveLength(6);
  });
});
