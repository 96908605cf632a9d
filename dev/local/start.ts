import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
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
import { startLocalStack, type LocalStack } from './stack/index.js';
import { cliHints } from './cliHints.js';

/** Ports of the embedded stack; each can be moved with its environment variable. */
const PORT_SETTINGS = {
  LOCAL_BLOB_PORT: 10000,
  LOCAL_QUEUE_PORT: 10001,
  LOCAL_COSMOS_PORT: 8081,
  LOCAL_SIMULATOR_PORT: 8000,
  LOCAL_FUNCTIONS_PORT: 7071,
} as const;

const repoFile = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

function readPort(name: keyof typeof PORT_SETTINGS): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return PORT_SETTINGS[name];
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new ConfigError(name, 'a TCP port from 1 to 65535', raw);
  return port;
}

interface Running {
  stack?: LocalStack;
  simulator?: Phi3Simulator;
  host?: LocalFunctionsHost;
}

async function stopAll(running: Running): Promise<void> {
  await running.host?.stop();
  await closeServices();
  await running.simulator?.close();
  await running.stack?.close();
}

/**
 * `npm start`: the whole pipeline on this machine. Azurite, the Cosmos stand-in, the Phi-3 simulator
 * (unless PHI3_ENDPOINT points elsewhere) and the local Functions host running the app's own
 * registrations; then the example file goes through it with a progress bar, and everything keeps serving.
 */
async function main(): Promise<void> {
  const ports = Object.fromEntries(Object.keys(PORT_SETTINGS).map((name) => [name, readPort(name as keyof typeof PORT_SETTINGS)]));
  const exampleFile = process.env['LOCAL_EXAMPLE_FILE'] ?? repoFile('examples/prompts.jsonl');
  const running: Running = {};
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the local stack...\n`);
    stopAll(running).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`Stopping failed: ${ensureError(error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));

  await mkdir(repoFile('.local'), { recursive: true });
  running.stack = await startLocalStack({
    azurite: { blobPort: ports['LOCAL_BLOB_PORT']!, queuePort: ports['LOCAL_QUEUE_PORT']! },
    cosmos: { port: ports['LOCAL_COSMOS_PORT']!, caCertPath: repoFile('.local/cosmos-ca.pem') },
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

  const logFile = repoFile('.local/functions.log');
  running.host = createLocalFunctionsHost({
    entryModules: [repoFile('dist/src/index.js')],
    hostJsonPath: repoFile('host.json'),
    httpPort: ports['LOCAL_FUNCTIONS_PORT']!,
    functionKey: process.env['LOCAL_FUNCTION_KEY'] || undefined,
    logger: createJsonLinesLogger(createWriteStream(logFile, { flags: 'a' }), { minLevel: LogLevel.information }),
  });
  await running.host.start();

  const apiUrl = `${running.host.httpUrl}/api`;
  const out = process.stdout;
  out.write(
    [
      'phi3-batch local stack is up:',
      `  Blob storage   ${running.stack.azurite.blobEndpoint}  (container "${config.inputContainer}" takes .jsonl files)`,
      `  Queue storage  ${running.stack.azurite.queueEndpoint}`,
      `  Cosmos DB      ${running.stack.cosmos?.endpoint ?? '-'}`,
      ...config.phi3.deployments.map(
        (d) => `  Phi-3 endpoint ${d.endpoint}${running.simulator === undefined ? '' : ' (simulator)'}  ${d.model}, ${d.requestsPerMinute} RPM / ${d.tokensPerMinute} TPM`,
      ),
      `  Functions      ${apiUrl}  (${running.host.functions.map((f) => f.name).join(', ')})`,
      `  Logs           ${logFile}`,
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
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  const e = ensureError(error);
  process.stderr.write(e instanceof ConfigError ? `Configuration error: ${e.message}\n` : `Start-up failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
