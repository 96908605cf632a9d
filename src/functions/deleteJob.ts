import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { httpHandler, jsonResponse } from '../adapters/functions/httpResponses.js';
import { deleteJob } from '../app/deleteJob.js';
import { getServices } from '../compositionRoot.js';
import { toBatchObject } from '../core/batchObject.js';

export async function deleteJobHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const services = await getServices();
  const job = await deleteJob(services.retentionDeps(context), request.params['jobId']);
  return jsonResponse(200, toBatchObject(job));
}

app.http('deleteJob', {
  route: 'jobs/{jobId}',
  methods: ['DELETE'],
  authLevel: 'function',
  handler: httpHandler(deleteJobHandler),
});
