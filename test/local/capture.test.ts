import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { loadFunctionApp } from '../../dev/local/host/captureRegistrations.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

function bindingOfType(bindings: Readonly<Record<string, { type?: string | null }>>, type: string) {
  const entries = Object.entries(bindings).filter(([, binding]) => binding.type === type);
  expect(entries).toHaveLength(1);
  return entries[0] as [string, Record<string, unknown>];
}

describe('registration capture', () => {
  test('captures every app.* call of an entry module: names, bindings (by type), handlers', async () => {
    const app = await loadFunctionApp([fixture('queueApp.ts'), fixture('blobApp.ts'), fixture('timerApp.ts')]);
    expect(app.functions.map((fn) => fn.metadata.name)).toEqual([
      'processItem',
      'recordForwarded',
      'onUpload',
      'onRawUpload',
      'tick',
      'startupTick',
    ]);
    const byName = new Map(app.functions.map((fn) => [fn.metadata.name, fn]));

    const [queueBindingName, queueTrigger] = bindingOfType(
      byName.get('processItem')?.metadata.bindings ?? {},
      'queueTrigger',
    );
    // Binding names get random suffixes: the host never relies on them.
    expect(queueBindingName).toMatch(/^queueTrigger[0-9a-f]{10}$/);
    expect(queueTrigger).toMatchObject({
      direction: 'in',
      queueName: '%ITEMS_QUEUE%',
      connection: 'AzureWebJobsStorage',
    });
    const [, queueOutput] = bindingOfType(byName.get('processItem')?.metadata.bindings ?? {}, 'queue');
    expect(queueOutput).toMatchObject({ direction: 'out', queueName: '%FORWARD_QUEUE%' });

    const [, blobTrigger] = bindingOfType(byName.get('onUpload')?.metadata.bindings ?? {}, 'blobTrigger');
    expect(blobTrigger).toMatchObject({
      path: '%UPLOADS_CONTAINER%/incoming/{name}',
      source: 'EventGrid',
      sdkBinding: true,
      properties: { supportsDeferredBinding: 'true' },
    });
    const [, rawTrigger] = bindingOfType(byName.get('onRawUpload')?.metadata.bindings ?? {}, 'blobTrigger');
    expect(rawTrigger).toMatchObject({ properties: { supportsDeferredBinding: 'false' } });

    const [, timerTrigger] = bindingOfType(byName.get('startupTick')?.metadata.bindings ?? {}, 'timerTrigger');
    expect(timerTrigger).toMatchObject({ schedule: '0 0 0 1 1 *', runOnStartup: true });
    expect(typeof byName.get('tick')?.callback).toBe('function');
  });

  test('importing the same entry again returns the same registrations (ESM caches the module)', async () => {
    const first = await loadFunctionApp([fixture('timerApp.ts')]);
    const second = await loadFunctionApp([pathToFileURL(fixture('timerApp.ts')).href]);
    expect(second.functions.map((fn) => fn.callback)).toEqual(first.functions.map((fn) => fn.callback));
  });

  test('registering after start-up fails like the real worker', async () => {
    await loadFunctionApp([fixture('lateApp.ts')]);
    const lateApp = (await import(pathToFileURL(fixture('lateApp.ts')).href)) as { registerLate(): void };
    expect(() => lateApp.registerLate()).toThrow(expect.objectContaining({ code: 'RegistrationOutsideStartup' }));
  });

  test('an entry that registers nothing, duplicates and relative paths are rejected clearly', async () => {
    await expect(loadFunctionApp([fixture('emptyApp.ts')])).rejects.toMatchObject({ code: 'NoFunctionsRegistered' });
    await expect(loadFunctionApp([fixture('httpApp.ts'), fixture('duplicateApp.ts')])).rejects.toMatchObject({
      code: 'DuplicateFunction',
      message: expect.stringContaining('GETJOB'),
    });
    await expect(loadFunctionApp(['fixtures/httpApp.ts'])).rejects.toThrow(/absolute path or a URL/);
  });
});
