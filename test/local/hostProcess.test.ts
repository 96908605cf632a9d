import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { StorageClients } from '../../dev/local/host/storageClients.js';
import { spawnHostProcess, type HostProcessLine, type RunningHostProcess } from '../support/hostProcess.js';
import { withLocalStack } from '../support/localStack.js';
import { uniqueName } from '../support/uniqueName.js';
import { waitFor } from '../support/waitFor.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const local = withLocalStack({ cosmos: false });

interface InvocationLine extends HostProcessLine {
  readonly functionName: string;
  readonly outcome: string;
  readonly trigger: { type: string; blobName?: string; messageId?: string; disposition?: string };
}

function invocationLines(
  hosts: readonly RunningHostProcess[],
  functionName: string,
): { pid: number; line: InvocationLine }[] {
  return hosts.flatMap((host) =>
    host.lines
      .filter((line): line is InvocationLine => line.event === 'invocation' && line.functionName === functionName)
      .map((line) => ({ pid: host.pid, line })),
  );
}

describe('hostProcess: several host processes against one storage account', () => {
  test('each queue message and blob version runs once across processes; HTTP works; SIGTERM stops gracefully', async () => {
    const itemsQueue = uniqueName('items');
    const uploads = uniqueName('uploads');
    const env = {
      AzureWebJobsStorage: local.stack.azurite.connectionString,
      ITEMS_QUEUE: itemsQueue,
      FORWARD_QUEUE: uniqueName('forward'),
      UPLOADS_CONTAINER: uploads,
      RAW_CONTAINER: uniqueName('raw'),
      LOCAL_HOST_ENTRY: [fixture('queueApp.ts'), fixture('blobApp.ts'), fixture('httpApp.ts')].join(','),
      LOCAL_HOST_HOST_JSON: fixture('host.json'),
      LOCAL_HOST_HTTP_PORT: '0',
      LOCAL_HOST_BLOB_POLL_MS: '50',
      LOCAL_HOST_LOG_LEVEL: 'warning',
    };
    const clients = new StorageClients({ AzureWebJobsStorage: local.stack.azurite.connectionString });
    const hosts = await Promise.all([spawnHostProcess({ env }), spawnHostProcess({ env })]);
    try {
      for (const host of hosts) {
        expect(host.ready).toMatchObject({
          event: 'ready',
          httpUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        });
        const response = await fetch(`${String(host.ready.httpUrl)}/api/hello`);
        expect(await response.text()).toBe('hello');
      }

      const queue = clients.queueService(undefined, 'test').getQueueClient(itemsQueue);
      const container = clients.blobService(undefined, 'test').getContainerClient(uploads);
      await container.createIfNotExists();
      const messageCount = 24;
      const blobNames = Array.from({ length: 10 }, (_, i) => `incoming/file-${i}.jsonl`);
      await Promise.all([
        ...Array.from({ length: messageCount }, (_, i) =>
          queue.sendMessage(Buffer.from(JSON.stringify({ id: `m-${i}` })).toString('base64')),
        ),
        ...blobNames.map((name) => container.getBlockBlobClient(name).upload(name, name.length)),
      ]);

      await waitFor(() => invocationLines(hosts, 'processItem').length >= messageCount, {
        timeoutInMs: 60_000,
        description: `${messageCount} queue invocations across both processes`,
      });
      await waitFor(() => invocationLines(hosts, 'onUpload').length >= blobNames.length, {
        timeoutInMs: 60_000,
        description: `${blobNames.length} blob invocations across both processes`,
      });

      const queueRuns = invocationLines(hosts, 'processItem');
      expect(new Set(queueRuns.map((run) => run.line.trigger.messageId)).size).toBe(messageCount);
      expect(queueRuns.every((run) => run.line.outcome === 'succeeded')).toBe(true);
      const blobRuns = invocationLines(hosts, 'onUpload');
      expect(blobRuns.map((run) => run.line.trigger.blobName).sort()).toEqual([...blobNames].sort());
    } finally {
      clients.close();
      const codes = await Promise.all(hosts.map((host) => host.stop()));
      expect(codes).toEqual([0, 0]);
    }
    for (const host of hosts) {
      expect(host.lines.map((line) => line.event)).toContain('stopped');
      expect(host.lines.filter((line) => line.event === 'log' && line.level === 'error')).toEqual([]);
    }
    // Quiet enough to settle after: nothing more than the two counts above ran.
    expect(invocationLines(hosts, 'processItem')).toHaveLength(24);
    expect(invocationLines(hosts, 'onUpload')).toHaveLength(10);
  }, 180_000);

  test('a start-up error is reported on stdout and the process exits non-zero', async () => {
    await expect(
      spawnHostProcess({
        env: {
          AzureWebJobsStorage: local.stack.azurite.connectionString,
          LOCAL_HOST_ENTRY: fixture('queueApp.ts'),
          LOCAL_HOST_HOST_JSON: fixture('host.json'),
          LOCAL_HOST_HTTP_PORT: 'off',
        },
      }),
    ).rejects.toThrow(/app setting "(ITEMS|FORWARD)_QUEUE", which is not set/);
  }, 120_000);
});
