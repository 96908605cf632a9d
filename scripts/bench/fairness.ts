/**
 * npm run bench:fairness: several jobs on one deployment through the whole pipeline against the
 * simulator, with limits scaled so that a 500-line job alone takes about a minute (decision 0012):
 *   1. a 500-line `high` job alone, then again while a 100,000-line `low` job runs at full budget;
 *   2. two equal `normal` jobs started together (Jain's index and the gap between their shares);
 *   3. the binding limit's use in every 10 s window while the low job runs, and the low job's progress
 *      per 10 s and per minute (at 1/33 of 500 RPM it finishes one 8-line message about every 30 s);
 *   4. a job whose completion window (90 s, `MIN_COMPLETION_WINDOW_MS` lowered for it) needs more than an
 *      equal share, next to a `normal` job: its last line must finish inside the window.
 * The low job and the competitor are cancelled at the end. Prints the windows under 95% with what was
 * running, then the figures as a table.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { CosmosFairShareStore } from '../../src/adapters/cosmos/CosmosFairShareStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { AzureMessageQueue } from '../../src/adapters/storage/AzureMessageQueue.js';
import { AzureQueueDepth } from '../../src/adapters/storage/AzureBlobBacklogs.js';
import { cancelJob } from '../../src/app/cancelJob.js';
import { loadConfig } from '../../src/config.js';
import type { Job } from '../../src/core/job.js';
import { jobIdFor } from '../../src/core/jobId.js';
import { startLocalStackProcesses } from '../../dev/local/stack/index.js';
import { createPipeline, repoFile, startWorkerProcess, stopWorkerProcesses, table } from './benchSupport.js';

const RPM = Number(process.env['BENCH_FAIRNESS_RPM'] ?? 500);
const LOW_LINES = Number(process.env['BENCH_FAIRNESS_LOW_LINES'] ?? 100_000);
/** `BENCH_FAIRNESS_ONLY=1` or `=4` runs only that scenario beside the low job and prints its figures as it goes. */
const ONLY = process.env['BENCH_FAIRNESS_ONLY'];
/** `BENCH_FAIRNESS_TRACE=1` prints, every 2 s of scenarios 1 and 4, what each job has been fed and the work queue's depth. */
const TRACE = process.env['BENCH_FAIRNESS_TRACE'] === '1';
const HIGH_LINES = 500;
const NORMAL_LINES = 400;
const WINDOW_LINES = 400;
const WINDOW = '90s';
const WORKERS = 2;
const MAX_TOKENS = 20;
const MODEL = 'Phi-3-mini-4k-instruct';
const KEY = 'bench-fair-simulator-key-0000000';
const WINDOW_IN_MS = 10_000;
/** The low job's progress is also counted per minute (the span its share is measured over): at 1/33 of the budget it finishes one 8-line message about every 30 s. */
const MINUTE_IN_MS = 60_000;

interface Call {
  readonly atInMs: number;
  readonly status: number;
}

