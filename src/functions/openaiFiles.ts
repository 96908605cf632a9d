import { Readable } from 'node:stream';
import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { jsonResponse } from '../adapters/functions/httpResponses.js';
import { multipartForm } from '../adapters/functions/multipartForm.js';
import { openaiHandler } from '../adapters/functions/openaiResponses.js';
import { createFile, deleteFile, getFile, listFiles, openFileContent } from '../app/openai/files.js';
import { getServices } from '../compositionRoot.js';

// The OpenAI Files API (the SDK's baseURL is `https://<app>/api/v1`): uploads for batches, and the files batches write.

export async function createFileHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  const form = multipartForm(request.headers.get('content-type'), request.body as Parameters<typeof multipartForm>[1]);
  return jsonResponse(200, await createFile(services.filesDeps(), form));
}

export async function listFilesHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  const query = {
    limit: request.query.get('limit'),
    after: request.query.get('after'),
    purpose: request.query.get('purpose'),
  };
  return jsonResponse(200, await listFiles(services.filesDeps(), query));
}

export async function getFileHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  return jsonResponse(200, await getFile(services.filesDeps(), request.params['fileId']));
}

export async function getFileContentHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  const content = await openFileContent(services.filesDeps(), request.params['fileId']);
  return {
    status: 200,
    headers: { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' },
    body: Readable.from(content),
  };
}

export async function deleteFileHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const services = await getServices();
  return jsonResponse(200, await deleteFile(services.filesDeps(), request.params['fileId']));
}

const authLevel = 'function';
app.http('openaiCreateFile', {
  route: 'v1/files',
  methods: ['POST'],
  authLevel,
  handler: openaiHandler(createFileHandler),
});
app.http('openaiListFiles', {
  route: 'v1/files',
  methods: ['GET'],
  authLevel,
  handler: openaiHandler(listFilesHandler),
});
app.http('openaiGetFile', {
  route: 'v1/files/{fileId}',
  methods: ['GET'],
  authLevel,
  handler: openaiHandler(getFileHandler),
});
app.http('openaiDeleteFile', {
  route: 'v1/files/{fileId}',
  methods: ['DELETE'],
  authLevel,
  handler: openaiHandler(deleteFileHandler),
});
app.http('openaiGetFileContent', {
  route: 'v1/files/{fileId}/content',
  methods: ['GET'],
  authLevel,
  handler: openaiHandler(getFileContentHandler),
});
