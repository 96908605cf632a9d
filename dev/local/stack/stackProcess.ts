/**
 * One part of the local stack in a process of its own: `node dist/dev/local/stack/stackProcess.js`,
 * with LOCAL_STACK_PART=storage (Azurite: Blob and Queue) or LOCAL_STACK_PART=cosmos (the Cosmos
 * stand-in). As in Azure, where Storage and Cosmos DB are separate services, neither then waits behind
 * the other's work: each has an event loop (and, when the machine has one free, a core) of its own.
 * stdout: `{"event":"ready","settings":{...}}` (the app settings that point at it) once it listens.
 * LOCAL_DATA_DIR: keep the part's data in that directory (see startLocalStack's dataDirectory).
 * SIGTERM/SIGINT close it and exit.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { localStackDataPaths, localStackSettingNames, startLocalStack, type LocalStack } from './startLocalStack.js';

export type LocalStackPart = 'storage' | 'cosmos';

function partFrom(value: string | undefined): LocalStackPart {
  if (value === 'storage' || value === 'cosmos') return value;
  throw new Error(`LOCAL_STACK_PART must be "storage" or "cosmos", got "${value ?? ''}".`);
}

async function main(): Promise<void> {
  const part = partFrom(process.env['LOCAL_STACK_PART']);
  const dataDirectory = process.env['LOCAL_DATA_DIR'] || undefined;
  let stack: LocalStack;
  if (part === 'storage') {
    stack = await startLocalStack({ cosmos: false, dataDirectory });
  } else {
    // This process's Azurite is never used (its settings are not passed on): it must not open the storage files.
    const journalPath = dataDirectory === undefined ? undefined : localStackDataPaths(dataDirectory).cosmosJournal;
    if (journalPath !== undefined) await mkdir(dirname(journalPath), { recursive: true });
    stack = await startLocalStack({ cosmos: { journalPath } });
  }
  // Storage's process serves the storage setting; Cosmos's every other one.
  const isStorage = (name: string): boolean => name === localStackSettingNames.storage;
  const settings = Object.fromEntries(
    Object.entries(stack.settings).filter(([name]) => isStorage(name) === (part === 'storage')),
  );
  process.stdout.write(`${JSON.stringify({ event: 'ready', settings })}\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    void stack.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
