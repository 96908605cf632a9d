import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { withDeadline } from './waitFor.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const loader = fileURLToPath(new URL('./tsLoader/register.mjs', import.meta.url));
const hostProcessEntry = fileURLToPath(new URL('../../dev/local/host/hostProcess.ts', import.meta.url));

export interface HostProcessLine {
  readonly event: string;
  readonly [key: string]: unknown;
}

export interface SpawnHostProcessOptions {
  /** App settings and LOCAL_HOST_* options; merged over a minimal environment (PATH only). */
  readonly env: Record<string, string>;
  readonly readyTimeoutInMs?: number;
}

export interface RunningHostProcess {
  readonly pid: number;
  readonly ready: HostProcessLine;
  /** Every JSON line printed so far. */
  readonly lines: readonly HostProcessLine[];
  readonly stderr: () => string;
  /** SIGTERM, then wait for exit; resolves with the exit code. */
  stop(timeoutInMs?: number): Promise<number | null>;
}

/**
 * Starts `dev/local/host/hostProcess.ts` in a child `node` (TypeScript through the test loader) and waits
 * for its ready line. Rejects with its stderr if it exits or reports an error first.
 */
export async function spawnHostProcess(options: SpawnHostProcessOptions): Promise<RunningHostProcess> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', loader, hostProcessEntry], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: HostProcessLine[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<HostProcessLine>((resolve, reject) => {
    const reader = createInterface({ input: child.stdout });
    reader.on('line', (text) => {
      let line: HostProcessLine;
      try {
        line = JSON.parse(text) as HostProcessLine;
      } catch {
        line = { event: 'text', text };
      }
      lines.push(line);
      if (line.event === 'ready') {
        resolve(line);
      } else if (line.event === 'error') {
        reject(new Error(`Host process failed to start: ${String(line.message)}\n${stderr}`));
      }
    });
    void exited.then((code) => reject(new Error(`Host process exited with ${code} before it was ready.\n${stderr}`)));
  });
  const stop = async (timeoutInMs = 15_000): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
    }
    try {
      return await withDeadline(exited, timeoutInMs, `host process ${child.pid} to exit`);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  };
  let readyLine: HostProcessLine;
  try {
    readyLine = await withDeadline(ready, options.readyTimeoutInMs ?? 60_000, 'the host process ready line');
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
  return { pid: child.pid ?? -1, ready: readyLine, lines, stderr: () => stderr, stop };
}
