import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startAzurite, type LocalAzurite, type StartAzuriteOptions } from './startAzurite.js';
import { startCosmos, type LocalCosmos, type StartCosmosOptions } from './startCosmos.js';

/** The app setting names the stack fills in; the app's configuration reads these. */
export const localStackSettingNames = {
  storage: 'AzureWebJobsStorage',
  cosmosEndpoint: 'COSMOS_ENDPOINT',
  cosmosKey: 'COSMOS_KEY',
  cosmosCaCertFile: 'COSMOS_CA_CERT_FILE',
} as const;

export interface StartLocalStackOptions {
  readonly azurite?: StartAzuriteOptions;
  /** false: no Cosmos stand-in. */
  readonly cosmos?: StartCosmosOptions | false;
  /**
   * Keep the data here (Blob and Queue under `storage/`, the Cosmos stand-in's journal under `cosmos/`), so a
   * stack started again on the same directory finds it; without it everything is in memory.
   */
  readonly dataDirectory?: string;
}

/** Where a stack started with `dataDirectory` keeps each service's data. */
export function localStackDataPaths(dataDirectory: string): {
  readonly storage: string;
  readonly cosmosJournal: string;
} {
  return { storage: join(dataDirectory, 'storage'), cosmosJournal: join(dataDirectory, 'cosmos', 'journal.jsonl') };
}

export interface LocalStack {
  readonly azurite: LocalAzurite;
  readonly cosmos: LocalCosmos | undefined;
  /** App settings pointing at this stack (see localStackSettingNames). */
  readonly settings: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

/** Azurite (Blob + Queue) and the Cosmos stand-in, both in this process on 127.0.0.1. */
export async function startLocalStack(options: StartLocalStackOptions = {}): Promise<LocalStack> {
  const paths = options.dataDirectory === undefined ? undefined : localStackDataPaths(options.dataDirectory);
  if (paths !== undefined) {
    await mkdir(paths.storage, { recursive: true });
    if (options.cosmos !== false) await mkdir(dirname(paths.cosmosJournal), { recursive: true });
  }
  const azurite = await startAzurite({ ...options.azurite, ...(paths && { dataDirectory: paths.storage }) });
  let cosmos: LocalCosmos | undefined;
  let tempDir: string | undefined;
  try {
    if (options.cosmos !== false) {
      let caCertPath = options.cosmos?.caCertPath;
      if (caCertPath === undefined) {
        // The app reads the CA from a file setting, so there is always a file to point it at.
        tempDir = await mkdtemp(join(tmpdir(), 'local-cosmos-'));
        caCertPath = join(tempDir, 'ca.pem');
      }
      cosmos = await startCosmos({ ...options.cosmos, caCertPath, ...(paths && { journalPath: paths.cosmosJournal }) });
    }
  } catch (error) {
    await azurite.close();
    if (tempDir !== undefined) {
      await rm(tempDir, { recursive: true, force: true });
    }
    throw error;
  }
  const settings: Record<string, string> = { [localStackSettingNames.storage]: azurite.connectionString };
  if (cosmos) {
    settings[localStackSettingNames.cosmosEndpoint] = cosmos.endpoint;
    settings[localStackSettingNames.cosmosKey] = cosmos.key;
    if (cosmos.caCertPath !== undefined) {
      settings[localStackSettingNames.cosmosCaCertFile] = cosmos.caCertPath;
    }
  }
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    const results = await Promise.allSettled([azurite.close(), cosmos?.close() ?? Promise.resolve()]);
    if (tempDir !== undefined) {
      await rm(tempDir, { recursive: true, force: true });
    }
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure) {
      throw failure.reason;
    }
  };
  return {
    azurite,
    cosmos,
    settings,
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}
