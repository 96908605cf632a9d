/**
 * npm run chaos -- --whole-stack: see wholeStackChaos below.
 *
 * npm run chaos: a `low` job of CHAOS_LINES lines (default 5,000) and a `high` job of a fifth of that,
 * sharing the deployment's budget (decision 0012), through the real pipeline while the
 * endpoint misbehaves (about 5% 500s, 2% hangs past the client timeout (20 s against 10 s), bursts of 429, negative
 * x-ratelimit-remaining-tokens, one daily-quota "retry after 86400 s") and worker processes are
 * killed with SIGKILL at random moments. Then it counts what every line came to, and matches the
 * endpoint's log with the usage ledger call by call (each request carries its ledger id as
 * x-ms-client-request-id): every call the endpoint billed must be in the ledger.
 */
import { CosmosUsageLedger } from '../src/adapters/cosmos/CosmosUsageLedger.js';
import { createCosmosClient, ensureCosmosContainers } from '../src/adapters/cosmos/createCosmosClient.js';
import { loadConfig } from '../src/config.js';
import { startLocalStack } from '../dev/local/stack/index.js';
import { startPhi3Simulator } from '../dev/simulator/index.js';
import {
  createPipeline,
  startWorkerProcess,
  stopWorkerProcesses,
  table,
  type WorkerProcess,
} from './bench/benchSupport.js';
import { ledgerTotals } from '../src/app/ledgerTotals.js';
import { wholeStackChaos } from './chaosWholeStack.js';

const LINES = Number(process.env['CHAOS_LINES'] ?? 5000);
const WORKERS = Number(process.env['CHAOS_WORKERS'] ?? 3);
const MIN_KILLS = Number(process.env['CHAOS_KILLS'] ?? 12);
const SEED = Number(process.env['CHAOS_SEED'] ?? 7);

let state = SEED;
const random = (): number => {
  state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
  return state / 2 ** 32;
};

