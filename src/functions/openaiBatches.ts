import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { jsonResponse } from '../adapters/functions/httpResponses.js';
import { openaiHandler, readJsonBody } from '../adapters/functions/openaiResponses.js';
import { cancelBatch, createBatch, getBatch, listBatches } from '../app/openai/batches.js';
import { parseJobFilter } from '../app/jobFilter.js';
import { getServices } from '../compositionRoot.js';

// The OpenAI Batches API over this service's jobs: a batch is a job, whether created here or by dropping a file.

export async function createBatchHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  return jsonResponse(200, await createBatch(services.batchesDeps(), await readJsonBody(request)));
}

export async function getBatchHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  return jsonResponse(200, await getBatch(services.jobs, request.params['batchId']));
}

export async function listBatchesHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  const page = await listBatches(services.jobs, {
    limit: request.query.get('limit'),
    after: request.query.get('after'),
    filter: parseJobFilter(request.query),
  });
  return jsonResponse(200, page);
}

export async function cancelBatchHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  return jsonResponse(200, await cancelBatch(services, request.params['batchId']));
}

const authLevel = 'function';
app.http('openaiCreateBatch', {
  route: 'v1/batches',
  methods: ['POST'],
  authLevel,
  handler: openaiHandler(createBatchHandler),
});
app.http('openaiListBatches', {
  route: 'v1/batches',
  methods: ['GET'],
  authLevel,
  handler: openaiHandler(listBatchesHandler),
});
app.http('openaiGetBatch', {
  route: 'v1/batches/{batchId}',
  methods: ['GET'],
  authLevel,
  handler: openaiHandler(getBatchHandler),
});
app.http('openaiCancelBatch', {
  route: 'v1/batches/{batchId}/cancel',
  methods: ['POST'],
  authLevel,
  handler: openaiHandler(cancelBatchHandler),
});
