import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { httpHandler, jsonResponse } from '../adapters/functions/httpResponses.js';
import { getJobStatus } from '../app/jobQueries.js';
import { getServices } from '../compositionRoot.js';

export async function getJobHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  return jsonResponse(200, await getJobStatus(services, request.params['jobId']));
}

app.http('getJob', {
  route: 'jobs/{jobId}',
  methods: ['GET'],
  authLevel: 'function',
  handler: httpHandler(getJobHandler),
});
