import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { httpHandler, jsonResponse } from '../adapters/functions/httpResponses.js';
import { setJobPriority } from '../app/changePriority.js';
import { getServices } from '../compositionRoot.js';
import { BadRequestError } from '../core/errors.js';

export async function setJobPriorityHandler(request: HttpRequest): Promise<HttpResponseInit> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new BadRequestError('The body must be JSON, e.g. {"priority": "high"}', 'priority');
  }
  const services = await getServices();
  return jsonResponse(200, await setJobPriority(services, request.params['jobId'], body));
}

app.http('setJobPriority', {
  route: 'jobs/{jobId}',
  methods: ['PATCH'],
  authLevel: 'function',
  handler: httpHandler(setJobPriorityHandler),
});
