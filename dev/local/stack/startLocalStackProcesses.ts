import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalStackPart } from './stackProcess.js';

/** The local stack with Azurite and the Cosmos stand-in each in a child process (see stackProcess.ts). */
export interface LocalStackProcesses {
  readonly settings: Readonly<Record<string, string>>;
  /** The children's process ids (storage, cosmos). */
  readonly pids: readonly number[];
  close(): Promise<void>;
  /** SIGKILL both children (a crash), then wait for them to be gone. */
  kill(): Promise<void>;
}

const here = fileURLToPath(import.meta.url);
/** The entry next to this module: compiled beside compiled code, the TypeScript source beside the source. */
const STACK_PROCESS = fileURLToPath(new URL(`./stackProcess${extname(here)}`, import.meta.url));

export interface StartLocalStackProcessesOptions {
  /** Node options for the children (a TypeScript loader when running from the sources). */
  readonly nodeArgs?: readonly string[];
  /** Keep the data in this directory (both parts share it, each in its own subdirectory). */
  readonly dataDirectory?: string;
}

function startPart(
  part: LocalStackPart,
  nodeArgs: readonly string[],
  dataDirectory: string | undefined,
): { child: ChildProcess; settings: Promise<Record<string, string>>; exited: Promise<void> } {
  const env = {
    PATH: process.env['PATH'] ?? '',
    LOCAL_STACK_PART: part,
    ...(dataDirectory && { LOCAL_DATA_DIR: dataDirectory }),
  };
  const child = spawn(process.execPath, [...nodeArgs, STACK_PROCESS], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const settings = new Promise<Record<string, string>>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      // Anything else a stand-in prints on stdout is not ours to read.
      let event: { event?: string; settings?: Record<string, string> };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        return;
      }
      if (event.event === 'ready' && event.settings !== undefined) resolve(event.settings);
    });
    void exited.then(() => reject(new Error(`The local ${part} process exited before it was ready: ${stderr.trim()}`)));
  });
  return { child, settings, exited };
}

/** Starts both parts side by side; their settings together are the app settings for the stack. */
export async function startLocalStackProcesses(
  options: StartLocalStackProcessesOptions = {},
): Promise<LocalStackProcesses> {
  const parts = (['storage', 'cosmos'] as const).map((part) =>
    startPart(part, options.nodeArgs ?? [], options.dataDirectory),
  );
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    for (const part of parts)
      if (part.child.exitCode === null && part.child.signalCode === null) part.child.kill(signal);
    await Promise.all(parts.map((part) => part.exited));
  };
  const close = (): Promise<void> => stopWith('SIGTERM');
  try {
    const settings = Object.assign({}, ...(await Promise.all(parts.map((part) => part.settings)))) as Record<
      string,
      string
    >;
    return { settings, pids: parts.map((part) => part.child.pid ?? 0), close, kill: () => stopWith('SIGKILL') };
  } catch (error) {
    await close();
    throw error;
  }
}
