import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { httpHandler, jsonResponse } from '../adapters/functions/httpResponses.js';
import { cancelJob } from '../app/cancelJob.js';
import { getServices } from '../compositionRoot.js';
import { toBatchObject } from '../core/batchObject.js';

export async function cancelJobHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  const job = await cancelJob(services, request.params['jobId']);
  return jsonResponse(200, toBatchObject(job));
}

app.http('cancelJob', {
  route: 'jobs/{jobId}/cancel',
  methods: ['POST'],
  authLevel: 'function',
  handler: httpHandler(cancelJobHandler),
});
