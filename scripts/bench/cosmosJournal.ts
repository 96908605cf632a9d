/**
 * What the Cosmos stand-in's journal costs: upserts per second over HTTPS (keep-alive, the real SDK), in
 * memory and with the journal, in alternating rounds, with the CPU time each upsert took (client and server
 * share this process, so that figure holds on a busy machine where the rate does not); the CPU time of the
 * store's own upsert without HTTP; and how long a start takes to replay what was written.
 * `node dist/scripts/bench/cosmosJournal.js` (after `npm run build`). BENCH_UPSERTS (default 5,000),
 * BENCH_CONCURRENCY (default 32), BENCH_ROUNDS (default 3).
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { CosmosJournal, type StandInAccount } from '../../dev/local/stack/CosmosJournal.js';
import { standInRequire } from '../../dev/local/stack/linearQueries.js';
import { createLocalCosmosAgent, startCosmos, type LocalCosmos } from '../../dev/local/stack/startCosmos.js';
import { table } from './benchSupport.js';

const UPSERTS = Number(process.env['BENCH_UPSERTS'] ?? 5000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 32);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

const cpuMicros = (): number => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

function outcome(i: number): Record<string, unknown> {
  // About the size of a line outcome: a short completion and its accounting.
  return { id: `line-${i % 2000}`, jobId: `job-${i % 7}`, status: 'succeeded', text: 'x'.repeat(600), n: i };
}

interface StandInStore {
  databases: { create(data: { id: string }): unknown };
  database(id: string): {
    collections: { create(data: Record<string, unknown>): unknown };
    collection(id: string): { documents: { upsert(data: Record<string, unknown>): unknown } };
  };
}

/** CPU microseconds per upsert in the stand-in's store itself (no HTTP), with or without a journal. */
function storeUpserts(journalPath: string | undefined): number {
  const Account = (
    standInRequire()('@vercel/cosmosdb-server/lib/account') as {
      default: new (host: string, port: number) => StandInStore;
    }
  ).default;
  const account = new Account('127.0.0.1', 0);
  const journal = journalPath === undefined ? undefined : new CosmosJournal({ path: journalPath });
  journal?.attach(account as unknown as StandInAccount);
  account.databases.create({ id: 'bench' });
  account.database('bench').collections.create({ id: 'lines', partitionKey: { paths: ['/jobId'] } });
  const documents = account.database('bench').collection('lines').documents;
  const before = cpuMicros();
  for (let i = 0; i < UPSERTS; i += 1) documents.upsert(outcome(i));
  const perUpsert = (cpuMicros() - before) / UPSERTS;
  journal?.close();
  return perUpsert;
}

async function upserts(cosmos: LocalCosmos): Promise<{ perSecond: number; cpuMicrosPerUpsert: number }> {
  const client = new CosmosClient({
    endpoint: cosmos.endpoint,
    key: cosmos.key,
    agent: createLocalCosmosAgent(cosmos.caCertPem),
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  try {
    const { database } = await client.databases.createIfNotExists({ id: 'bench' });
    const { container } = await database.containers.createIfNotExists({
      id: 'lines',
      partitionKey: { paths: ['/jobId'] },
    });
    let next = 0;
    const started = process.hrtime.bigint();
    const cpuBefore = cpuMicros();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < UPSERTS; i = next++) await container.items.upsert(outcome(i));
      }),
    );
    const elapsedInSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { perSecond: UPSERTS / elapsedInSeconds, cpuMicrosPerUpsert: (cpuMicros() - cpuBefore) / UPSERTS };
  } finally {
    client.dispose();
  }
}

async function main(): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'bench-journal-'));
  const rows: string[][] = [];
  try {
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const journaled of [false, true]) {
        const journalPath = join(directory, `round-${round}.jsonl`);
        const cosmos = await startCosmos(journaled ? { journalPath } : {});
        const { perSecond, cpuMicrosPerUpsert } = await upserts(cosmos);
        const storeOnly = storeUpserts(journaled ? join(directory, `store-${round}.jsonl`) : undefined);
        await cosmos.close();
        let replay = '-';
        let size = '-';
        if (journaled) {
          size = `${((await stat(journalPath)).size / 1e6).toFixed(1)} MB`;
          const started = process.hrtime.bigint();
          const again = await startCosmos({ journalPath });
          replay = `${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(0)} ms`;
          await again.close();
        }
        rows.push([
          String(round),
          journaled ? 'journal' : 'memory',
          perSecond.toFixed(0),
          cpuMicrosPerUpsert.toFixed(0),
          storeOnly.toFixed(1),
          size,
          replay,
        ]);
      }
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
  process.stdout.write(
    `${UPSERTS} upserts, ${CONCURRENCY} at a time, HTTPS keep-alive\n${table(
      [
        'round',
        'store',
        'upserts/s (HTTPS)',
        'CPU µs/upsert (HTTPS)',
        'CPU µs/upsert (store only)',
        'journal size',
        'start (replay + compaction)',
      ],
      rows,
    )}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
