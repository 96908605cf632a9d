import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { localModeOnFreePorts, spawnLocalMode, type RunningLocalMode } from '../../dev/local/localModeProcess.js';
import { createShutdownController, IMMEDIATE_EXIT_CODE } from '../../dev/local/shutdownController.js';
import { startLocalStack } from '../../dev/local/stack/startLocalStack.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { createPipeline } from '../../scripts/bench/benchSupport.js';
import { startGatedEndpoint, type GatedEndpoint } from '../support/gatedEndpoint.js';
import { waitFor } from '../support/waitFor.js';

const loader = fileURLToPath(new URL('../support/tsLoader/register.mjs', import.meta.url));

describe('createShutdownController', () => {
  function controller(stop: () => Promise<void>): {
    signal: (name: string) => void;
    exits: number[];
    reports: string[];
  } {
    const exits: number[] = [];
    const reports: string[] = [];
    const shutdown = createShutdownController({
      stop,
      exit: (code) => exits.push(code),
      report: (m) => reports.push(m),
      stopTimeoutInMs: 30_000,
    });
    return { signal: (name) => shutdown.signal(name), exits, reports };
  }

  test('the first signal stops gracefully and exits 0 once stopped; a second exits at once', async () => {
    let finishStop!: () => void;
    const stopped = new Promise<void>((resolve) => (finishStop = resolve));
    let stops = 0;
    const { signal, exits, reports } = controller(() => {
      stops += 1;
      return stopped;
    });
    signal('SIGINT');
    expect(stops).toBe(1);
    expect(exits).toEqual([]);
    expect(reports[0]).toContain('draining');
    expect(reports[0]).toContain('30 s');
    signal('SIGINT');
    expect(exits).toEqual([IMMEDIATE_EXIT_CODE]);
    expect(stops).toBe(1);
    finishStop();
    await stopped;
    await Promise.resolve();
    expect(exits).toEqual([IMMEDIATE_EXIT_CODE, 0]);
  });

  test('a stop that fails exits 1 and says why', async () => {
    const { signal, exits, reports } = controller(() => Promise.reject(new Error('Azurite would not close')));
    signal('SIGTERM');
    await waitFor(() => exits.length > 0);
    expect(exits).toEqual([1]);
    expect(reports.at(-1)).toContain('Azurite would not close');
  });
});

