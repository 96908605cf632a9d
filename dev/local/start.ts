import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { BatchApiClient } from '../../cli/apiClient.js';
import { formatJobSummary, watchJob } from '../../cli/progress.js';
import { containerUploader, uploadBatchFile } from '../../cli/uploadBatchFile.js';
import { closeServices } from '../../src/compositionRoot.js';
import { loadConfig, withSettingDefaults } from '../../src/config.js';
import { ConfigError, ensureError } from '../../src/core/errors.js';
import { startPhi3Simulator, type Phi3Simulator } from '../simulator/index.js';
import { createJsonLinesLogger, createLocalFunctionsHost, LogLevel, type LocalFunctionsHost } from './host/index.js';
import { localStackDataPaths, startLocalStack, type LocalStack } from './stack/index.js';
import { cliHints } from './cliHints.js';
import { createShutdownController } from './shutdownController.js';

/** Ports of the embedded stack; each can be moved with its environment variable. */
const PORT_SETTINGS = {
  LOCAL_BLOB_PORT: 10000,
  LOCAL_QUEUE_PORT: 10001,
  LOCAL_COSMOS_PORT: 8081,
  LOCAL_SIMULATOR_PORT: 8000,
  LOCAL_FUNCTIONS_PORT: 7071,
} as const;

const here = fileURLToPath(import.meta.url);

/** The repository: the nearest folder above this file with a package.json (this file runs compiled or from source). */
function findRepoRoot(): string {
  for (let directory = dirname(here); ; directory = dirname(directory)) {
    if (existsSync(join(directory, 'package.json'))) return directory;
    if (dirname(directory) === directory) throw new Error(`No package.json above ${here}.`);
  }
}

const repoRoot = findRepoRoot();
const repoFile = (path: string): string => join(repoRoot, path);
/** The app's entry: compiled when this runs compiled, the TypeScript source when it runs from source. */
const appEntry = extname(here) === '.ts' ? repoFile('src/index.ts') : repoFile('dist/src/index.js');

function readPort(name: keyof typeof PORT_SETTINGS): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return PORT_SETTINGS[name];
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError(name, 'a TCP port from 0 (any free port) to 65535', raw);
  return port;
}

function readMilliseconds(name: string, fallback: number | undefined): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new ConfigError(name, 'a whole number of milliseconds, 0 or more', raw);
  return value;
}

/** What local mode writes into its data directory: `--fresh` deletes a directory holding nothing else. */
const DATA_ENTRIES = new Set(['storage', 'cosmos', 'functions.log', 'cosmos-ca.pem']);

async function deleteDataDirectory(dataDirectory: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dataDirectory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const foreign = entries.filter((entry) => !DATA_ENTRIES.has(entry));
  if (foreign.length > 0) {
    const expected = `a directory holding only local-mode data for --fresh to delete (it also holds ${foreign.slice(0, 3).join(', ')})`;
    throw new ConfigError('LOCAL_DATA_DIR', expected, dataDirectory);
  }
  await rm(dataDirectory, { recursive: true, force: true });
}

/** `npm start -- --fresh`: start with no data. Anything else is refused, naming what is accepted. */
function readArguments(args: readonly string[]): { readonly fresh: boolean } {
  const unknown = args.filter((arg) => arg !== '--fresh');
  if (unknown.length > 0) throw new ConfigError('arguments', '--fresh or nothing', unknown.join(' '));
  return { fresh: args.includes('--fresh') };
}

interface Running {
  stack?: LocalStack;
  simulator?: Phi3Simulator;
  host?: LocalFunctionsHost;
}

/** How long stopping waits for the app's clients to close once the host has stopped. */
const CLOSE_CLIENTS_GRACE_IN_MS = 2_000;

/** Resolves when `work` settles or after `ms`, whichever is first; never rejects (the process is about to exit). */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

