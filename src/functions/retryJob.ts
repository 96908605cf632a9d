import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { httpHandler, jsonResponse } from '../adapters/functions/httpResponses.js';
import { retryFailedLines } from '../app/retryFailedLines.js';
import { getServices } from '../compositionRoot.js';
import { toBatchObject } from '../core/batchObject.js';
import { BadRequestError } from '../core/errors.js';

export async function retryJobHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const flag = request.query.get('retryable_only');
  if (flag !== null && flag !== 'true' && flag !== 'false')
    throw new BadRequestError('retryable_only must be true or false', 'retryable_only');
  const services = await getServices();
  const result = await retryFailedLines(services.ingestDeps(context), request.params['jobId'], {
    retryableOnly: flag === 'true',
  });
  return jsonResponse(200, { retried_lines: result.retried, job: toBatchObject(result.job) });
}

app.http('retryJob', {
  route: 'jobs/{jobId}/retry',
  methods: ['POST'],
  authLevel: 'function',
  handler: httpHandler(retryJobHandler),
});