describe('npm start on Ctrl-C', () => {
  let simulator: Phi3Simulator;
  let gate: GatedEndpoint;
  const directories: string[] = [];
  const running: RunningLocalMode[] = [];

  beforeAll(async () => {
    simulator = await startPhi3Simulator({ latency: { baseInMs: 1, perCompletionTokenInMs: 0, jitterInMs: 0 } });
  });
  afterAll(async () => {
    await simulator?.close();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((local) => local.killGroup()));
    await gate?.close();
    await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
  });

  const phi3 = (): Record<string, string> => ({
    PHI3_ENDPOINT: gate.url,
    PHI3_API_KEY: simulator.apiKey,
    PHI3_MODEL: simulator.model,
  });

  /** Local mode with every call to the endpoint held, and one job whose only call is under way. */
  async function startWithACallUnderWay(extraEnv: Record<string, string> = {}) {
    gate = await startGatedEndpoint(simulator.url);
    gate.holdAfter(0);
    const dataDirectory = await mkdtemp(join(tmpdir(), 'local-mode-'));
    directories.push(dataDirectory);
    const local = await spawnLocalMode({
      nodeArgs: ['--import', loader],
      env: {
        ...phi3(),
        ...localModeOnFreePorts(dataDirectory),
        ...extraEnv,
      },
    });
    running.push(local);
    const pipeline = await createPipeline({ settings: local.settings }, phi3());
    const line = {
      custom_id: 'only',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5 },
    };
    const jobId = await pipeline.submit('one-line.jsonl', `${JSON.stringify(line)}\n`);
    await waitFor(() => gate.held() === 1, { timeoutInMs: 60_000, description: 'the call to be under way' });
    return { local, pipeline, jobId, dataDirectory };
  }

  test(
    'the call under way finishes and its outcome is recorded; no message or blob is taken after the signal',
    { timeout: 180_000 },
    async () => {
      const { local, pipeline, jobId, dataDirectory } = await startWithACallUnderWay();
      local.signal('SIGINT');
      await waitFor(() => local.output().includes('SIGINT: draining'), { description: 'the drain to start' });
      // Work that arrives while draining: a queue message and a new input file. Neither may be taken.
      const requests = QueueServiceClient.fromConnectionString(local.settings['AzureWebJobsStorage']!).getQueueClient(
        pipeline.settings['REQUEST_QUEUE']!,
      );
      await requests.sendMessage(Buffer.from('{"arrived":"while draining"}').toString('base64'));
      const lateJob = await pipeline.submit(
        'late.jsonl',
        `${JSON.stringify({ custom_id: 'late', body: { messages: [{ role: 'user', content: 'Hi' }] } })}\n`,
      );
      pipeline.close();
      gate.release();
      expect(await local.exited).toEqual({ code: 0, signal: null });
      expect(local.output()).toContain('Stopped.');

      // What the stopped local mode left in its data directory.
      const stack = await startLocalStack({ dataDirectory });
      const after = await createPipeline(stack, phi3());
      try {
        const outcomes = [];
        for await (const outcome of after.jobs.listOutcomes(jobId)) outcomes.push(outcome);
        expect(outcomes.map((o) => [o.customId, o.status])).toEqual([['only', 'succeeded']]);
        expect(gate.answered()).toBe(1);
        const waiting = await QueueServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!)
          .getQueueClient(pipeline.settings['REQUEST_QUEUE']!)
          .peekMessages({ numberOfMessages: 32 });
        expect(
          waiting.peekedMessageItems.map((m) => [Buffer.from(m.messageText, 'base64').toString(), m.dequeueCount]),
        ).toEqual([['{"arrived":"while draining"}', 0]]);
        expect(await after.jobs.getJob(lateJob)).toBeUndefined();
      } finally {
        after.close();
        await stack.close();
      }
    },
  );

  test('a second Ctrl-C exits at once, with the call still under way', { timeout: 180_000 }, async () => {
    const { local } = await startWithACallUnderWay();
    local.signal('SIGINT');
    await waitFor(() => local.output().includes('SIGINT: draining'), { description: 'the drain to start' });
    local.signal('SIGINT');
    expect(await local.exited).toEqual({ code: IMMEDIATE_EXIT_CODE, signal: null });
    expect(gate.held()).toBe(1);
    expect(gate.answered()).toBe(0);
  });

  test(
    'the drain is bounded by LOCAL_STOP_TIMEOUT_MS: a call that never ends does not keep it running',
    { timeout: 180_000 },
    async () => {
      const { local } = await startWithACallUnderWay({ LOCAL_STOP_TIMEOUT_MS: '500' });
      local.signal('SIGTERM');
      expect(await local.exited).toEqual({ code: 0, signal: null });
      expect(local.output()).toContain('up to 0.5 s');
      expect(gate.held()).toBe(1);
    },
  );
});

describe('npm start -- --fresh', () => {
  const directories: string[] = [];
  afterEach(async () => {
    await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
  });

  test('starts with none of the data kept before, and says so', { timeout: 180_000 }, async () => {
    const dataDirectory = await mkdtemp(join(tmpdir(), 'local-mode-'));
    directories.push(dataDirectory);
    const before = await startLocalStack({ dataDirectory });
    await BlobServiceClient.fromConnectionString(before.settings['AzureWebJobsStorage']!)
      .getContainerClient('kept-before')
      .create();
    await before.close();

    const local = await spawnLocalMode({
      nodeArgs: ['--import', loader],
      env: localModeOnFreePorts(dataDirectory),
      args: ['--fresh'],
    });
    try {
      expect(local.output()).toContain('started empty (--fresh)');
      const blobs = BlobServiceClient.fromConnectionString(local.settings['AzureWebJobsStorage']!);
      expect(await blobs.getContainerClient('kept-before').exists()).toBe(false);
    } finally {
      local.signal('SIGTERM');
      await local.exited;
    }
  });

  test('refuses to delete a directory that holds anything else, naming the setting', { timeout: 180_000 }, async () => {
    const dataDirectory = await mkdtemp(join(tmpdir(), 'local-mode-'));
    directories.push(dataDirectory);
    await writeFile(join(dataDirectory, 'notes.txt'), 'mine');
    await expect(
      spawnLocalMode({ nodeArgs: ['--import', loader], env: localModeOnFreePorts(dataDirectory), args: ['--fresh'] }),
    ).rejects.toThrow(
      /Setting LOCAL_DATA_DIR: expected a directory holding only local-mode data for --fresh to delete \(it also holds notes.txt\)/,
    );
    expect(await readdir(dataDirectory)).toEqual(['notes.txt']);
  });
});
