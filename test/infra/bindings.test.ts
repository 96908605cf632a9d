import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  loadFunctionApp,
  type CapturedFunction,
  type RpcBindingInfo,
} from '../../dev/local/host/captureRegistrations.js';
import { parseHostJson } from '../../dev/local/host/hostJson.js';
import { Unresolved } from './bicep.js';
import { blobContainerNames, eventSubscriptions, functionApp, queueNames, repoRoot } from './infraModel.js';

/** Binding types this file knows how to check against the infra; any other fails the last test. */
const KNOWN_BINDING_TYPES = ['blobTrigger', 'queueTrigger', 'httpTrigger', 'timerTrigger', 'http', 'queue', 'blob'];

/** Where the Functions host keeps blob receipts and timer schedule state. */
const HOST_STATE_CONTAINER = 'azure-webjobs-hosts';
/** Where the host moves a blob that failed its tries (per storage account). */
const BLOB_POISON_QUEUE = 'webjobs-blobtrigger-poison';

let functions: readonly CapturedFunction[] = [];

beforeAll(async () => {
  const app = await loadFunctionApp([join(repoRoot, 'src/index.ts')]);
  functions = app.functions;
});

const settings = functionApp().settings;
const containers = blobContainerNames();
const queues = queueNames();

interface Binding {
  readonly functionName: string;
  readonly info: RpcBindingInfo;
}

function bindings(): Binding[] {
  return functions.flatMap((fn) =>
    Object.values(fn.metadata.bindings).map((info) => ({ functionName: fn.metadata.name, info })),
  );
}

const ofType = (type: string): Binding[] => bindings().filter((b) => b.info.type === type);
const text = (info: RpcBindingInfo, key: string): string | undefined =>
  typeof info[key] === 'string' ? info[key] : undefined;

/** Resolves `%SETTING%` the way the host does, from the Azure app settings (with parameter defaults). */
function resolveInAzure(value: string): string {
  return value.replace(/%([^%]+)%/g, (_all, name: string) => {
    const setting = settings.get(name);
    if (setting === undefined) throw new Error(`%${name}% is not an app setting in the infra`);
    if (typeof setting.value !== 'string' || setting.value === '') {
      throw new Error(`%${name}% has no usable value in the infra: ${String(setting.value)}`);
    }
    return setting.value;
  });
}

