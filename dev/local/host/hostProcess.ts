/**
 * Runs one local Functions host as its own process: `node dist/dev/local/host/hostProcess.js`.
 * App settings come from the environment. Host options:
 *   LOCAL_HOST_ENTRY            module(s) to import, comma-separated (default: the compiled app, dist/src/index.js)
 *   LOCAL_HOST_HOST_JSON        host.json path (default: the nearest host.json above this file)
 *   LOCAL_HOST_HTTP_PORT        port, 0 for a free one, "off" for no HTTP server (default 7071)
 *   LOCAL_HOST_FUNCTION_KEY     key required by authLevel function/admin routes (default: none)
 *   LOCAL_HOST_BLOB_POLL_MS     blob trigger polling interval (default 500)
 *   LOCAL_HOST_QUEUE_LEASE_MS   how long a received queue message stays hidden while it runs (default 600000, like
 *                               the real host); a killed process's messages reappear after this
 *   LOCAL_HOST_STOP_TIMEOUT_MS  how long a graceful stop waits for running invocations (default 30000)
 *   LOCAL_HOST_LOG_LEVEL        trace | debug | information | warning | error (default information)
 * Several of these processes can share one storage account: queue leases, blob receipts and timer status
 * blobs keep each message, blob version and timer occurrence to one instance.
 * stdout carries one JSON object per line: `{"event":"ready","httpUrl":...}` once started, then
 * `{"event":"invocation",...}` and `{"event":"log",...}` lines, and `{"event":"stopped"}`.
 * SIGTERM/SIGINT stop gracefully; a second signal exits at once.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureError } from './errors.js';
import type { InvocationEvent } from './events.js';
import { createLocalFunctionsHost } from './LocalFunctionsHost.js';
import { createJsonLinesLogger, LogLevel, toLogLevel } from './logger.js';

function writeLine(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function findHostJson(startDirectory: string): string {
  let directory = startDirectory;
  for (;;) {
    const candidate = join(directory, 'host.json');
    if (existsSync(candidate)) {
      return candidate;
    }
    const parent = dirname(directory);
    if (parent === directory) {
      throw new Error(`No host.json found above ${startDirectory}; set LOCAL_HOST_HOST_JSON.`);
    }
    directory = parent;
  }
}

function parsePort(value: string | undefined): number | 'off' {
  if (value === undefined || value === '') {
    return 7071;
  }
  if (value.toLowerCase() === 'off') {
    return 'off';
  }
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`LOCAL_HOST_HTTP_PORT must be a port number (0 for any free port) or "off", got "${value}".`);
  }
  return port;
}

function readPositiveNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') {
    return undefined;
  }
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new Error(`${name} must be a positive number, got "${text}".`);
  }
  return value;
}

function toEventLine(event: InvocationEvent): Record<string, unknown> {
  return {
    event: 'invocation',
    pid: process.pid,
    functionName: event.functionName,
    invocationId: event.invocationId,
    outcome: event.outcome,
    startedAt: event.startedAt.toISOString(),
    durationInMs: event.durationInMs,
    error: event.error ? { name: event.error.name, message: event.error.message } : undefined,
    trigger: event.trigger,
  };
}

async function main(): Promise<void> {
  const env = process.env;
  const here = dirname(fileURLToPath(import.meta.url));
  const entries = (env.LOCAL_HOST_ENTRY ?? fileURLToPath(new URL('../../../src/index.js', import.meta.url)))
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => (isAbsolute(entry) || /^file:/i.test(entry) ? entry : resolve(entry)));
  const port = parsePort(env.LOCAL_HOST_HTTP_PORT);
  const minLevel = toLogLevel(env.LOCAL_HOST_LOG_LEVEL ?? LogLevel.information);
  if (minLevel === undefined) {
    throw new Error(`LOCAL_HOST_LOG_LEVEL "${env.LOCAL_HOST_LOG_LEVEL ?? ''}" is not a log level.`);
  }
  const blobPollingIntervalInMs = readPositiveNumber(env, 'LOCAL_HOST_BLOB_POLL_MS');
  const queueLeaseInMs = readPositiveNumber(env, 'LOCAL_HOST_QUEUE_LEASE_MS');
  const stopTimeoutInMs = readPositiveNumber(env, 'LOCAL_HOST_STOP_TIMEOUT_MS');

  const host = createLocalFunctionsHost({
    entryModules: entries,
    hostJsonPath: env.LOCAL_HOST_HOST_JSON ?? findHostJson(here),
    env,
    httpEnabled: port !== 'off',
    httpPort: port === 'off' ? undefined : port,
    functionKey: env.LOCAL_HOST_FUNCTION_KEY || undefined,
    blobPollingIntervalInMs,
    queueLeaseInMs,
    stopTimeoutInMs,
    logger: createJsonLinesLogger(process.stdout, { minLevel }),
  });
  host.onInvocation((event) => writeLine(toEventLine(event)));

  let stopping: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.exit(1);
    }
    writeLine({ event: 'stopping', signal, pid: process.pid });
    stopping = host.stop().then(
      () => {
        writeLine({ event: 'stopped', pid: process.pid });
        // Like the real host, which ends its worker: the app's keep-alive clients must not hold the process.
        process.exit(0);
      },
      (error: unknown) => {
        const failure = ensureError(error);
        writeLine({ event: 'error', pid: process.pid, message: failure.message });
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  await host.start();
  writeLine({
    event: 'ready',
    pid: process.pid,
    httpUrl: port === 'off' ? undefined : host.httpUrl,
    functions: host.functions.map((fn) => ({ name: fn.name, triggerType: fn.triggerType })),
  });
}

main().catch((error: unknown) => {
  const failure = ensureError(error);
  writeLine({ event: 'error', pid: process.pid, name: failure.name, message: failure.message });
  process.stderr.write(`${failure.stack ?? failure.message}\n`);
  process.exitCode = 1;
  // Handles opened before the failure (storage sockets) must not keep a failed host alive.
  setTimeout(() => process.exit(1), 1_000).unref();
});