async function startSimulatorProcess(): Promise<{ url: string; log: () => Promise<Call[]>; stop: () => void }> {
  const child = spawn(process.execPath, [repoFile('dist/dev/simulator/main.js')], {
    env: {
      PATH: process.env['PATH'] ?? '',
      SIMULATOR_PORT: '0',
      SIMULATOR_API_KEY: KEY,
      SIMULATOR_MODEL: MODEL,
      SIMULATOR_RPM: String(RPM),
      SIMULATOR_TPM: '10000000',
      SIMULATOR_LATENCY_MS: '200',
      SIMULATOR_LATENCY_PER_TOKEN_MS: '10',
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
  const log = async (): Promise<Call[]> => {
    const response = await fetch(`${url}/_simulator/log`, { headers: { authorization: `Bearer ${KEY}` } });
    return (await response.json()) as Call[];
  };
  return { url, log, stop: () => child.kill('SIGTERM') };
}

const fileOf = (prefix: string, lines: number): string =>
  Array.from({ length: lines }, (_, i) =>
    JSON.stringify({
      custom_id: `${prefix}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        messages: [{ role: 'user', content: `${prefix} ${i}: one word about the sea.` }],
        max_tokens: MAX_TOKENS,
      },
    }),
  ).join('\n') + '\n';

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;

async function main(): Promise<void> {
  const simulator = await startSimulatorProcess();
  const stack = await startLocalStackProcesses();
  const pipeline = await createPipeline(stack, {
    PHI3_ENDPOINT: simulator.url,
    PHI3_API_KEY: KEY,
    PHI3_MODEL: MODEL,
    PHI3_RPM_LIMIT: String(RPM),
    PHI3_TPM_LIMIT: '10000000',
    PHI3_DEPLOYMENT: 'bench-fair',
    COSMOS_DATABASE: 'benchfair',
    SWEEPER_SCHEDULE: '0 0 0 1 1 *',
    // Small messages: the work queue's lead (a few messages) is then a few seconds of the budget.
    QUEUE_MESSAGE_MAX_REQUESTS: '8',
    MIN_COMPLETION_WINDOW_MS: '1000',
  });
  const workers = Array.from({ length: WORKERS }, () =>
    startWorkerProcess({ ...pipeline.settings, LOCAL_HOST_BLOB_POLL_MS: '100' }),
  );
  await Promise.all(workers.map((w) => w.ready));
  const config = loadConfig(pipeline.settings);
  const cosmos = createCosmosClient(config.cosmos);
  const containers = await ensureCosmosContainers(cosmos, config.cosmos);
  const cancelDeps = {
    jobs: pipeline.jobs,
    controlQueue: new AzureMessageQueue(
      QueueServiceClient.fromConnectionString(pipeline.settings['AzureWebJobsStorage']!).getQueueClient(
        config.controlQueue,
      ),
    ),
    clock: { nowInMs: () => Date.now() },
    fairShare: new CosmosFairShareStore(containers.budget),
  };
  const workDepth = new AzureQueueDepth(
    QueueServiceClient.fromConnectionString(pipeline.settings['AzureWebJobsStorage']!).getQueueClient(
      config.requestQueue,
    ),
  );
  const input = BlobServiceClient.fromConnectionString(pipeline.settings['AzureWebJobsStorage']!).getContainerClient(
    config.inputContainer,
  );
  const submit = async (name: string, text: string, metadata: Record<string, string>) => {
    const result = await input.getBlockBlobClient(name).upload(text, Buffer.byteLength(text), { metadata });
    return { jobId: jobIdFor(config.inputContainer, name, result.etag!), at: Date.now() };
  };
  const done = (jobId: string) => pipeline.waitForJob(jobId, 500, { lines: 20, pollInMs: 50 });
  const progress = (message: string) => process.stderr.write(`  ${message}\n`);

  const shutDown = async (): Promise<void> => {
    await stopWorkerProcesses(workers);
    pipeline.close();
    cosmos.dispose();
    simulator.stop();
    await stack.close();
  };
  const started = async (label: string, jobId: string, from?: number) =>
    progress(`${label}'s lines started per 10 s: ${(await startsPerWindow(pipeline.jobs, jobId, from)).join(' ')}`);

  // 1. The high job alone, then while the low job runs.
  const highAlone = async () => {
    const alone = await submit('high-alone.jsonl', fileOf('ha', HIGH_LINES), { priority: 'high' });
    const aloneJob = await done(alone.jobId);
    const inMs = (aloneJob.timestamps.completedAt ?? Date.now()) - alone.at;
    progress(
      `high job alone: ${seconds(inMs)}, first call after ${seconds((await firstCallAt(pipeline.jobs, alone.jobId)) - alone.at)}`,
    );
    await started('high job alone', alone.jobId);
    return inMs;
  };
  const highBeside = async (lowId: string) => {
    const withLow = await submit('high-with-low.jsonl', fileOf('hb', HIGH_LINES), { priority: 'high' });
    phases.push({ name: 'high beside low', atInMs: withLow.at });
    const trace = TRACE
      ? traceFeeds(cancelDeps.fairShare, workDepth, { high: withLow.jobId, low: lowId }, withLow.at)
      : undefined;
    const withLowJob = await done(withLow.jobId);
    trace?.stop();
    phases.push({ name: 'low alone', atInMs: Date.now() });
    const inMs = (withLowJob.timestamps.completedAt ?? Date.now()) - withLow.at;
    const firstCall = await firstCallAt(pipeline.jobs, withLow.jobId);
    progress(`high job beside the low one: ${seconds(inMs)}, first call after ${seconds(firstCall - withLow.at)}`);
    await started('high job beside', withLow.jobId);
    await started('low job meanwhile', lowId, firstCall);
    return inMs;
  };
  // 4. A window that an equal share cannot meet, next to a normal job.
  const windowBesideCompetitor = async (lowId: string) => {
    const competitor = await submit('competitor.jsonl', fileOf('x', 5_000), { priority: 'normal' });
    const windowed = await submit('window.jsonl', fileOf('w', WINDOW_LINES), {
      priority: 'normal',
      completionwindow: WINDOW,
    });
    phases.push({ name: 'window + competitor + low', atInMs: competitor.at });
    const jobs = { window: windowed.jobId, competitor: competitor.jobId, low: lowId };
    const trace = TRACE ? traceFeeds(cancelDeps.fairShare, workDepth, jobs, windowed.at) : undefined;
    const job = await done(windowed.jobId);
    trace?.stop();
    const endsInMs = (job.batchRequest?.expiresAtInMs ?? Infinity) - windowed.at;
    const lastLineInMs = Math.max(...(await finishTimes(pipeline.jobs, windowed.jobId))) - windowed.at;
    progress(
      `window job: ${job.status}, last line ${seconds(lastLineInMs)} after the drop, window ends ${seconds(endsInMs)} after it`,
    );
    for (const [name, id] of Object.entries(jobs)) await started(`${name} job`, id, windowed.at);
    return { job, competitorId: competitor.jobId, endsInMs, lastLineInMs };
  };

  // Scenario 4 alone does not need it.
  const aloneInMs = ONLY === '4' ? Number.NaN : await highAlone();
  const low = await submit('low.jsonl', fileOf('low', LOW_LINES), { priority: 'low' });
  // The low job at full budget, its file read: the high job is measured beside the low job's work, not
  // beside its ingest, which shares the machine's two cores with everything else.
  await waitForSucceeded(pipeline.jobs, low.jobId, RPM / 6);
  await waitForIngest(pipeline.jobs, low.jobId);
  progress('low job read and running');
  const phases: Phase[] = [{ name: 'low alone', atInMs: low.at }];
  if (ONLY !== undefined) {
    if (ONLY === '1') progress(`ratio ${((await highBeside(low.jobId)) / aloneInMs).toFixed(3)}`);
    else await windowBesideCompetitor(low.jobId);
    await cancelJob(cancelDeps, low.jobId);
    await shutDown();
    process.exit(0);
  }
  const withLowInMs = await highBeside(low.jobId);

  // 2. Two equal normal jobs started together.
  const [n1, n2] = await Promise.all([
    submit('normal-1.jsonl', fileOf('n1', NORMAL_LINES), { priority: 'normal' }),
    submit('normal-2.jsonl', fileOf('n2', NORMAL_LINES), { priority: 'normal' }),
  ]);
  phases.push({ name: 'two normal + low', atInMs: n1.at });
  await Promise.all([done(n1.jobId), done(n2.jobId)]);
  phases.push({ name: 'low alone', atInMs: Date.now() });
  progress('two normal jobs done');

  const {
    job: windowJob,
    competitorId,
    endsInMs: windowEndsInMs,
    lastLineInMs: windowLastLineInMs,
  } = await windowBesideCompetitor(low.jobId);
  const endOfRun = Date.now();

  const cancelStarted = Date.now();
  await cancelJob(cancelDeps, competitorId);
  await cancelJob(cancelDeps, low.jobId);
  const lowFinal = await Promise.race([done(low.jobId), delay(180_000).then(() => undefined)]);
  const cancelInMs = Date.now() - cancelStarted;

  const calls = await simulator.log();
  const report = await figures(pipeline.jobs, {
    calls,
    lowId: low.jobId,
    lowFrom: low.at,
    until: endOfRun,
    normals: [n1.jobId, n2.jobId],
  });
  for (const w of report.windows.filter((x) => x.use < 0.95))
    progress(
      `window +${seconds(w.atInMs - low.at)} (${phaseAt(phases, w.atInMs)}): ${percent(w.use)} of the binding limit`,
    );
  process.stdout.write(
    `${table(
      ['scenario', 'figure', 'target', 'result'],
      [
        ['1. high job alone (500 lines)', seconds(aloneInMs), '~60 s', ''],
        ['1. high job beside the 100k low job', seconds(withLowInMs), '', ''],
        ['1. ratio', (withLowInMs / aloneInMs).toFixed(3), '<= 1.1', pass(withLowInMs / aloneInMs <= 1.1)],
        ['2. Jain index, two normal jobs', report.jain.toFixed(4), '>= 0.99', pass(report.jain >= 0.99)],
        ['2. share gap', percent(report.gap), '<= 5%', pass(report.gap <= 0.05)],
        ['3. binding limit used (min 10 s window)', percent(report.minUse), '>= 95%', pass(report.minUse >= 0.95)],
        ['3. binding limit used (mean)', percent(report.meanUse), '', ''],
        ['3. low job lines (min per 10 s window)', String(report.minLowPerWindow), '', ''],
        [
          '3. low job lines (min per minute, sliding by 10 s)',
          String(report.minLowPerMinute),
          '> 0',
          pass(report.minLowPerMinute > 0),
        ],
        [
          `4. window job (${WINDOW_LINES} lines, ${WINDOW})`,
          `last line at ${seconds(windowLastLineInMs)} of ${seconds(windowEndsInMs)}, ${windowJob.status}`,
          'completed in its window',
          pass(
            windowJob.status === 'completed' && windowJob.counts.failed === 0 && windowLastLineInMs <= windowEndsInMs,
          ),
        ],
        [
          'cancel of the low job (unfed lines -> outcomes)',
          lowFinal === undefined ? 'not within 180 s' : seconds(cancelInMs),
          '',
          lowFinal?.status ?? '',
        ],
        ['429s from the endpoint', String(calls.filter((c) => c.status === 429).length), '', ''],
      ],
    )}\n`,
  );
  await shutDown();
  process.exit(0);
}

interface Phase {
  readonly name: string;
  readonly atInMs: number;
}

/** Prints each job's fed messages of all, the pending feeds and the work queue's depth, every 2 s until stopped. */
function traceFeeds(
  store: CosmosFairShareStore,
  depth: AzureQueueDepth,
  jobs: Record<string, string>,
  fromInMs: number,
) {
  const timer = setInterval(() => {
    void Promise.all([store.read('bench-fair'), depth.approximateCount()]).then(([state, outstanding]) => {
      const fed = Object.entries(jobs).map(([name, id]) => {
        const job = state.jobs[id];
        return job === undefined ? `${name} -` : `${name} ${job.fedMessages}/${job.ingestMessages + job.extraMessages}`;
      });
      const pending = state.pendingFeeds.reduce((sum, f) => sum + f.messages, 0);
      process.stderr.write(
        `  +${seconds(Date.now() - fromInMs)} fed ${fed.join(', ')}, pending ${pending}, work queue ${outstanding}\n`,
      );
    });
  }, 2_000);
  return { stop: () => clearInterval(timer) };
}

/** What was running at a time of the run. */
const phaseAt = (phases: readonly Phase[], atInMs: number): string =>
  phases.filter((p) => p.atInMs <= atInMs).pop()?.name ?? 'start';

const pass = (ok: boolean): string => (ok ? 'pass' : 'FAIL');
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForSucceeded(
  jobs: { getJob(id: string): Promise<{ job: Job } | undefined> },
  id: string,
  n: number,
) {
  for (;;) {
    const stored = await jobs.getJob(id);
    if (stored !== undefined && stored.job.counts.succeeded >= n) return;
    await delay(250);
  }
}

async function waitForIngest(jobs: { getJob(id: string): Promise<{ job: Job } | undefined> }, id: string) {
  for (;;) {
    const stored = await jobs.getJob(id);
    if (stored?.job.ingest.done === true) return;
    await delay(1_000);
  }
}

type Jobs = Awaited<ReturnType<typeof createPipeline>>['jobs'];

async function finishTimes(jobs: Jobs, jobId: string): Promise<number[]> {
  const times: number[] = [];
  for await (const outcome of jobs.listOutcomes(jobId)) times.push(outcome.finishedAtInMs);
  return times.sort((a, b) => a - b);
}

/** How many of the job's lines had their call leave in each 10 s from `from` (its first call by default). */
async function startsPerWindow(jobs: Jobs, jobId: string, from?: number): Promise<number[]> {
  const starts: number[] = [];
  for await (const outcome of jobs.listOutcomes(jobId))
    if (outcome.startedAtInMs !== null && outcome.startedAtInMs >= (from ?? -Infinity))
      starts.push(outcome.startedAtInMs);
  const first = from ?? Math.min(...starts);
  const counts: number[] = [];
  for (const at of starts) {
    const index = Math.floor((at - first) / WINDOW_IN_MS);
    counts[index] = (counts[index] ?? 0) + 1;
  }
  return Array.from(counts, (n) => n ?? 0);
}

/** When the job's first line's call left. */
async function firstCallAt(jobs: Jobs, jobId: string): Promise<number> {
  let first = Infinity;
  for await (const outcome of jobs.listOutcomes(jobId)) first = Math.min(first, outcome.startedAtInMs ?? Infinity);
  return first;
}

/** The figures of scenarios 2 and 3, from the lines' finish times and the endpoint's log. */
async function figures(
  jobs: Jobs,
  run: { calls: readonly Call[]; lowId: string; lowFrom: number; until: number; normals: readonly string[] },
): Promise<{
  jain: number;
  gap: number;
  minUse: number;
  meanUse: number;
  minLowPerWindow: number;
  minLowPerMinute: number;
  windows: Array<{ atInMs: number; use: number }>;
}> {
  const [a, b] = await Promise.all(run.normals.map((id) => finishTimes(jobs, id)));
  // Their common life: from the later first line to the earlier last line.
  const from = Math.max(a![0]!, b![0]!);
  const to = Math.min(a![a!.length - 1]!, b![b!.length - 1]!);
  const x = a!.filter((t) => t >= from && t <= to).length;
  const y = b!.filter((t) => t >= from && t <= to).length;
  const jain = (x + y) ** 2 / (2 * (x * x + y * y));
  const gap = Math.abs(x - y) / Math.max(x, y);
  // Whole 10 s windows from the low job's first call to the end of scenario 4.
  const low = await finishTimes(jobs, run.lowId);
  const start = (low[0] ?? run.lowFrom) + WINDOW_IN_MS;
  const uses: number[] = [];
  const lowCounts: number[] = [];
  const lowPerMinute: number[] = [];
  const windows: Array<{ atInMs: number; use: number }> = [];
  const finishedWithin = (from: number, span: number) => low.filter((f) => f >= from && f < from + span).length;
  for (let t = start; t + WINDOW_IN_MS <= run.until; t += WINDOW_IN_MS) {
    const ok = run.calls.filter((c) => c.status === 200 && c.atInMs >= t && c.atInMs < t + WINDOW_IN_MS).length;
    uses.push(ok / ((RPM * WINDOW_IN_MS) / 60_000));
    windows.push({ atInMs: t, use: uses[uses.length - 1]! });
    lowCounts.push(finishedWithin(t, WINDOW_IN_MS));
    if (t + MINUTE_IN_MS <= run.until) lowPerMinute.push(finishedWithin(t, MINUTE_IN_MS));
  }
  return {
    jain,
    gap,
    minUse: Math.min(...uses),
    meanUse: uses.reduce((s, u) => s + u, 0) / Math.max(1, uses.length),
    minLowPerWindow: Math.min(...lowCounts),
    minLowPerMinute: Math.min(...lowPerMinute),
    windows,
  };
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
