import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import {
  createLocalFunctionsHost,
  type CreateLocalFunctionsHostOptions,
} from '../../dev/local/host/LocalFunctionsHost.js';
import type { LocalHostLogEntry } from '../../dev/local/host/logger.js';
import { StorageClients } from '../../dev/local/host/storageClients.js';
import { countActiveHandles, expectNoHandlesBeyond } from '../support/activeHandles.js';
import { recordInvocations } from '../support/invocations.js';
import { withLocalStack } from '../support/localStack.js';
import { uniqueName } from '../support/uniqueName.js';
import { createGate, gates } from './fixtures/recorder.js';

const entry = fileURLToPath(new URL('./fixtures/lifecycleApp.ts', import.meta.url));
const hostJsonPath = fileURLToPath(new URL('./fixtures/host.json', import.meta.url));

const local = withLocalStack({ cosmos: false });

function options(overrides: Partial<CreateLocalFunctionsHostOptions> = {}): CreateLocalFunctionsHostOptions {
  return {
    entryModules: [entry],
    hostJsonPath,
    env: { AzureWebJobsStorage: local.stack.azurite.connectionString, SLOW_QUEUE: uniqueName('slow') },
    httpPort: 0,
    ...overrides,
  };
}

describe('local host lifecycle', () => {
  test('stop waits for running HTTP and queue invocations, then leaves no servers, sockets or timers behind', async () => {
    const baseline = await countActiveHandles();
    const hostOptions = options();
    const host = createLocalFunctionsHost(hostOptions);
    const invocations = recordInvocations(host);
    await host.start();

    const httpGate = createGate();
    gates.set('http-1', httpGate);
    const queueGate = createGate();
    gates.set('queue-1', queueGate);

    const response = fetch(`${host.httpUrl}/api/slow/http-1`);
    await httpGate.entered;
    // The test's own connections must close too, or Azurite keeps its end open for its keep-alive timeout.
    const testClients = new StorageClients({ AzureWebJobsStorage: local.stack.azurite.connectionString });
    const queue = testClients.queueService(undefined, 'test').getQueueClient(String(hostOptions.env?.SLOW_QUEUE));
    await queue.sendMessage(Buffer.from(JSON.stringify({ key: 'queue-1' })).toString('base64'));
    await queueGate.entered;

    const stopped = host.stop();
    httpGate.open();
    queueGate.open();
    await stopped;

    // Both finished normally rather than being cut off.
    expect((await response).status).toBe(200);
    expect(invocations.events.map((e) => [e.functionName, e.outcome]).sort()).toEqual([
      ['slow', 'succeeded'],
      ['slowItem', 'succeeded'],
    ]);
    expect(invocations.events.find((e) => e.functionName === 'slowItem')?.trigger).toMatchObject({
      disposition: 'deleted',
    });
    expect((await queue.peekMessages()).peekedMessageItems).toHaveLength(0);
    testClients.close();
    invocations.dispose();
    await expectNoHandlesBeyond(baseline);
  });

  test('stop gives up on an invocation that outlives stopTimeoutInMs and says so', async () => {
    const logs: LocalHostLogEntry[] = [];
    const host = createLocalFunctionsHost(
      options({ stopTimeoutInMs: 50, logger: { log: (entry) => logs.push(entry) } }),
    );
    await host.start();
    const gate = createGate();
    gates.set('stuck', gate);
    const response = fetch(`${host.httpUrl}/api/slow/stuck`).catch((error: unknown) => error);
    await gate.entered;
    await host.stop();
    expect(logs.some((log) => log.level === 'warning' && log.message.includes('still running'))).toBe(true);
    // The connection was closed under the request.
    expect(await response).toBeInstanceOf(Error);
    gate.open();
  });

  test('start rejects when the HTTP port is taken, and releases what it had opened', async () => {
    const first = createLocalFunctionsHost(options({ pollAutomatically: false }));
    await first.start();
    try {
      const port = Number(new URL(first.httpUrl).port);
      const second = createLocalFunctionsHost(options({ httpPort: port }));
      await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await expect(second.stop()).resolves.toBeUndefined();
    } finally {
      await first.stop();
    }
  });

  test('POST /admin/functions/{name} runs a non-HTTP function (key required when set), like the admin API', async () => {
    const host = createLocalFunctionsHost(options({ functionKey: 'k', pollAutomatically: false }));
    const invocations = recordInvocations(host);
    await host.start();
    try {
      const denied = await fetch(`${host.httpUrl}/admin/functions/nightly`, { method: 'POST', body: '{}' });
      expect(denied.status).toBe(401);
      const accepted = await fetch(`${host.httpUrl}/admin/functions/nightly`, {
        method: 'POST',
        headers: { 'x-functions-key': 'k', 'content-type': 'application/json' },
        body: '{}',
      });
      expect(accepted.status).toBe(202);
      const event = await invocations.next((e) => e.functionName === 'nightly');
      expect(event).toMatchObject({ outcome: 'succeeded', trigger: { type: 'timer', isPastDue: false } });
      const unknown = await fetch(`${host.httpUrl}/admin/functions/slow`, {
        method: 'POST',
        headers: { 'x-functions-key': 'k' },
      });
      expect(unknown.status).toBe(404);
      await unknown.body?.cancel();
    } finally {
      invocations.dispose();
      await host.stop();
    }
  });

  test('host.json functionTimeout fails an invocation that runs too long', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'host-json-'));
    const shortTimeout = join(directory, 'host.json');
    await writeFile(shortTimeout, JSON.stringify({ version: '2.0', functionTimeout: '00:00:00.100' }));
    const host = createLocalFunctionsHost(options({ hostJsonPath: shortTimeout, pollAutomatically: false }));
    const invocations = recordInvocations(host);
    await host.start();
    const gate = createGate();
    gates.set('too-slow', gate);
    try {
      const response = await fetch(`${host.httpUrl}/api/slow/too-slow`);
      expect(response.status).toBe(500);
      await response.body?.cancel();
      const event = await invocations.next((e) => e.functionName === 'slow');
      expect(event).toMatchObject({ outcome: 'timedOut', error: { name: 'FunctionTimeoutError' } });
    } finally {
      gate.open();
      invocations.dispose();
      await host.stop();
      await rm(directory, { recursive: true, force: true });
    }
  });

  test('request bodies over the limit get 413', async () => {
    const host = createLocalFunctionsHost(options({ maxRequestBodyInBytes: 1_000, pollAutomatically: false }));
    await host.start();
    try {
      const small = await fetch(`${host.httpUrl}/api/echo`, { method: 'POST', body: 'x'.repeat(1_000) });
      expect(await small.json()).toEqual({ length: 1_000 });
      const large = await fetch(`${host.httpUrl}/api/echo`, { method: 'POST', body: 'x'.repeat(5_000) });
      expect(large.status).toBe(413);
      await large.body?.cancel();
      const admin = await fetch(`${host.httpUrl}/admin/functions/nightly`, { method: 'POST', body: 'x'.repeat(5_000) });
      expect(admin.status).toBe(413);
      await admin.body?.cancel();
    } finally {
      await host.stop();
    }
  });

  test('methods that need a running host say so', async () => {
    const host = createLocalFunctionsHost(options());
    expect(() => host.functions).toThrow(/once start\(\) has resolved/);
    await expect(async () => host.pollQueuesNow()).rejects.toMatchObject({ code: 'InvalidState' });
  });
});
