import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiError, ApiErrorCode, BatchApiClient, splitLines } from '../../cli/apiClient.js';
import { FakeJobsApi, outputLine } from './fakeJobsApi.js';
import { batchObject, JOB_ID, stages } from './fixtures.js';

let api: FakeJobsApi;
let client: BatchApiClient;

beforeAll(async () => {
  api = await FakeJobsApi.start();
  client = new BatchApiClient({ baseUrl: `${api.baseUrl}/` });
});
afterAll(async () => {
  await api.close();
});

describe('getJob', () => {
  test('returns the job object', async () => {
    api.setJob(stages.running(10, 4));
    await expect(client.getJob(JOB_ID)).resolves.toEqual(stages.running(10, 4));
  });

  test('a job the API does not know: undefined', async () => {
    await expect(client.getJob(`job_${'0'.repeat(32)}`)).resolves.toBeUndefined();
  });

  test('a 400 becomes an ApiError with the API code, message and param', async () => {
    const error = await client.getJob('job_nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      name: 'ApiError',
      status: 400,
      code: 'bad_request',
      param: 'jobId',
      retryable: false,
    });
    expect((error as Error).message).toContain('job_ followed by 32 hex digits');
  });

  test('a 404 that is not the API answering (wrong base URL) is an error, not "no job yet"', async () => {
    const wrong = new BatchApiClient({ baseUrl: `${api.baseUrl}/v2` });
    await expect(wrong.getJob(JOB_ID)).rejects.toMatchObject({ status: 404, code: ApiErrorCode.routeNotFound });
  });

  test('nothing listening: api_unreachable, retryable', async () => {
    const closed = await FakeJobsApi.start();
    const url = closed.baseUrl;
    await closed.close();
    const error = await new BatchApiClient({ baseUrl: url }).getJob(JOB_ID).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ApiErrorCode.unreachable, status: undefined, retryable: true });
    expect((error as Error).message).toContain(url);
  });
});

describe('function key', () => {
  test('is sent as x-functions-key, and a refusal says what is missing', async () => {
    const guarded = await FakeJobsApi.start({ functionKey: 'k3y' });
    try {
      guarded.setJob(stages.created());
      await expect(
        new BatchApiClient({ baseUrl: guarded.baseUrl, functionKey: 'k3y' }).getJob(JOB_ID),
      ).resolves.toMatchObject({ id: JOB_ID });
      expect(guarded.requests.at(-1)?.headers['x-functions-key']).toBe('k3y');
      await expect(new BatchApiClient({ baseUrl: guarded.baseUrl }).getJob(JOB_ID)).rejects.toMatchObject({
        status: 401,
        code: ApiErrorCode.unauthorized,
      });
      expect(guarded.requests.at(-1)?.headers['x-functions-key']).toBeUndefined();
    } finally {
      await guarded.close();
    }
  });
});

describe('listJobs', () => {
  test('passes limit and after, and returns the page', async () => {
    api.listed = [0, 1, 2].map((n) => batchObject((j) => j, `job_${String(n).repeat(32)}`));
    const first = await client.listJobs({ limit: 2 });
    expect(first.data.map((j) => j.id)).toEqual([`job_${'0'.repeat(32)}`, `job_${'1'.repeat(32)}`]);
    expect(first.has_more).toBe(true);
    const second = await client.listJobs({ limit: 2, after: first.next_page! });
    expect(second).toMatchObject({ has_more: false, next_page: null });
    expect(second.data.map((j) => j.id)).toEqual([`job_${'2'.repeat(32)}`]);
    expect(api.requests.at(-1)?.url).toBe(`/api/jobs?limit=2&after=${first.next_page}`);
  });

  test('a bad limit: ApiError with the API code', async () => {
    await expect(client.listJobs({ limit: 1000 })).rejects.toMatchObject({
      status: 400,
      code: 'bad_request',
      param: 'limit',
    });
  });
});

describe('results', () => {
  test('streamResults yields one JSON document per line, by kind', async () => {
    api.results.set(JOB_ID, {
      status: 'completed',
      lines: [outputLine('a', true), outputLine('b', false), outputLine('c', true)],
    });
    const collect = async (kind: 'results' | 'errors' | 'all') => {
      const ids: string[] = [];
      for await (const line of client.streamResults(JOB_ID, kind))
        ids.push((JSON.parse(line) as { custom_id: string }).custom_id);
      return ids;
    };
    expect(await collect('results')).toEqual(['a', 'c']);
    expect(await collect('errors')).toEqual(['b']);
    expect(await collect('all')).toEqual(['a', 'b', 'c']);
  });

  test('getResults reports the job status the lines were read at', async () => {
    api.results.set(JOB_ID, { status: 'in_progress', lines: [] });
    const results = await client.getResults(JOB_ID);
    expect(results.jobStatus).toBe('in_progress');
    for await (const _ of results.body) expect.unreachable();
  });

  test('results of an unknown job: ApiError not_found', async () => {
    await expect(client.getResults(`job_${'f'.repeat(32)}`)).rejects.toMatchObject({ status: 404, code: 'not_found' });
  });
});

describe('splitLines', () => {
  test('joins lines across chunks and multi-byte characters split between them', async () => {
    const bytes = Buffer.from('{"a":"é"}\r\n\n{"b":"✓"}\n{"c":1}', 'utf8');
    const chunks = [...bytes].map((byte) => Buffer.from([byte]));
    const lines: string[] = [];
    for await (const line of splitLines(
      (async function* () {
        yield* chunks;
      })(),
    ))
      lines.push(line);
    expect(lines).toEqual(['{"a":"é"}', '{"b":"✓"}', '{"c":1}']);
  });
});
