import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import type { Job } from '../../src/core/job.js';
import { jobIdFor } from '../../src/core/jobId.js';
import type { LocalStack } from '../../dev/local/stack/index.js';

export const repoFile = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;
}

/** One local Functions host running the compiled app in its own process: one "function instance". */
export function startWorkerProcess(env: Record<string, string>): WorkerProcess {
  // e.g. BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the workers.
  const nodeArgs = (process.env['BENCH_WORKER_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, repoFile('dist/dev/local/host/hostProcess.js')], {
    env: {
      PATH: process.env['PATH'] ?? '',
      LOCAL_HOST_HTTP_PORT: 'off',
      LOCAL_HOST_LOG_LEVEL: 'warning',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logFile = process.env['BENCH_WORKER_LOG'];
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (logFile !== undefined && !line.includes('"event":"invocation"'))
        appendFileSync(logFile, `${child.pid} ${line}\n`);
      if (line.includes('"event":"ready"')) resolve();
      if (line.includes('"event":"error"')) reject(new Error(`worker failed: ${line}\n${stderr}`));
    });
    void exited.then((code) => reject(new Error(`worker exited (${code}) before it was ready\n${stderr}`)));
  });
  return { child, ready, exited };
}

export async function stopWorkerProcesses(workers: readonly WorkerProcess[]): Promise<void> {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGTERM');
  await Promise.all(
    workers.map((w) =>
      Promise.race([w.exited, new Promise((resolve) => setTimeout(resolve, 20_000).unref())]).then(() => {
        if (w.child.exitCode === null) w.child.kill('SIGKILL');
      }),
    ),
  );
}

export interface Pipeline {
  readonly settings: Record<string, string>;
  readonly jobs: CosmosJobStore;
  /** Uploads a file as a new job, with blob metadata such as `priority`; resolves with the job's id. */
  submit(name: string, text: string, metadata?: Record<string, string>): Promise<string>;
  /**
   * Resolves with the job once it is final. Polls every `pollInMs`, or every `nearEnd.pollInMs` once at
   * most `nearEnd.lines` of its requests are left: a benchmark sees the end exactly without its polling
   * taking CPU from the pipeline it measures all the way through.
   */
  waitForJob(jobId: string, pollInMs?: number, nearEnd?: { lines: number; pollInMs: number }): Promise<Job>;
  close(): void;
}

/** The app's settings for a run against `stack`, plus helpers to submit a file and watch its job. */
export async function createPipeline(
  stack: Pick<LocalStack, 'settings'>,
  overrides: Record<string, string>,
): Promise<Pipeline> {
  // The host resolves %SETTING% binding expressions from app settings alone: give it every default.
  const settings = Object.fromEntries(
    Object.entries(withSettingDefaults({ ...stack.settings, ...overrides })).filter(
      (e): e is [string, string] => e[1] !== undefined,
    ),
  );
  const config = loadConfig(settings);
  const cosmos = createCosmosClient(config.cosmos);
  const containers = await ensureCosmosContainers(cosmos, config.cosmos);
  const jobs = new CosmosJobStore(containers.jobs, containers.lines);
  const input = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!).getContainerClient(
    config.inputContainer,
  );
  await input.createIfNotExists();
  return {
    settings,
    jobs,
    async submit(name, text, metadata) {
      const result = await input
        .getBlockBlobClient(name)
        .upload(text, Buffer.byteLength(text), metadata === undefined ? {} : { metadata });
      return jobIdFor(config.inputContainer, name, result.etag!);
    },
    async waitForJob(jobId, pollInMs = 250, nearEnd) {
      let lastReport = Date.now();
      for (;;) {
        const stored = await jobs.getJob(jobId);
        if (stored !== undefined && ['completed', 'failed', 'cancelled'].includes(stored.job.status)) return stored.job;
        if (stored !== undefined && Date.now() - lastReport > 10_000 && process.env['BENCH_PROGRESS'] !== undefined) {
          lastReport = Date.now();
          process.stderr.write(
            `  ${stored.job.status}: ${stored.job.counts.succeeded + stored.job.counts.failed} of ${stored.job.ingest.requests} done\n`,
          );
        }
        const left =
          stored === undefined || !stored.job.ingest.done
            ? Infinity
            : stored.job.ingest.requests - stored.job.counts.succeeded - stored.job.counts.failed;
        await new Promise((resolve) =>
          setTimeout(resolve, nearEnd !== undefined && left <= nearEnd.lines ? nearEnd.pollInMs : pollInMs),
        );
      }
    },
    close: () => cosmos.dispose(),
  };
}

export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
