import { Readable } from 'node:stream';
import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { httpHandler } from '../adapters/functions/httpResponses.js';
import { parseResultKind, requireJob, requireOutcomesKept, streamResults } from '../app/jobQueries.js';
import { getServices } from '../compositionRoot.js';

export async function getJobResultsHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  const kind = parseResultKind(request.query.get('kind'));
  const { job } = await requireJob(services.jobs, request.params['jobId']);
  requireOutcomesKept(job);
  return {
    status: 200,
    headers: { 'content-type': 'application/jsonl; charset=utf-8', 'x-job-status': job.status },
    body: Readable.from(streamResults(services.jobs, job.id, kind)),
  };
}

app.http('getJobResults', {
  route: 'jobs/{jobId}/results',
  methods: ['GET'],
  authLevel: 'function',
  handler: httpHandler(getJobResultsHandler),
});