describe('the registered functions (src/index.ts) against the infra', () => {
  it('registers functions', () => {
    expect(functions.length).toBeGreaterThan(0);
  });

  it('uses only binding types this test knows how to check', () => {
    const unknown = bindings().filter((b) => !KNOWN_BINDING_TYPES.includes(String(b.info.type)));
    expect(unknown.map((b) => `${b.functionName}: ${String(b.info.type)}`)).toEqual([]);
  });

  it('resolves every %SETTING% in a binding from an app setting the infra sets', () => {
    const problems: string[] = [];
    for (const { functionName, info } of bindings()) {
      for (const [key, value] of Object.entries(info)) {
        if (typeof value !== 'string' || !value.includes('%')) continue;
        try {
          resolveInAzure(value);
        } catch (error) {
          problems.push(`${functionName}.${key}: ${(error as Error).message}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('connects every binding through an identity-based connection of the app identity', () => {
    const clientId = settings.get('AZURE_CLIENT_ID')?.value;
    const problems: string[] = [];
    for (const { functionName, info } of bindings()) {
      const connection = text(info, 'connection');
      if (connection === undefined) continue;
      const has = (suffix: string) => settings.has(`${connection}__${suffix}`);
      if (!has('accountName') && !(has('blobServiceUri') && has('queueServiceUri'))) {
        problems.push(`${functionName}: no ${connection}__accountName (or __blobServiceUri and __queueServiceUri)`);
      }
      if (settings.get(`${connection}__credential`)?.value !== 'managedidentity') {
        problems.push(`${functionName}: ${connection}__credential is not managedidentity`);
      }
      const bindingClient = settings.get(`${connection}__clientId`)?.value;
      if (
        !(bindingClient instanceof Unresolved) ||
        !(clientId instanceof Unresolved) ||
        bindingClient.expr !== clientId.expr
      ) {
        problems.push(`${functionName}: ${connection}__clientId is not the app identity's client id`);
      }
      if (settings.has(connection)) problems.push(`${functionName}: ${connection} is set as a connection string`);
    }
    expect(problems).toEqual([]);
  });

  it('listens on queues the infra creates, each with its poison queue', () => {
    const triggers = ofType('queueTrigger');
    expect(triggers.length).toBeGreaterThan(0);
    for (const { functionName, info } of triggers) {
      const queue = resolveInAzure(text(info, 'queueName') ?? '');
      expect(queues, `${functionName} listens on ${queue}`).toContain(queue);
      expect(queues, `${functionName}: the host moves failed messages to ${queue}-poison`).toContain(`${queue}-poison`);
    }
  });

  it('writes to queues and containers the infra creates (output bindings)', () => {
    for (const { functionName, info } of ofType('queue')) {
      expect(queues, functionName).toContain(resolveInAzure(text(info, 'queueName') ?? ''));
    }
    for (const { functionName, info } of ofType('blob')) {
      expect(containers, functionName).toContain(resolveInAzure(text(info, 'path') ?? '').split('/')[0]);
    }
  });

  it('triggers on blobs through Event Grid, in a container the infra creates, with host state and poison queue', () => {
    const triggers = ofType('blobTrigger');
    expect(triggers.length).toBeGreaterThan(0);
    for (const { functionName, info } of triggers) {
      // Flex Consumption has no polling blob trigger.
      expect(text(info, 'source'), functionName).toBe('EventGrid');
      const container = resolveInAzure(text(info, 'path') ?? '').split('/')[0]!;
      expect(containers, `${functionName} watches ${container}`).toContain(container);
    }
    expect(containers).toContain(HOST_STATE_CONTAINER);
    expect(queues).toContain(BLOB_POISON_QUEUE);
  });

  it('has an Event Grid subscription for each blob trigger, filtered to its container', () => {
    const subscriptions = eventSubscriptions();
    for (const { functionName, info } of ofType('blobTrigger')) {
      const container = resolveInAzure(text(info, 'path') ?? '').split('/')[0]!;
      const subscription = subscriptions.find((s) => s.functionName === functionName);
      expect(subscription, `no Event Grid subscription delivers to ${functionName}`).toBeDefined();
      expect(subscription!.includedEventTypes).toEqual(['Microsoft.Storage.BlobCreated']);
      expect(subscription!.subjectBeginsWith).toBe(`/blobServices/default/containers/${container}/`);
      expect(subscription!.subjectEndsWith).toBe('.jsonl');
    }
  });

  it('delivers every Event Grid subscription to the blob extension webhook of an Event Grid blob trigger', () => {
    const subscriptions = eventSubscriptions();
    expect(subscriptions.length).toBeGreaterThan(0);
    for (const subscription of subscriptions) {
      const target = functions.find((fn) => fn.metadata.name === subscription.functionName);
      expect(
        target,
        `subscription targets ${String(subscription.functionName)}, which is not registered`,
      ).toBeDefined();
      const trigger = Object.values(target!.metadata.bindings).find((b) => b.type === 'blobTrigger');
      expect(trigger?.['source']).toBe('EventGrid');
      expect(subscription.endpointUrlExpr).toMatch(
        /^'https:\/\/\$\{[^}]+\}\/runtime\/webhooks\/blobs\?functionName=Host\.Functions\.\$\{\w+\}&code=\$\{\w+\}'$/,
      );
      const keyVar = /&code=\$\{(\w+)\}'$/.exec(subscription.endpointUrlExpr)?.[1];
      const keyExpr = subscription.use.scope.file.vars.get(keyVar ?? '') ?? '';
      expect(keyExpr).toMatch(/^listKeys\('\$\{\w+\.id\}\/host\/default', '[\d-]+'\)\.systemKeys\.blobs_extension$/);
      expect(containers).toContain(subscription.deadLetterContainer);
    }
  });

  it('serves every HTTP function under the api route prefix with function keys', () => {
    const hostJson = JSON.parse(readFileSync(join(repoRoot, 'host.json'), 'utf8')) as unknown;
    expect(parseHostJson(hostJson).routePrefix).toBe('api');
    const triggers = ofType('httpTrigger');
    expect(triggers.length).toBeGreaterThan(0);
    for (const { functionName, info } of triggers) {
      expect(info['authLevel'], functionName).toBe('function');
      const route = text(info, 'route') ?? functionName;
      expect(route, functionName).not.toMatch(/^\/|^api\//);
    }
  });

  it('keeps timer triggers to a schedule, with host state for their schedule monitor', () => {
    for (const { functionName, info } of ofType('timerTrigger')) {
      expect(text(info, 'schedule'), functionName).toBeTruthy();
      if (text(info, 'schedule')!.includes('%')) resolveInAzure(text(info, 'schedule')!);
      expect(containers).toContain(HOST_STATE_CONTAINER);
    }
  });
});
