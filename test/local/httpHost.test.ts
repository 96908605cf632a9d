import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLocalFunctionsHost, type LocalFunctionsHost } from '../../dev/local/host/LocalFunctionsHost.js';
import type { LocalHostLogEntry } from '../../dev/local/host/logger.js';
import { recordInvocations, type InvocationRecorder } from '../support/invocations.js';
import { hookCalls } from './fixtures/recorder.js';

const entry = fileURLToPath(new URL('./fixtures/httpApp.ts', import.meta.url));
const hostJsonPath = fileURLToPath(new URL('./fixtures/host.json', import.meta.url));
const functionKey = 'test-function-key';

describe('local host: HTTP triggers', () => {
  let host: LocalFunctionsHost;
  let invocations: InvocationRecorder;
  const logs: LocalHostLogEntry[] = [];

  beforeAll(async () => {
    host = createLocalFunctionsHost({
      entryModules: [entry],
      hostJsonPath,
      env: {},
      httpPort: 0,
      functionKey,
      logger: { log: (entry) => logs.push(entry) },
    });
    invocations = recordInvocations(host);
    await host.start();
  });

  afterAll(async () => {
    invocations.dispose();
    await host.stop();
  });

  const url = (path: string): string => `${host.httpUrl}${path}`;

  test('captures every app.http registration with its bindings', () => {
    const names = host.functions.map((fn) => fn.name).sort();
    expect(names).toEqual(
      [
        'boom',
        'cancelJob',
        'cookies',
        'createJob',
        'files',
        'getJob',
        'hello',
        'itemById',
        'itemByName',
        'nothing',
        'streamed',
      ].sort(),
    );
    const cancel = host.functions.find((fn) => fn.name === 'cancelJob');
    const trigger = Object.values(cancel?.metadata.bindings ?? {}).find((binding) => binding.type === 'httpTrigger');
    expect(trigger).toMatchObject({
      route: 'jobs/{jobId}/cancel',
      methods: ['POST', 'DELETE'],
      authLevel: 'function',
      direction: 'in',
    });
    expect(cancel?.triggerType).toBe('httpTrigger');
  });

  test('routes by template and passes params, query and url to the handler', async () => {
    const response = await fetch(url('/api/jobs/job-42?q=x%20y'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ jobId: 'job-42', q: 'x y', url: url('/api/jobs/job-42?q=x%20y') });
  });

  test('a JSON body in, status, headers and a JSON body out', async () => {
    const response = await fetch(url('/api/jobs'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-echo': 'echoed' },
      body: JSON.stringify({ name: 'batch-1' }),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe('/api/jobs/1');
    expect(response.headers.get('x-echo')).toBe('echoed');
    expect(await response.json()).toEqual({ created: 'batch-1' });
  });

  test('404 JSON when no route matches, 405 with Allow when only the method is wrong', async () => {
    const missing = await fetch(url('/api/nope/nothing/here'));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'NotFound' } });

    const outsidePrefix = await fetch(url('/jobs/1'));
    expect(outsidePrefix.status).toBe(404);
    await outsidePrefix.body?.cancel();

    const wrongMethod = await fetch(url('/api/jobs/1'), { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
    expect(await wrongMethod.json()).toMatchObject({ error: { code: 'MethodNotAllowed' } });
  });

  test('function-level routes need the key in x-functions-key or ?code=', async () => {
    const anonymous = await fetch(url('/api/jobs/7/cancel'), { method: 'POST' });
    expect(anonymous.status).toBe(401);
    await anonymous.body?.cancel();

    const wrongKey = await fetch(url('/api/jobs/7/cancel'), { method: 'POST', headers: { 'x-functions-key': 'nope' } });
    expect(wrongKey.status).toBe(401);
    await wrongKey.body?.cancel();

    const withHeader = await fetch(url('/api/jobs/7/cancel'), {
      method: 'POST',
      headers: { 'x-functions-key': functionKey },
    });
    expect(withHeader.status).toBe(202);
    expect(await withHeader.json()).toEqual({ cancelled: '7' });

    const withQuery = await fetch(url(`/api/jobs/8/cancel?code=${functionKey}`), { method: 'DELETE' });
    expect(withQuery.status).toBe(202);
    expect(await withQuery.json()).toEqual({ cancelled: '8' });
  });

  test('constraints pick between routes; optional parameters may be omitted', async () => {
    expect(await (await fetch(url('/api/items/12'))).json()).toEqual({ by: 'id', id: '12' });
    expect(await (await fetch(url('/api/items/abc'))).json()).toEqual({ by: 'name', name: 'abc' });
    const neither = await fetch(url('/api/items/a1'));
    expect(neither.status).toBe(404);
    await neither.body?.cancel();
    expect(await (await fetch(url('/api/files/report.txt'))).text()).toBe('report.txt');
    expect(await (await fetch(url('/api/files'))).text()).toBe('(none)');
    expect(await (await fetch(url('/api/HELLO'))).text()).toBe('hello');
  });

  test('a throwing handler gives 500 without leaking the error, and is logged with its invocation id', async () => {
    const response = await fetch(url('/api/boom'));
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain('hunter2');
    const body = JSON.parse(text) as { error: { code: string; invocationId: string } };
    expect(body.error.code).toBe('InternalServerError');
    const event = await invocations.next((e) => e.invocationId === body.error.invocationId);
    expect(event).toMatchObject({ functionName: 'boom', outcome: 'failed', trigger: { type: 'http', status: 500 } });
    expect(event.error?.message).toContain('hunter2');
    const logged = logs.find((log) => log.invocationId === body.error.invocationId && log.level === 'error');
    expect(logged).toMatchObject({ functionName: 'boom', category: 'host' });
    expect(logged?.error?.message).toContain('hunter2');
  });

  test('streams async-iterable bodies; no response means 204; cookies are written', async () => {
    const streamed = await fetch(url('/api/streamed'));
    expect(streamed.headers.get('content-type')).toBe('application/x-ndjson');
    expect(await streamed.text()).toBe('line 0\nline 1\nline 2\n');

    const nothing = await fetch(url('/api/nothing'));
    expect(nothing.status).toBe(204);

    const cookies = await fetch(url('/api/cookies'));
    expect(cookies.headers.getSetCookie()).toEqual(['session=abc; Path=/; HttpOnly']);
    expect(await cookies.text()).toBe('ok');
  });

  test('context.log reaches the host logger with function name and invocation id', async () => {
    const response = await fetch(url('/api/jobs/logged'));
    await response.body?.cancel();
    const event = await invocations.next(
      (e) => e.functionName === 'getJob' && e.trigger.type === 'http' && e.trigger.path === '/api/jobs/logged',
    );
    const userLog = logs.find((log) => log.category === 'user' && log.invocationId === event.invocationId);
    expect(userLog).toMatchObject({ level: 'information', functionName: 'getJob', message: 'reading job logged' });
  });

  test('app hooks run: appStart once, pre/post around each invocation', async () => {
    const response = await fetch(url('/api/hello'));
    await response.body?.cancel();
    await invocations.next((e) => e.functionName === 'hello');
    expect(hookCalls.filter((call) => call === 'appStart')).toHaveLength(1);
    expect(hookCalls).toContain('pre:hello');
    expect(hookCalls).toContain('post:hello:ok');
    expect(hookCalls).toContain('post:boom:error');
  });

  test('a second host in the same process sees the same registrations', async () => {
    const second = createLocalFunctionsHost({ entryModules: [entry], hostJsonPath, env: {}, httpPort: 0 });
    await second.start();
    try {
      expect(second.functions.map((fn) => fn.name).sort()).toEqual(host.functions.map((fn) => fn.name).sort());
      const response = await fetch(`${second.httpUrl}/api/jobs/again`);
      expect(await response.json()).toMatchObject({ jobId: 'again' });
    } finally {
      await second.stop();
    }
  });
});
