import { fileURLToPath } from 'node:url';
import { closeServices } from '../../src/compositionRoot.js';
import { withSettingDefaults } from '../../src/config.js';
import {
  createLocalFunctionsHost,
  type LocalFunctionsHost,
  type LocalHostLogEntry,
} from '../../dev/local/host/index.js';
import type { LocalStack } from '../../dev/local/stack/index.js';

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

export interface AppHost {
  readonly host: LocalFunctionsHost;
  /** An HTTP call to the app's API; `key: null` sends no function key. */
  api(path: string, init?: { method?: string; key?: string | null }): Promise<Response>;
  /** Drives the host's triggers until the job reaches a terminal status; bounded, no sleeping. */
  runUntilDone(jobId: string): Promise<Record<string, any>>;
  stop(): Promise<void>;
}

/**
 * The app's own registrations on the local host, against `stack`, with `settings` over the defaults
 * (written to process.env, where the app reads them). Triggers run only when a test polls them.
 */
export async function startAppHost(options: {
  readonly stack: LocalStack;
  readonly settings: Readonly<Record<string, string>>;
  readonly functionKey: string;
  readonly log?: (entry: LocalHostLogEntry) => void;
}): Promise<AppHost> {
  Object.assign(process.env, options.stack.settings, options.settings);
  Object.assign(process.env, withSettingDefaults(process.env));
  const host = createLocalFunctionsHost({
    entryModules: [root('src/index.ts')],
    hostJsonPath: root('host.json'),
    httpPort: 0,
    functionKey: options.functionKey,
    pollAutomatically: false,
    ...(options.log === undefined ? {} : { logger: { log: options.log } }),
  });
  await host.start();

  const api = (path: string, init: { method?: string; key?: string | null } = {}): Promise<Response> => {
    const headers: Record<string, string> = {};
    if (init.key !== null) headers['x-functions-key'] = init.key ?? options.functionKey;
    return fetch(`${host.httpUrl}/api/${path}`, { method: init.method ?? 'GET', headers });
  };
  const runUntilDone = async (jobId: string): Promise<Record<string, any>> => {
    for (let round = 0; round < 500; round += 1) {
      await host.pollBlobsNow();
      await host.pollQueuesNow();
      const response = await api(`jobs/${jobId}`);
      if (response.status === 200) {
        const job = (await response.json()) as Record<string, any>;
        if (['completed', 'failed', 'cancelled'].includes(job['status'])) return job;
      }
    }
    throw new Error(`job ${jobId} did not finish`);
  };
  return {
    host,
    api,
    runUntilDone,
    stop: async () => {
      await host.stop();
      await closeServices();
    },
  };
}
