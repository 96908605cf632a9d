import { fileURLToPath } from 'node:url';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  QueueServiceClient,
  StorageSharedKeyCredential,
  type QueueClient,
} from '@azure/storage-queue';
import { describe, expect, test } from 'vitest';
import {
  createLocalFunctionsHost,
  type CreateLocalFunctionsHostOptions,
} from '../../dev/local/host/LocalFunctionsHost.js';
import { azuriteAccount } from '../../dev/local/stack/startAzurite.js';
import { recordInvocations } from '../support/invocations.js';
import { withLocalStack } from '../support/localStack.js';
import { uniqueName } from '../support/uniqueName.js';
import { waitFor } from '../support/waitFor.js';
import { receivedBy } from './fixtures/recorder.js';

const entry = fileURLToPath(new URL('./fixtures/queueApp.ts', import.meta.url));
const hostJsonPath = fileURLToPath(new URL('./fixtures/host.json', import.meta.url));

const local = withLocalStack({ cosmos: false });

function toBase64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64');
}

interface QueueTestContext {
  readonly itemsQueue: string;
  readonly forwardQueue: string;
  readonly queues: QueueServiceClient;
  readonly items: QueueClient;
  readonly options: CreateLocalFunctionsHostOptions;
}

function setUp(overrides: Partial<CreateLocalFunctionsHostOptions> = {}): QueueTestContext {
  const itemsQueue = uniqueName('items');
  const forwardQueue = uniqueName('forward');
  const queues = QueueServiceClient.fromConnectionString(local.stack.azurite.connectionString);
  return {
    itemsQueue,
    forwardQueue,
    queues,
    items: queues.getQueueClient(itemsQueue),
    options: {
      entryModules: [entry],
      hostJsonPath,
      env: {
        AzureWebJobsStorage: local.stack.azurite.connectionString,
        ITEMS_QUEUE: itemsQueue,
        FORWARD_QUEUE: forwardQueue,
      },
      httpEnabled: false,
      ...overrides,
    },
  };
}

