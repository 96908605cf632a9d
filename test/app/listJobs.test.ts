import { HttpRequest, InvocationContext } from '@azure/functions';
import { InMemoryScheduleViews } from '../../src/adapters/memory/InMemoryScheduleViews.js';
import { describe, expect, it } from 'vitest';
import { httpHandler, jsonResponse } from '../../src/adapters/functions/httpResponses.js';
import { InMemoryJobStore } from '../../src/adapters/memory/InMemoryJobStore.js';
import { listJobs } from '../../src/app/jobQueries.js';
import { sampleJob } from '../adapters/jobStoreConformance.js';

const token = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

describe('listing jobs with a bad page token', () => {
  it.each(['{"x":1}', '1', '"abc"', '{"offset":-3}'])('after = base64url(%s) is a 400 naming after', async (text) => {
    const jobs = new InMemoryJobStore();
    await jobs.createJob(sampleJob());
    const handler = httpHandler(async (request) =>
      jsonResponse(
        200,
        await listJobs(
          { jobs, schedule: new InMemoryScheduleViews() },
          { limit: null, after: request.query.get('after'), maxPageSize: 100 },
        ),
      ),
    );
    const request = new HttpRequest({ method: 'GET', url: `http://127.0.0.1/api/jobs?after=${token(text)}` });
    const response = await handler(request, new InvocationContext({ functionName: 'listJobs', invocationId: 'test' }));
    expect(response.status).toBe(400);
    expect(response.jsonBody).toMatchObject({ error: { code: 'bad_request', param: 'after' } });
  });

  it('a token it handed out still pages on', async () => {
    const jobs = new InMemoryJobStore();
    for (let i = 0; i < 3; i += 1) await jobs.createJob(sampleJob(undefined, 1_000 + i));
    const first = await listJobs(
      { jobs, schedule: new InMemoryScheduleViews() },
      { limit: '2', after: null, maxPageSize: 100 },
    );
    const second = await listJobs(
      { jobs, schedule: new InMemoryScheduleViews() },
      { limit: '2', after: first.next_page, maxPageSize: 100 },
    );
    expect([first.data.length, second.data.length, second.has_more]).toEqual([2, 1, false]);
  });
});
