/**
 * What the Cosmos stand-in's journal costs: upserts per second over HTTPS (keep-alive, the real SDK), in
 * memory and with the journal, in alternating rounds; then how long a start takes to replay what was written.
 * `node dist/scripts/bench/cosmosJournal.js` (after `npm run build`). BENCH_UPSERTS (default 5,000),
 * BENCH_CONCURRENCY (default 32), BENCH_ROUNDS (default 3).
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { createLocalCosmosAgent, startCosmos, type LocalCosmos } from '../../dev/local/stack/startCosmos.js';
import { table } from './benchSupport.js';

const UPSERTS = Number(process.env['BENCH_UPSERTS'] ?? 5000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 32);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

async function upserts(cosmos: LocalCosmos): Promise<number> {
  const client = new CosmosClient({
    endpoint: cosmos.endpoint,
    key: cosmos.key,
    agent: createLocalCosmosAgent(cosmos.caCertPem),
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  try {
    const { database } = await client.databases.createIfNotExists({ id: 'bench' });
    const { container } = await database.containers.createIfNotExists({ id: 'lines', partitionKey: { paths: ['/jobId'] } });
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < UPSERTS; i = next++) {
          // About the size of a line outcome: a short completion and its accounting.
          await container.items.upsert({ id: `line-${i % 2000}`, jobId: `job-${i % 7}`, status: 'succeeded', text: 'x'.repeat(600), n: i });
        }
      }),
    );
    return UPSERTS / (Number(process.hrtime.bigint() - started) / 1e9);
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
        const perSecond = await upserts(cosmos);
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
        rows.push([String(round), journaled ? 'journal' : 'memory', perSecond.toFixed(0), size, replay]);
      }
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
  process.stdout.write(
    `${UPSERTS} upserts, ${CONCURRENCY} at a time, HTTPS keep-alive\n${table(['round', 'store', 'upserts/s', 'journal size', 'start (replay + compaction)'], rows)}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
