import { spawn } from 'node:child_process';
import { extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { azuriteAccount, cosmosEmulatorKey } from './stack/index.js';

const here = fileURLToPath(import.meta.url);
/** `npm start`'s entry next to this module: compiled beside compiled code, the TypeScript source beside the source. */
const START = fileURLToPath(new URL(`./start${extname(here)}`, import.meta.url));

export interface SpawnLocalModeOptions {
  /** Settings over a minimal environment (PATH only): LOCAL_DATA_DIR, ports (0 for free ones), PHI3_*... */
  readonly env: Readonly<Record<string, string>>;
  /** Node options (a TypeScript loader when running from the sources). */
  readonly nodeArgs?: readonly string[];
  /** `npm start` arguments, e.g. `--fresh`. */
  readonly args?: readonly string[];
}

export interface LocalModeExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningLocalMode {
  readonly pid: number;
  /** e.g. `http://127.0.0.1:7071/api` */
  readonly apiUrl: string;
  /** The app settings that reach its stack: AzureWebJobsStorage, COSMOS_ENDPOINT/KEY/CA_CERT_FILE. */
  readonly settings: Readonly<Record<string, string>>;
  /** Everything it printed so far (stdout and stderr). */
  readonly output: () => string;
  readonly exited: Promise<LocalModeExit>;
  /** Sends a signal to the process (as Ctrl-C does). */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL of its whole process group (a crash of everything it started), then waits for it to be gone. */
  killGroup(): Promise<LocalModeExit>;
}

export class LocalModeStartError extends Error {
  override readonly name = 'LocalModeStartError';
  readonly code = 'LocalModeStart';
}

const banner = {
  blob: /^\s+Blob storage\s+(\S+)/,
  queue: /^\s+Queue storage\s+(\S+)/,
  cosmos: /^\s+Cosmos DB\s+(\S+)/,
  functions: /^\s+Functions\s+(\S+)/,
  data: /^\s+Data kept in\s+(\S+)/,
} as const;

/** Settings for local mode kept in `dataDirectory`, every service on a free port, no example job. */
export function localModeOnFreePorts(dataDirectory: string): Record<string, string> {
  return {
    LOCAL_DATA_DIR: dataDirectory,
    LOCAL_RUN_EXAMPLE: 'false',
    LOCAL_BLOB_PORT: '0',
    LOCAL_QUEUE_PORT: '0',
    LOCAL_COSMOS_PORT: '0',
    LOCAL_FUNCTIONS_PORT: '0',
    LOCAL_SIMULATOR_PORT: '0',
  };
}

/**
 * Runs `npm start`'s entry in a process group of its own (set LOCAL_RUN_EXAMPLE=false for no example job) and
 * resolves once it serves, with the endpoints its banner names.
 */
export async function spawnLocalMode(options: SpawnLocalModeOptions): Promise<RunningLocalMode> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), START, ...(options.args ?? [])], {
    env: { PATH: process.env['PATH'] ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<LocalModeExit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const found: Partial<Record<keyof typeof banner, string>> = {};
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      output += `${line}\n`;
      for (const [name, pattern] of Object.entries(banner) as [keyof typeof banner, RegExp][]) {
        const match = pattern.exec(line);
        if (match?.[1] !== undefined && found[name] === undefined) found[name] = match[1];
      }
      if (line.startsWith('Still serving.')) resolve();
    });
    void exited.then((exit) => {
      reject(new LocalModeStartError(`npm start exited (${exit.code ?? exit.signal}) before serving:\n${output}`));
    });
  });
  const killGroup = async (): Promise<LocalModeExit> => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
    return exited;
  };
  try {
    await ready;
  } catch (error) {
    await killGroup();
    throw error;
  }
  const { blob, queue, cosmos, functions, data } = found;
  if (blob === undefined || queue === undefined || functions === undefined || data === undefined) {
    await killGroup();
    throw new LocalModeStartError(`The banner did not name every endpoint:\n${output}`);
  }
  const settings: Record<string, string> = {
    AzureWebJobsStorage:
      `DefaultEndpointsProtocol=http;AccountName=${azuriteAccount.name};AccountKey=${azuriteAccount.key};` +
      `BlobEndpoint=${blob};QueueEndpoint=${queue};`,
  };
  if (cosmos?.startsWith('https://') === true && options.env['COSMOS_ENDPOINT'] === undefined) {
    settings['COSMOS_ENDPOINT'] = cosmos;
    settings['COSMOS_KEY'] = cosmosEmulatorKey;
    settings['COSMOS_CA_CERT_FILE'] = join(data, 'cosmos-ca.pem');
  }
  return {
    pid: child.pid!,
    apiUrl: functions,
    settings,
    output: () => output,
    exited,
    signal: (signal) => {
      child.kill(signal);
    },
    killGroup,
  };
}
