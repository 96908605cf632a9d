/**
 * npm run bench:e2e: a 20,000-line job through the whole pipeline against the simulator, with limits
 * scaled so that the theoretical minimum time, max(lines / RPM, admitted tokens / TPM), is about a
 * minute. Prints the measured time and its ratio to that minimum.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import { startLocalStackProcesses } from '../../dev/local/stack/index.js';
import { createPipeline, repoFile, startWorkerProcess, stopWorkerProcesses, table } from './benchSupport.js';

const LINES = Number(process.env['BENCH_E2E_LINES'] ?? 20_000);
const WORKERS = Number(process.env['BENCH_E2E_WORKERS'] ?? 2);
const MAX_TOKENS = 60;
const MODEL = 'Phi-3-mini-4k-instruct';
const KEY = 'bench-e2e-simulator-key-00000000';

/** The simulator in a process of its own, as a real endpoint would be: its CPU is not the pipeline's. */
async function startSimulatorProcess(
  rpm: number,
  tpm: number,
): Promise<{ url: string; log: () => Promise<Array<{ atInMs: number; status: number }>>; stop: () => void }> {
  // BENCH_SIMULATOR_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=DIR") profiles the simulator.
  const nodeArgs = (process.env['BENCH_SIMULATOR_NODE_ARGS'] ?? '').split(' ').filter((arg) => arg !== '');
  const child = spawn(process.execPath, [...nodeArgs, repoFile('dist/dev/simulator/main.js')], {
    env: {
      PATH: process.env['PATH'] ?? '',
      SIMULATOR_PORT: '0',
      SIMULATOR_API_KEY: KEY,
      SIMULATOR_MODEL: MODEL,
      SIMULATOR_RPM: String(rpm),
      SIMULATOR_TPM: String(tpm),
      SIMULATOR_LATENCY_MS: '80',
      SIMULATOR_LATENCY_PER_TOKEN_MS: '1',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match !== null) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  const log = async (): Promise<Array<{ atInMs: number; status: number }>> => {
    const response = await fetch(`${url}/_simulator/log`, { headers: { authorization: `Bearer ${KEY}` } });
    return (await response.json()) as Array<{ atInMs: number; status: number }>;
  };
  return { url, log, stop: () => child.kill('SIGTERM') };
}

async function main(): Promise<void> {
  const counter = createTokenCounter(MODEL);
  const lines = Array.from({ length: LINES }, (_, i) => ({
    messages: [{ role: 'user', content: `Item ${i}: write one short sentence about the sea.` }],
    max_tokens: MAX_TOKENS,
  }));
  const admittedTokens = lines.reduce((sum, body) => sum + counter.countChatPrompt(body.messages) + MAX_TOKENS, 0);
  // Requests bind: LINES per minute; tokens get 20% more room than the workload needs in a minute.
  const rpm = LINES;
  const tpm = Math.ceil(admittedTokens * 1.2);
  const minimumInMs = Math.max(LINES / rpm, admittedTokens / tpm) * 60_000;

  const simulator = await startSimulatorProcess(rpm, tpm);
  // Storage and Cosmos DB in processes of their own, as they are separate services in Azure.
  const stack = await startLocalStackProcesses();
  const pipeline = await createPipeline(stack, {
    PHI3_ENDPOINT: simulator.url,
    PHI3_API_KEY: KEY,
    PHI3_MODEL: MODEL,
    PHI3_RPM_LIMIT: String(rpm),
    PHI3_TPM_LIMIT: String(tpm),
    PHI3_DEPLOYMENT: 'bench-e2e',
    COSMOS_DATABASE: 'benche2e',
    SWEEPER_SCHEDULE: '0 0 0 1 1 *',
    // Sized for this deployment, as the README advises: each of the two instances keeps about 170
    // requests a second under way, each for a few hundred ms (write-ahead, budget, answer).
    PHI3_MAX_CONCURRENCY: '128',
  });
  const workers = Array.from({ length: WORKERS }, () =>
    startWorkerProcess({ ...pipeline.settings, LOCAL_HOST_BLOB_POLL_MS: '100' }),
  );
  await Promise.all(workers.map((w) => w.ready));

  const text = lines
    .map((body, i) => JSON.stringify({ custom_id: `e2e-${i}`, method: 'POST', url: '/v1/chat/completions', body }))
    .join('\n');
  const started = Date.now();
  const jobId = await pipeline.submit('bench-e2e.jsonl', `${text}\n`);
  // Polled as a user would (every second) until the last two seconds' lines, then closely, to see the end.
  const job = await pipeline.waitForJob(jobId, 1_000, { lines: Math.ceil(rpm / 30), pollInMs: 50 });
  const elapsedInMs = Date.now() - started;
  const calls = await simulator.log();
  // For analysis: the endpoint's view of every call (arrival time, status), one JSON line each.
  const callLogFile = process.env['BENCH_E2E_CALL_LOG'];
  if (callLogFile !== undefined) writeFileSync(callLogFile, calls.map((c) => JSON.stringify(c)).join('\n'));
  await stopWorkerProcesses(workers);
  pipeline.close();
  simulator.stop();
  await stack.close();

  process.stdout.write(
    `${table(
      [
        'lines',
        'limits',
        'admitted tokens',
        'theoretical minimum',
        'measured (upload to completed)',
        'ratio',
        'status',
        'succeeded / failed',
      ],
      [
        [
          LINES.toLocaleString('en-US'),
          `${rpm} RPM, ${tpm} TPM`,
          admittedTokens.toLocaleString('en-US'),
          `${(minimumInMs / 1000).toFixed(1)} s`,
          `${(elapsedInMs / 1000).toFixed(1)} s`,
          (elapsedInMs / minimumInMs).toFixed(3),
          job.status,
          `${job.counts.succeeded} / ${job.counts.failed}`,
        ],
      ],
    )}\n`,
  );
  // Where the time went: before the first call, the calls, after the last call (outcomes, finalisation).
  const firstCall = Math.min(...calls.map((c) => c.atInMs));
  const lastCall = Math.max(...calls.map((c) => c.atInMs));
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  process.stdout.write(
    `${table(
      [
        'upload to job created',
        'upload to first call',
        'first to last call',
        'last call to completed',
        'calls',
        '429s',
        'finalising',
      ],
      [
        [
          seconds(job.createdAtInMs - started),
          seconds(firstCall - started),
          seconds(lastCall - firstCall),
          seconds(started + elapsedInMs - lastCall),
          String(calls.length),
          String(calls.filter((c) => c.status === 429).length),
          seconds((job.timestamps.completedAt ?? 0) - (job.timestamps.finalizingAt ?? 0)),
        ],
      ],
    )}\n`,
  );
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