async function main(): Promise<void> {
  const simulator = await startPhi3Simulator({
    latency: { baseInMs: 30, perCompletionTokenInMs: 1, jitterInMs: 30 },
    limits: { requestsPerMinute: 3_000, tokensPerMinute: 600_000 },
    faults: {
      errorRate: 0.05,
      hangRate: 0.02,
      hangInMs: 20_000,
      burst429: { everyN: 400, length: 15, retryAfterInMs: 2_000 },
      negativeRemainingTokensRate: 0.01,
      dailyQuotaOnce: false,
      seed: SEED,
    },
  });
  const stack = await startLocalStack();
  const pipeline = await createPipeline(stack, {
    PHI3_ENDPOINT: simulator.url,
    PHI3_API_KEY: simulator.apiKey,
    PHI3_RPM_LIMIT: '3000',
    PHI3_TPM_LIMIT: '600000',
    // Above the stand-ins' latency under load (they share one event loop here), still well below a 20 s hang.
    PHI3_TIMEOUT_MS: '10000',
    PHI3_DEPLOYMENT: 'chaos',
    COSMOS_DATABASE: 'chaos',
    RETRY_BASE_DELAY_MS: '100',
    RETRY_MAX_ATTEMPTS: '8',
    // A daily quota's wait is capped, re-queued and shown on the job; short here so the run ends.
    RETRY_MAX_REQUEUE_DELAY_MS: '15000',
    RETRY_MAX_INLINE_WAIT_MS: '5000',
    QUEUE_MESSAGE_MAX_REQUESTS: '16',
    SWEEPER_SCHEDULE: '*/10 * * * * *',
    SWEEPER_STALL_MS: '45000',
  });
  pipelineJobs = pipeline.jobs;
  stackOfRun = stack;
  // A killed worker's messages come back after this lease, as a crashed host's do after ~10 minutes in Azure.
  const workerEnv = { ...pipeline.settings, LOCAL_HOST_QUEUE_LEASE_MS: '20000', LOCAL_HOST_BLOB_POLL_MS: '200' };
  const workers: WorkerProcess[] = [];
  for (let i = 0; i < WORKERS; i += 1) workers.push(startWorkerProcess(workerEnv));
  await Promise.all(workers.map((w) => w.ready));

  const fileOf = (prefix: string, lines: number): string =>
    Array.from({ length: lines }, (_, i) =>
      JSON.stringify({
        custom_id: `${prefix}-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { messages: [{ role: 'user', content: `Chaos question ${i}: name a colour.` }], max_tokens: 40 },
      }),
    ).join('\n') + '\n';
  const started = Date.now();
  const runs = [
    { lines: LINES, jobId: await pipeline.submit('chaos.jsonl', fileOf('chaos', LINES), { priority: 'low' }) },
  ];
  const highLines = Math.max(1, Math.floor(LINES / 5));
  runs.push({
    lines: highLines,
    jobId: await pipeline.submit('chaos-high.jsonl', fileOf('chaos-high', highLines), { priority: 'high' }),
  });

  // Kill only once the files are read: an ingest killed mid-file waits out its 5-minute lease before resuming.
  for (const { jobId } of runs) {
    for (;;) {
      const stored = await pipeline.jobs.getJob(jobId);
      if (stored?.job.ingest.done) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  simulator.setFaults({ dailyQuotaOnce: true });
  let kills = 0;
  let finished = false;
  const done = Promise.all(runs.map((run) => pipeline.waitForJob(run.jobId, 500))).then((jobs) => {
    finished = true;
    return jobs;
  });
  while (!finished && (kills < MIN_KILLS || Date.now() - started < 600_000)) {
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 1_500 + random() * 4_000))]);
    if (finished) break;
    const victim = Math.floor(random() * workers.length);
    workers[victim]!.child.kill('SIGKILL');
    kills += 1;
    process.stdout.write(`  kill ${kills}: worker pid ${workers[victim]!.child.pid}\n`);
    workers[victim] = startWorkerProcess(workerEnv);
    await workers[victim].ready;
    if (kills >= MIN_KILLS) break;
  }
  const finalJobs = await done;
  const elapsedInMs = Date.now() - started;
  await stopWorkerProcesses(workers);

  const byCode = new Map<string, number>();
  const lineReports: LineReport[] = [];
  for (const run of runs) lineReports.push(await linesOf(run.jobId, run.lines, byCode));
  const sum = (pick: (r: LineReport) => number): number => lineReports.reduce((total, r) => total + pick(r), 0);
  const succeeded = sum((r) => r.succeeded);
  const lost = sum((r) => r.lost);
  const duplicatedOutcomes = sum((r) => r.duplicatedOutcomes);
  const duplicatedResults = sum((r) => r.duplicatedResults);
  const missingFromFiles = sum((r) => r.missingFromFiles);
  const inBothFiles = sum((r) => r.inBothFiles);
  const resultCount = sum((r) => r.results);
  const errorCount = sum((r) => r.errors);

  const config = loadConfig(pipeline.settings);
  const cosmos = createCosmosClient(config.cosmos);
  const ledger = new CosmosUsageLedger((await ensureCosmosContainers(cosmos, config.cosmos)).ledger);
  const sums = await Promise.all(runs.map((run) => ledgerTotals(ledger, run.jobId)));
  const ledgerSums = {
    calls: sums.reduce((total, s) => total + s.calls, 0),
    unconfirmedCalls: sums.reduce((total, s) => total + s.unconfirmedCalls, 0),
    promptTokens: sums.reduce((total, s) => total + s.promptTokens, 0),
    completionTokens: sums.reduce((total, s) => total + s.completionTokens, 0),
  };
  const ledgerStates = new Map<string, string>();
  for (const run of runs)
    for await (const entry of ledger.listEntries(run.jobId)) ledgerStates.set(entry.id, entry.state);
  cosmos.dispose();
  const all = simulator.log.entries();
  const billed = all.filter((e) => e.status === 200);
  // The endpoint's billed calls, matched with the ledger by the id each request carried (x-ms-client-request-id).
  const billedIds = new Set(billed.map((e) => e.clientRequestId ?? ''));
  const missing = billed.filter((e) => !ledgerStates.has(e.clientRequestId ?? '')).length;
  const billedButUnconfirmed = billed.filter((e) => ledgerStates.get(e.clientRequestId ?? '') === 'sent').length;
  const ledgerNotBilled = [...ledgerStates.keys()].filter((id) => !billedIds.has(id));
  const unbilledStates = new Map<string, number>();
  for (const id of ledgerNotBilled) {
    const outcome = all.find((e) => e.clientRequestId === id)?.outcome ?? 'never reached the endpoint';
    unbilledStates.set(outcome, (unbilledStates.get(outcome) ?? 0) + 1);
  }
  const tokensOf = (entries: typeof all): number =>
    entries.reduce((sum, e) => sum + (e.promptTokens ?? 0) + e.completionTokens, 0);
  const ledgerBilled = [...ledgerStates.values()].filter((state) => state === 'billed').length;

  process.stdout.write(
    `\n${table(
      ['measure', 'value'],
      [
        ['lines (low job + high job)', `${LINES} + ${highLines}`],
        ['job status (low, high)', finalJobs.map((j) => j.status).join(', ')],
        [
          'finished at (low, high)',
          finalJobs.map((j) => `${(((j.timestamps.completedAt ?? 0) - started) / 1000).toFixed(1)} s`).join(', '),
        ],
        ['succeeded', String(succeeded)],
        ['failed (by code)', [...byCode.entries()].map(([code, n]) => `${code}: ${n}`).join(', ') || '0'],
        ['lost (no outcome)', String(lost)],
        ['duplicated outcomes / results', `${duplicatedOutcomes} / ${duplicatedResults}`],
        [
          'lines in the output files (results + errors) / missing / in both',
          `${resultCount} + ${errorCount} / ${missingFromFiles} / ${inBothFiles}`,
        ],
        ['workers killed (SIGKILL)', String(kills)],
        ['endpoint calls (all / answered 200)', `${all.length} / ${billed.length}`],
        [
          '429s / 500s / hangs',
          `${all.filter((e) => e.status === 429).length} / ${all.filter((e) => e.status === 500).length} / ${all.filter((e) => e.status === 504).length}`,
        ],
        [
          'calls in the ledger (billed + unconfirmed)',
          `${ledgerSums.calls} (${ledgerBilled} + ${ledgerSums.unconfirmedCalls})`,
        ],
        ['endpoint 200s in the ledger / missing', `${billed.length - missing} / ${missing}`],
        ['  of which the answer never reached a worker (unconfirmed)', String(billedButUnconfirmed)],
        [
          'ledger calls the endpoint did not bill',
          ledgerNotBilled.length === 0
            ? '0'
            : `${ledgerNotBilled.length} (${[...unbilledStates.entries()].map(([k, n]) => `${k}: ${n}`).join(', ')})`,
        ],
        [
          'tokens: all endpoint 200s / those answered to a worker / ledger',
          `${tokensOf(billed)} / ${tokensOf(billed.filter((e) => ledgerStates.get(e.clientRequestId ?? '') === 'billed'))} / ${ledgerSums.promptTokens + ledgerSums.completionTokens}`,
        ],
        ['time', `${(elapsedInMs / 1000).toFixed(1)} s`],
      ],
    )}\n`,
  );
  await simulator.close();
  await stack.close();
  process.exit(
    lost === 0 &&
      duplicatedResults === 0 &&
      missingFromFiles === 0 &&
      inBothFiles === 0 &&
      missing === 0 &&
      finalJobs.every((j) => j.status === 'completed')
      ? 0
      : 1,
  );
}

interface LineReport {
  readonly succeeded: number;
  readonly lost: number;
  readonly duplicatedOutcomes: number;
  readonly duplicatedResults: number;
  readonly missingFromFiles: number;
  readonly inBothFiles: number;
  readonly results: number;
  readonly errors: number;
}

/** What every line of one job came to, in its outcomes and its output files; failures counted by code into `byCode`. */
async function linesOf(jobId: string, lines: number, byCode: Map<string, number>): Promise<LineReport> {
  const outcomes = new Map<number, number>();
  let succeeded = 0;
  for await (const outcome of pipelineJobs!.listOutcomes(jobId)) {
    outcomes.set(outcome.line, (outcomes.get(outcome.line) ?? 0) + 1);
    if (outcome.status === 'succeeded') succeeded += 1;
    else byCode.set(outcome.error?.code ?? 'unknown', (byCode.get(outcome.error?.code ?? 'unknown') ?? 0) + 1);
  }
  const lost = Array.from({ length: lines }, (_, i) => i + 1).filter((line) => !outcomes.has(line)).length;
  const duplicatedOutcomes = [...outcomes.values()].filter((n) => n > 1).length;
  const idsOf = (text: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
  const resultIds = idsOf(await createBlobText(stackOfRun!, `${jobId}/results.jsonl`));
  const errorIds = idsOf(await createBlobText(stackOfRun!, `${jobId}/errors.jsonl`));
  const duplicatedResults = resultIds.length - new Set(resultIds).size;
  // Every line in exactly one of the two files: none missing, none in both.
  const inFiles = new Set([...resultIds, ...errorIds]);
  return {
    succeeded,
    lost,
    duplicatedOutcomes,
    duplicatedResults,
    missingFromFiles: lines - inFiles.size,
    inBothFiles: resultIds.length + errorIds.length - inFiles.size - duplicatedResults,
    results: resultIds.length,
    errors: errorIds.length,
  };
}

let pipelineJobs: Awaited<ReturnType<typeof createPipeline>>['jobs'] | undefined;
let stackOfRun: Awaited<ReturnType<typeof startLocalStack>> | undefined;

async function createBlobText(stack: Awaited<ReturnType<typeof startLocalStack>>, name: string): Promise<string> {
  const { BlobServiceClient } = await import('@azure/storage-blob');
  const client = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!)
    .getContainerClient('batch-output')
    .getBlobClient(name);
  return (await client.downloadToBuffer()).toString('utf8');
}

(process.argv.includes('--whole-stack')
  ? wholeStackChaos().then(() => process.exit(process.exitCode ?? 0))
  : main()
).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
