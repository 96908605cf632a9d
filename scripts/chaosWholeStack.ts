/**
 * npm run chaos -- --whole-stack: `npm start` itself (stack, host and all, in a process group of its own, on a
 * temporary data directory) is killed with SIGKILL again and again while a job runs, and started again on the
 * same data each time. A first job, finished before the kills, must come through them unchanged (its job
 * record and output file byte for byte); the second must complete with every line exactly once.
 * The endpoint (the simulator, in this process) misbehaves a little: 3% 500s, bursts of 429, negative
 * x-ratelimit-remaining-tokens. CHAOS_LINES (default 2,000) lines in the killed job, CHAOS_KILLS (default 5)
 * kills, CHAOS_SEED (default 7). Each kill comes once the job has made progress since the last start.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { localModeOnFreePorts, spawnLocalMode, type RunningLocalMode } from '../dev/local/localModeProcess.js';
import { startPhi3Simulator } from '../dev/simulator/index.js';
import { createPipeline, table, type Pipeline } from './bench/benchSupport.js';

const LINES = Number(process.env['CHAOS_LINES'] ?? 2000);
const FIRST_JOB_LINES = 100;
const KILLS = Number(process.env['CHAOS_KILLS'] ?? 5);
const SEED = Number(process.env['CHAOS_SEED'] ?? 7);

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function batchFile(prefix: string, lines: number): string {
  const line = (i: number): string =>
    JSON.stringify({
      custom_id: `${prefix}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { messages: [{ role: 'user', content: `${prefix} ${i}: name a colour.` }], max_tokens: 40 },
    });
  return `${Array.from({ length: lines }, (_, i) => line(i)).join('\n')}\n`;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export async function wholeStackChaos(): Promise<void> {
  let state = SEED;
  const random = (): number => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return state / 2 ** 32;
  };
  const simulator = await startPhi3Simulator({
    latency: { baseInMs: 30, perCompletionTokenInMs: 1, jitterInMs: 30 },
    limits: { requestsPerMinute: 3_000, tokensPerMinute: 600_000 },
    faults: {
      errorRate: 0.03,
      burst429: { everyN: 400, length: 15, retryAfterInMs: 2_000 },
      negativeRemainingTokensRate: 0.01,
      seed: SEED,
    },
  });
  const dataDirectory = await mkdtemp(join(tmpdir(), 'chaos-whole-stack-'));
  const phi3 = { PHI3_ENDPOINT: simulator.url, PHI3_API_KEY: simulator.apiKey, PHI3_MODEL: simulator.model };
  const env = {
    ...phi3,
    PHI3_RPM_LIMIT: '3000',
    PHI3_TPM_LIMIT: '600000',
    RETRY_BASE_DELAY_MS: '100',
    ...localModeOnFreePorts(dataDirectory),
    // A killed run's messages come back after this, as a crashed host's do after ~10 minutes in Azure.
    LOCAL_HOST_QUEUE_LEASE_MS: '5000',
  };
  const startTimes: number[] = [];
  let local: RunningLocalMode | undefined;
  let pipeline: Pipeline | undefined;
  const start = async (): Promise<{ local: RunningLocalMode; pipeline: Pipeline }> => {
    const started = Date.now();
    // The same Node options as this process (none when compiled; a TypeScript loader when run from source).
    local = await spawnLocalMode({ env, nodeArgs: process.execArgv });
    pipeline = await createPipeline({ settings: local.settings }, phi3);
    startTimes.push(Date.now() - started);
    return { local, pipeline };
  };
  const outputFile = async (name: string): Promise<string> => {
    const blobs = BlobServiceClient.fromConnectionString(local!.settings['AzureWebJobsStorage']!);
    const blob = blobs.getContainerClient('batch-output').getBlobClient(name);
    return (await blob.exists()) ? (await blob.downloadToBuffer()).toString('utf8') : '';
  };
  try {
    let current = await start();
    const jobA = await current.pipeline.submit('before-the-kills.jsonl', batchFile('a', FIRST_JOB_LINES));
    const jobABefore = await current.pipeline.waitForJob(jobA, 250);
    const resultsABefore = await outputFile(`${jobA}/results.jsonl`);
    const errorsABefore = await outputFile(`${jobA}/errors.jsonl`);

    const started = Date.now();
    const jobB = await current.pipeline.submit('killed.jsonl', batchFile('b', LINES));
    let kills = 0;
    let doneAtLastStart = 0;
    while (kills < KILLS) {
      // Kill only once the job has moved on since this start (its file read, at least one more line done).
      let done = doneAtLastStart;
      for (;;) {
        const stored = await current.pipeline.jobs.getJob(jobB);
        done = (stored?.job.counts.succeeded ?? 0) + (stored?.job.counts.failed ?? 0);
        if (stored?.job.status === 'completed') break;
        if (stored?.job.ingest.done === true && done > doneAtLastStart) break;
        await delay(100);
      }
      if (done >= LINES) break;
      await delay(random() * 3_000);
      current.pipeline.close();
      await current.local.killGroup();
      kills += 1;
      process.stdout.write(
        `  kill ${kills}: npm start's process group (pid ${current.local.pid}) at ${done} of ${LINES} lines\n`,
      );
      current = await start();
      const counts = (await current.pipeline.jobs.getJob(jobB))?.job.counts;
      doneAtLastStart = (counts?.succeeded ?? 0) + (counts?.failed ?? 0);
    }
    const jobBAfter = await current.pipeline.waitForJob(jobB, 500);
    const elapsedInMs = Date.now() - started;

    const jobAAfter = (await current.pipeline.jobs.getJob(jobA))?.job;
    const jobAIntact =
      JSON.stringify(jobAAfter) === JSON.stringify(jobABefore) &&
      (await outputFile(`${jobA}/results.jsonl`)) === resultsABefore &&
      (await outputFile(`${jobA}/errors.jsonl`)) === errorsABefore;
    const outcomes = new Map<number, number>();
    for await (const outcome of current.pipeline.jobs.listOutcomes(jobB))
      outcomes.set(outcome.line, (outcomes.get(outcome.line) ?? 0) + 1);
    const lost = Array.from({ length: LINES }, (_, i) => i + 1).filter((line) => !outcomes.has(line)).length;
    const duplicatedOutcomes = [...outcomes.values()].filter((n) => n > 1).length;
    const idsOf = (text: string): string[] =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
    const resultIds = idsOf(await outputFile(`${jobB}/results.jsonl`));
    const errorIds = idsOf(await outputFile(`${jobB}/errors.jsonl`));
    const inFiles = new Set([...resultIds, ...errorIds]);
    const duplicatedInFiles = resultIds.length + errorIds.length - inFiles.size;
    const missingFromFiles = LINES - inFiles.size;
    const calls = simulator.log.entries();
    const restarts = startTimes.slice(1);
    const meanRestart = restarts.reduce((a, b) => a + b, 0) / Math.max(1, restarts.length);

    process.stdout.write(
      `\n${table(
        ['measure', 'value'],
        [
          [
            'first job (finished before the kills): lines / intact after them',
            `${FIRST_JOB_LINES} / ${jobAIntact ? 'yes' : 'NO'}`,
          ],
          ['killed job: lines / status', `${LINES} / ${jobBAfter.status}`],
          ['succeeded / failed', `${jobBAfter.counts.succeeded} / ${jobBAfter.counts.failed}`],
          ['lost (no outcome)', String(lost)],
          ['duplicated outcomes', String(duplicatedOutcomes)],
          [
            'lines in the output files (results + errors) / missing / more than once',
            `${resultIds.length} + ${errorIds.length} / ${missingFromFiles} / ${duplicatedInFiles}`,
          ],
          ['whole-stack kills (SIGKILL of the process group)', String(kills)],
          [
            'start-up after a kill (replay included), mean / max',
            `${seconds(meanRestart)} / ${seconds(Math.max(0, ...restarts))}`,
          ],
          ['endpoint calls (all / answered 200)', `${calls.length} / ${calls.filter((e) => e.status === 200).length}`],
          ['time (killed job)', seconds(elapsedInMs)],
        ],
      )}\n`,
    );
    const ok =
      jobAIntact &&
      jobBAfter.status === 'completed' &&
      lost === 0 &&
      duplicatedOutcomes === 0 &&
      missingFromFiles === 0 &&
      duplicatedInFiles === 0;
    pipeline?.close();
    local?.signal('SIGTERM');
    await local?.exited;
    local = undefined;
    process.exitCode = ok ? 0 : 1;
  } finally {
    pipeline?.close();
    await local?.killGroup();
    await simulator.close();
    await rm(dataDirectory, { recursive: true, force: true });
  }
}
