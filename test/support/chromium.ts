import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Where Debian's `chromium` package (or CHROMIUM_PATH) put a headless-capable browser, if anywhere. */
export function findChromium(): string | undefined {
  const explicit = process.env['CHROMIUM_PATH'];
  if (explicit !== undefined && explicit !== '') return explicit;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

export interface HeadlessRunOptions {
  /** Virtual time the page may use (timers, polling) before the result is taken. */
  readonly virtualTimeBudgetInMs: number;
  readonly windowSize?: { readonly width: number; readonly height: number };
}

// A safety net against a wedged browser, not a measurement: nothing is decided by how long it took.
const KILL_AFTER_IN_MS = 120_000;

async function runHeadless(chromium: string, args: readonly string[]): Promise<string> {
  const profile = await mkdtemp(join(tmpdir(), 'chromium-profile-'));
  try {
    return await new Promise<string>((resolve, reject) => {
      execFile(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          '--disable-dev-shm-usage',
          `--user-data-dir=${profile}`,
          ...args,
        ],
        { timeout: KILL_AFTER_IN_MS, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) =>
          error ? reject(new Error(`${chromium} failed: ${error.message}\n${stderr.slice(-2000)}`)) : resolve(stdout),
      );
    });
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

/** The page's DOM after its scripts ran for the virtual-time budget. */
export function dumpDom(chromium: string, url: string, options: HeadlessRunOptions): Promise<string> {
  return runHeadless(chromium, [`--virtual-time-budget=${options.virtualTimeBudgetInMs}`, '--dump-dom', url]);
}

/** A PNG of the page after its scripts ran for the virtual-time budget. */
export async function screenshot(
  chromium: string,
  url: string,
  file: string,
  options: HeadlessRunOptions,
): Promise<void> {
  const size = options.windowSize ?? { width: 1280, height: 900 };
  await runHeadless(chromium, [
    `--virtual-time-budget=${options.virtualTimeBudgetInMs}`,
    `--window-size=${size.width},${size.height}`,
    '--hide-scrollbars',
    `--screenshot=${file}`,
    url,
  ]);
}