describe('local host: queue triggers', () => {
  test('creates the watched queue, delivers a base64 JSON message with trigger metadata, deletes it on success', async () => {
    const ctx = setUp({ pollAutomatically: false });
    const host = createLocalFunctionsHost(ctx.options);
    await host.start();
    try {
      expect(await ctx.items.exists()).toBe(true);
      const sent = await ctx.items.sendMessage(toBase64({ id: 'a1' }));
      expect(await host.pollQueuesNow()).toEqual({ received: 1 });
      const [delivery] = receivedBy('processItem').filter((r) => (r.input as { id?: string }).id === 'a1');
      expect(delivery?.input).toEqual({ id: 'a1' });
      expect(delivery?.triggerMetadata).toMatchObject({
        id: sent.messageId,
        dequeueCount: 1,
        queueTrigger: '{"id":"a1"}',
        insertionTime: sent.insertedOn.toISOString(),
        expirationTime: sent.expiresOn.toISOString(),
      });
      expect(typeof delivery?.triggerMetadata?.popReceipt).toBe('string');
      expect(typeof delivery?.triggerMetadata?.nextVisibleTime).toBe('string');
      expect((await ctx.items.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toHaveLength(0);
    } finally {
      await host.stop();
    }
  });

  test('a failure makes the message visible again after visibilityTimeout; it succeeds on the next try', async () => {
    const ctx = setUp({ pollAutomatically: false });
    const host = createLocalFunctionsHost(ctx.options);
    const invocations = recordInvocations(host);
    await host.start();
    try {
      await ctx.items.sendMessage(toBase64({ id: 'retry-1', failUntilDequeueCount: 1 }));
      const failedAt = Date.now();
      await host.pollQueuesNow();
      const failed = await invocations.next((e) => e.outcome === 'failed');
      expect(failed.trigger).toMatchObject({
        type: 'queue',
        dequeueCount: 1,
        disposition: 'retryScheduled',
        queueName: ctx.itemsQueue,
      });
      // The server put the message back with host.json's visibilityTimeout (1 s; its clock has 1 s resolution).
      const nextVisibleOn = failed.trigger.type === 'queue' ? failed.trigger.nextVisibleOn : undefined;
      expect(nextVisibleOn?.getTime()).toBeGreaterThanOrEqual(Math.floor(failedAt / 1000) * 1000 + 1000);
      expect(failed.error?.message).toBe('item retry-1 failed on try 1');

      // Poll until it is visible again (a deadline, not a sleep).
      await waitFor(async () => (await host.pollQueuesNow()).received > 0, { description: 'the retried message' });
      const succeeded = await invocations.next((e) => e.outcome === 'succeeded');
      expect(succeeded.trigger).toMatchObject({ type: 'queue', dequeueCount: 2, disposition: 'deleted' });
      expect((await ctx.items.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toHaveLength(0);
    } finally {
      invocations.dispose();
      await host.stop();
    }
  });

  test('after maxDequeueCount failures the original message goes to <queue>-poison', async () => {
    const ctx = setUp();
    const host = createLocalFunctionsHost(ctx.options);
    const invocations = recordInvocations(host);
    await host.start();
    try {
      const original = toBase64({ id: 'doomed', failUntilDequeueCount: 99 });
      await ctx.items.sendMessage(original);
      const poisoned = await invocations.next(
        (e) => e.trigger.type === 'queue' && e.trigger.disposition === 'poisoned',
        {
          timeoutInMs: 20_000,
        },
      );
      // host.json (test copy) says maxDequeueCount 3.
      expect(poisoned.trigger).toMatchObject({ dequeueCount: 3 });
      expect(invocations.events.filter((e) => e.functionName === 'processItem').map((e) => e.outcome)).toEqual([
        'failed',
        'failed',
        'failed',
      ]);
      const poison = ctx.queues.getQueueClient(`${ctx.itemsQueue}-poison`);
      const peeked = (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems;
      expect(peeked.map((m) => m.messageText)).toEqual([original]);
      expect((await ctx.items.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toHaveLength(0);
    } finally {
      invocations.dispose();
      await host.stop();
    }
  });

  test('a message that is not valid base64 goes straight to the poison queue', async () => {
    const ctx = setUp({ pollAutomatically: false });
    const host = createLocalFunctionsHost(ctx.options);
    await host.start();
    try {
      await ctx.items.sendMessage('not base64 at all!');
      await host.pollQueuesNow();
      const poison = ctx.queues.getQueueClient(`${ctx.itemsQueue}-poison`);
      expect((await poison.peekMessages()).peekedMessageItems.map((m) => m.messageText)).toEqual([
        'not base64 at all!',
      ]);
      expect(receivedBy('processItem').some((r) => r.input === 'not base64 at all!')).toBe(false);
    } finally {
      await host.stop();
    }
  });

  test('runs a batch concurrently and keeps polling after failures; queue outputs are sent after success', async () => {
    const ctx = setUp();
    const host = createLocalFunctionsHost(ctx.options);
    const invocations = recordInvocations(host);
    await host.start();
    try {
      const ids = Array.from({ length: 12 }, (_, i) => `batch-${i}`);
      await Promise.all(
        ids.map((id, i) =>
          ctx.items.sendMessage(toBase64({ id, failUntilDequeueCount: i % 4 === 0 ? 1 : undefined, forward: i === 5 })),
        ),
      );
      await invocations.atLeast(ids.length, (e) => e.functionName === 'processItem' && e.outcome === 'succeeded', {
        timeoutInMs: 20_000,
      });
      const forwarded = await invocations.atLeast(2, (e) => e.functionName === 'recordForwarded', {
        timeoutInMs: 20_000,
      });
      expect(forwarded.every((e) => e.outcome === 'succeeded')).toBe(true);
      const inputs = receivedBy('recordForwarded')
        .map((r) => r.input as { from: string; n: number })
        .filter((input) => input.from === 'batch-5');
      expect(inputs.map((input) => input.n).sort()).toEqual([1, 2]);
      expect(invocations.events.filter((e) => e.outcome === 'failed')).toHaveLength(3);
    } finally {
      invocations.dispose();
      await host.stop();
    }
  });

  test('an unknown %SETTING% fails start naming the setting and the function', async () => {
    const ctx = setUp();
    const host = createLocalFunctionsHost({
      ...ctx.options,
      env: { AzureWebJobsStorage: local.stack.azurite.connectionString, FORWARD_QUEUE: ctx.forwardQueue },
    });
    await expect(host.start()).rejects.toMatchObject({
      name: 'LocalHostError',
      code: 'UnknownAppSetting',
      message: expect.stringMatching(/"processItem".*"ITEMS_QUEUE"/),
    });
  });

  test('a missing connection fails start with a clear error', async () => {
    const ctx = setUp();
    const host = createLocalFunctionsHost({
      ...ctx.options,
      env: { ITEMS_QUEUE: ctx.itemsQueue, FORWARD_QUEUE: ctx.forwardQueue },
    });
    await expect(host.start()).rejects.toMatchObject({
      code: 'MissingConnection',
      message: expect.stringContaining('AzureWebJobsStorage__queueServiceUri'),
    });
  });

  test('an identity-style <CONN>__queueServiceUri setting is used when the connection string is absent', async () => {
    const ctx = setUp({ pollAutomatically: false });
    // Azurite needs a credential, so give the URI a SAS, as a local stand-in for a managed identity.
    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 60 * 60 * 1000),
        permissions: AccountSASPermissions.parse('rwdlacup'),
        resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
        services: AccountSASServices.parse('q').toString(),
      },
      new StorageSharedKeyCredential(azuriteAccount.name, azuriteAccount.key),
    ).toString();
    const host = createLocalFunctionsHost({
      ...ctx.options,
      env: {
        AzureWebJobsStorage__queueServiceUri: `${local.stack.azurite.queueEndpoint}?${sas}`,
        ITEMS_QUEUE: ctx.itemsQueue,
        FORWARD_QUEUE: ctx.forwardQueue,
      },
    });
    await host.start();
    try {
      await ctx.items.sendMessage(toBase64({ id: 'via-uri' }));
      expect(await host.pollQueuesNow()).toEqual({ received: 1 });
      expect(receivedBy('processItem').some((r) => (r.input as { id?: string }).id === 'via-uri')).toBe(true);
    } finally {
      await host.stop();
    }
  });
});
