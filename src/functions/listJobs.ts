import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { httpHandler, jsonResponse } from '../adapters/functions/httpResponses.js';
import { listJobs } from '../app/jobQueries.js';
import { getServices } from '../compositionRoot.js';
import { parseJobFilter } from '../app/jobFilter.js';

export async function listJobsHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  const page = await listJobs(services, {
    limit: request.query.get('limit'),
    after: request.query.get('after'),
    maxPageSize: services.config.limits.maxPageSize,
    filter: parseJobFilter(request.query),
  });
  return jsonResponse(200, page);
}

app.http('listJobs', { route: 'jobs', methods: ['GET'], authLevel: 'function', handler: httpHandler(listJobsHandler) });