async function stopAll(running: Running, stopTimeoutInMs: number): Promise<void> {
  // The host's drain is bounded by LOCAL_STOP_TIMEOUT_MS: invocations still running then are abandoned (their
  // messages come back after their lease). Its appTerminate hook and the app's clients then close, and closing
  // them waits for an abandoned invocation's call: that gets a short grace, not the call's own timeout.
  if (running.host !== undefined) await settleWithin(running.host.stop(), stopTimeoutInMs + CLOSE_CLIENTS_GRACE_IN_MS);
  await settleWithin(closeServices(), CLOSE_CLIENTS_GRACE_IN_MS);
  await running.simulator?.close();
  await running.stack?.close();
}

/**
 * `npm start`: the whole pipeline on this machine. Azurite, the Cosmos stand-in (unless COSMOS_ENDPOINT points
 * elsewhere, e.g. at the Cosmos DB emulator), the Phi-3 simulator (unless PHI3_ENDPOINT points elsewhere) and the
 * local Functions host running the app's own registrations; then the example file goes through it with a
 * progress bar, and everything keeps serving. Blob, Queue and Cosmos data are kept in LOCAL_DATA_DIR (default
 * `.local/`), so stopping and starting again loses nothing; `--fresh` deletes it first.
 * Ctrl-C (or SIGTERM) drains: no new queue message or blob is taken, calls under way get up to
 * LOCAL_STOP_TIMEOUT_MS (default 30 s) to finish, then it exits; a second Ctrl-C exits at once.
 */
