import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, test } from 'vitest';
import { blobReceiptsContainerName } from '../../dev/local/host/BlobListener.js';
import {
  createLocalFunctionsHost,
  type CreateLocalFunctionsHostOptions,
} from '../../dev/local/host/LocalFunctionsHost.js';
import { parseTimerSchedule } from '../../dev/local/host/timerSchedule.js';
import { recordInvocations } from '../support/invocations.js';
import { withLocalStack } from '../support/localStack.js';
import { uniqueName } from '../support/uniqueName.js';
import { waitFor } from '../support/waitFor.js';
import { receivedBy } from './fixtures/recorder.js';

const entry = fileURLToPath(new URL('./fixtures/timerApp.ts', import.meta.url));
const hostJsonPath = fileURLToPath(new URL('./fixtures/host.json', import.meta.url));

const local = withLocalStack({ cosmos: false });

function options(
  schedule: string,
  overrides: Partial<CreateLocalFunctionsHostOptions> = {},
): CreateLocalFunctionsHostOptions {
  return {
    entryModules: [entry],
    hostJsonPath,
    env: { AzureWebJobsStorage: local.stack.azurite.connectionString, TICK_SCHEDULE: schedule },
    httpEnabled: false,
    // A fresh host id per test keeps each test's timer status blob apart.
    hostId: uniqueName('h').slice(0, 32).replace(/-+$/, ''),
    ...overrides,
  };
}

describe('NCRONTAB schedules', () => {
  test('six fields with seconds, in UTC by default', () => {
    const schedule = parseTimerSchedule('0 */5 * * * *', 'tick');
    expect(schedule.next(new Date('2024-03-01T10:02:30Z')).toISOString()).toBe('2024-03-01T10:05:00.000Z');
    expect(parseTimerSchedule('30 0 9 * * Mon-Fri', 'tick').next(new Date('2024-03-02T00:00:00Z')).toISOString()).toBe(
      '2024-03-04T09:00:30.000Z',
    );
  });

  test('TimeSpan intervals', () => {
    expect(parseTimerSchedule('00:00:10', 'tick').next(new Date('2024-03-01T10:00:00Z')).toISOString()).toBe(
      '2024-03-01T10:00:10.000Z',
    );
  });

  test('five-field and malformed expressions fail naming the function', () => {
    expect(() => parseTimerSchedule('*/5 * * * *', 'tick')).toThrow(/"tick".*6 fields/);
    expect(() => parseTimerSchedule('99 * * * * *', 'tick')).toThrow(/"tick".*not a valid NCRONTAB/);
  });
});

describe('local host: timer triggers', () => {
  test('invokeTimer runs the handler with a Timer object', async () => {
    const host = createLocalFunctionsHost(options('0 0 0 1 1 *'));
    await host.start();
    try {
      const event = await host.invokeTimer('tick');
      expect(event).toMatchObject({
        functionName: 'tick',
        outcome: 'succeeded',
        trigger: { type: 'timer', isPastDue: false },
      });
      const timer = receivedBy('tick').find((r) => r.invocationId === event.invocationId)?.input;
      expect(timer).toMatchObject({ isPastDue: false, schedule: { adjustForDST: true } });
      expect(timer).toHaveProperty('scheduleStatus.next');
      await expect(host.invokeTimer('nope')).rejects.toMatchObject({ code: 'UnknownFunction' });
    } finally {
      await host.stop();
    }
  });

  test('fires on schedule, each occurrence on one host only, and records status like the host', async () => {
    const shared = options('* * * * * *');
    const hosts = [createLocalFunctionsHost(shared), createLocalFunctionsHost(shared)];
    const recorders = hosts.map((host) => recordInvocations(host));
    await Promise.all(hosts.map((host) => host.start()));
    try {
      const ticks = () => recorders.flatMap((recorder) => recorder.events).filter((e) => e.functionName === 'tick');
      await waitFor(() => ticks().length >= 3, { description: 'three timer occurrences across both hosts' });
    } finally {
      await Promise.all(hosts.map((host) => host.stop()));
      recorders.forEach((recorder) => recorder.dispose());
    }
    const occurrences = recorders
      .flatMap((recorder) => recorder.events)
      .filter((e) => e.functionName === 'tick')
      .map((e) => (e.trigger.type === 'timer' ? e.trigger.scheduledFor?.toISOString() : undefined));
    expect(new Set(occurrences).size).toBe(occurrences.length);

    const status = BlobServiceClient.fromConnectionString(local.stack.azurite.connectionString)
      .getContainerClient(blobReceiptsContainerName)
      .getBlobClient(`timers/${String(shared.hostId)}/Host.Functions.tick/status`);
    const body = JSON.parse((await status.downloadToBuffer()).toString('utf8')) as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(['Last', 'LastUpdated', 'Next']);
    expect(occurrences).toContain(body.Last);
  });

  test('runOnStartup and past-due occurrences run at start', async () => {
    const hostOptions = options('0 0 0 1 1 *');
    // A status saying an occurrence was due in the past, as a host that was down would leave it.
    const container = BlobServiceClient.fromConnectionString(local.stack.azurite.connectionString).getContainerClient(
      blobReceiptsContainerName,
    );
    await container.createIfNotExists();
    const status = JSON.stringify({
      Last: '2020-01-01T00:00:00.000Z',
      Next: '2021-01-01T00:00:00.000Z',
      LastUpdated: '2020-01-01T00:00:00.000Z',
    });
    await container
      .getBlockBlobClient(`timers/${String(hostOptions.hostId)}/Host.Functions.tick/status`)
      .upload(status, Buffer.byteLength(status));
    const host = createLocalFunctionsHost(hostOptions);
    const invocations = recordInvocations(host);
    await host.start();
    try {
      const startup = await invocations.next((e) => e.functionName === 'startupTick');
      expect(startup).toMatchObject({ outcome: 'succeeded', trigger: { type: 'timer', isPastDue: false } });
      const pastDue = await invocations.next(
        (e) => e.functionName === 'tick' && e.trigger.type === 'timer' && e.trigger.isPastDue,
      );
      expect(pastDue.trigger).toMatchObject({ scheduledFor: new Date('2021-01-01T00:00:00.000Z') });
      const timer = receivedBy('tick').find((r) => r.invocationId === pastDue.invocationId)?.input;
      expect(timer).toMatchObject({ isPastDue: true, scheduleStatus: { last: '2020-01-01T00:00:00.000Z' } });
    } finally {
      invocations.dispose();
      await host.stop();
    }
  });
});