async function main(): Promise<void> {
  const { fresh } = readArguments(process.argv.slice(2));
  const ports = Object.fromEntries(
    Object.keys(PORT_SETTINGS).map((name) => [name, readPort(name as keyof typeof PORT_SETTINGS)]),
  );
  const exampleFile = process.env['LOCAL_EXAMPLE_FILE'] ?? repoFile('examples/prompts.jsonl');
  const dataDirectory = resolve(repoRoot, process.env['LOCAL_DATA_DIR'] || '.local');
  const stopTimeoutInMs = readMilliseconds('LOCAL_STOP_TIMEOUT_MS', 30_000) ?? 30_000;
  // How long a received message stays hidden (renewed at half-time while it runs). Azure's host uses 10 minutes,
  // which is also how long a job interrupted by a crash or kill -9 would sit idle here before resuming.
  const queueLeaseInMs = readMilliseconds('LOCAL_HOST_QUEUE_LEASE_MS', 30_000);
  const running: Running = {};
  const out = process.stdout;
  const shutdown = createShutdownController({
    stop: () => stopAll(running, stopTimeoutInMs),
    exit: (code) => process.exit(code),
    report: (message) => out.write(`\n${message}\n`),
    stopTimeoutInMs,
  });
  process.on('SIGINT', () => shutdown.signal('SIGINT'));
  process.on('SIGTERM', () => shutdown.signal('SIGTERM'));

  if (fresh) await deleteDataDirectory(dataDirectory);
  await mkdir(dataDirectory, { recursive: true });
  const useStandIn = process.env['COSMOS_ENDPOINT'] === undefined || process.env['COSMOS_ENDPOINT'].trim() === '';
  running.stack = await startLocalStack({
    azurite: { blobPort: ports['LOCAL_BLOB_PORT']!, queuePort: ports['LOCAL_QUEUE_PORT']! },
    cosmos: useStandIn
      ? { port: ports['LOCAL_COSMOS_PORT']!, caCertPath: join(dataDirectory, 'cosmos-ca.pem') }
      : false,
    dataDirectory,
  });
  Object.assign(process.env, running.stack.settings);
  if (process.env['PHI3_ENDPOINT'] === undefined || process.env['PHI3_ENDPOINT'].trim() === '') {
    running.simulator = await startPhi3Simulator({ port: ports['LOCAL_SIMULATOR_PORT']! });
    process.env['PHI3_ENDPOINT'] = running.simulator.url;
    process.env['PHI3_API_KEY'] = running.simulator.apiKey;
    process.env['PHI3_MODEL'] ??= running.simulator.model;
  }
  Object.assign(process.env, withSettingDefaults(process.env));
  const config = loadConfig(process.env);

  const logFile = join(dataDirectory, 'functions.log');
  running.host = createLocalFunctionsHost({
    entryModules: [appEntry],
    hostJsonPath: repoFile('host.json'),
    httpPort: ports['LOCAL_FUNCTIONS_PORT']!,
    functionKey: process.env['LOCAL_FUNCTION_KEY'] || undefined,
    stopTimeoutInMs,
    queueLeaseInMs,
    logger: createJsonLinesLogger(createWriteStream(logFile, { flags: 'a' }), { minLevel: LogLevel.information }),
  });
  await running.host.start();

  const apiUrl = `${running.host.httpUrl}/api`;
  const paths = localStackDataPaths(dataDirectory);
  out.write(
    [
      'phi3-batch local stack is up:',
      `  Blob storage   ${running.stack.azurite.blobEndpoint}  (container "${config.inputContainer}" takes .jsonl files)`,
      `  Queue storage  ${running.stack.azurite.queueEndpoint}`,
      `  Cosmos DB      ${running.stack.cosmos?.endpoint ?? `${config.cosmos.endpoint} (COSMOS_ENDPOINT)`}`,
      ...config.phi3.deployments.map(
        (d) =>
          `  Phi-3 endpoint ${d.endpoint}${running.simulator === undefined ? '' : ' (simulator)'}  ${d.model}, ${d.requestsPerMinute} RPM / ${d.tokensPerMinute} TPM`,
      ),
      `  Functions      ${apiUrl}  (${running.host.functions.map((f) => f.name).join(', ')})`,
      `  Logs           ${logFile}`,
      `  Data kept in   ${dataDirectory}  (Blob/Queue: ${paths.storage}${useStandIn ? `, Cosmos: ${paths.cosmosJournal}` : ''})`,
      fresh
        ? '                 started empty (--fresh)'
        : '                 kept across restarts; `npm start -- --fresh` starts empty',
      '',
    ].join('\n'),
  );

  if (process.env['LOCAL_RUN_EXAMPLE'] !== 'false') {
    const blobService = BlobServiceClient.fromConnectionString(running.stack.settings['AzureWebJobsStorage']!);
    const container = blobService.getContainerClient(config.inputContainer);
    await container.createIfNotExists();
    const uploaded = await uploadBatchFile({
      filePath: exampleFile,
      blobName: `example-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`,
      uploader: containerUploader(container),
    });
    out.write(`Submitted ${exampleFile} as ${uploaded.container}/${uploaded.blobName}: job ${uploaded.jobId}\n`);
    const api = new BatchApiClient({ baseUrl: apiUrl, functionKey: process.env['LOCAL_FUNCTION_KEY'] || undefined });
    const startedAt = Date.now();
    const job = await watchJob({ fetchJob: () => api.getJob(uploaded.jobId), stream: out });
    out.write(`\n${formatJobSummary(job)}\n`);
    out.write(`Finished in ${((Date.now() - startedAt) / 1000).toFixed(1)} s.\n`);
  }

  out.write(
    [
      '',
      'Still serving. Try:',
      ...cliHints({
        storageConnectionString: running.stack.settings['AzureWebJobsStorage']!,
        defaultStoragePorts: ports['LOCAL_BLOB_PORT'] === 10000 && ports['LOCAL_QUEUE_PORT'] === 10001,
        apiUrl,
        functionKeyRequired: Boolean(process.env['LOCAL_FUNCTION_KEY']),
      }),
      `  curl ${apiUrl}/jobs                      # list jobs`,
      `  curl ${apiUrl}/jobs/<jobId>              # one job's status`,
      `  curl ${apiUrl}/jobs/<jobId>/results      # its output lines (JSONL)`,
      `Ctrl-C stops taking new work, lets calls under way finish (up to ${stopTimeoutInMs / 1000} s), then exits;` +
        ' twice exits at once.',
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  const e = ensureError(error);
  process.stderr.write(
    e instanceof ConfigError ? `Configuration error: ${e.message}\n` : `Start-up failed: ${e.stack ?? e.message}\n`,
  );
  process.exit(1);
});
