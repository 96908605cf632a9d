import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { httpHandler, type HttpHandler } from '../../src/adapters/functions/httpResponses.js';
import { openaiHandler } from '../../src/adapters/functions/openaiResponses.js';
import { FileTooLargeError } from '../../src/app/openai/ports.js';
import { BadRequestError, ConflictError, NotFoundError } from '../../src/core/errors.js';

/** Calls a handler that throws `error`; returns the response and what was logged as an error. */
async function answerTo(wrap: (handler: HttpHandler) => HttpHandler, error: unknown) {
  const logged: unknown[][] = [];
  const context = new InvocationContext({
    functionName: 'f',
    invocationId: 'inv-1',
    logHandler: (level, ...args) => {
      if (level === 'error') logged.push(args);
    },
  });
  const handler = wrap(async () => {
    throw error;
  });
  const response = await handler(new HttpRequest({ method: 'POST', url: 'http://127.0.0.1/api/thing?x=1' }), context);
  return { response, logged };
}

describe("the API's error answers", () => {
  it.each([
    [new BadRequestError('bad', 'limit'), 400, { code: 'bad_request', message: 'bad', param: 'limit' }],
    [new NotFoundError('gone'), 404, { code: 'not_found', message: 'gone', param: null }],
    [new ConflictError('busy'), 409, { code: 'conflict', message: 'busy', param: null }],
  ])('the app API answers %o with %i, unlogged', async (error, status, body) => {
    const { response, logged } = await answerTo(httpHandler, error);
    expect(response.status).toBe(status);
    expect(response.jsonBody).toEqual({ error: body });
    expect(logged).toEqual([]);
  });

  it.each([
    [new BadRequestError('bad', 'limit'), 400, { type: 'invalid_request_error', param: 'limit', code: null }],
    [new NotFoundError('gone'), 404, { type: 'invalid_request_error', param: null, code: null }],
    [new FileTooLargeError(10), 413, { type: 'invalid_request_error', param: 'file', code: 'file_too_large' }],
  ])('the OpenAI API answers %o with %i in its shape', async (error, status, body) => {
    const { response, logged } = await answerTo(openaiHandler, error);
    expect(response.status).toBe(status);
    expect(response.jsonBody).toMatchObject({ error: body });
    expect(logged).toEqual([]);
  });

  it.each([
    ['app', httpHandler, { code: 'internal_error' }],
    ['OpenAI', openaiHandler, { type: 'server_error', code: null, param: null }],
  ] as const)('the %s API logs an unexpected error and answers 500 without its details', async (_, wrap, body) => {
    const { response, logged } = await answerTo(wrap, new Error('secret detail'));
    expect(response.status).toBe(500);
    expect(response.jsonBody).toMatchObject({
      error: { ...body, message: 'The request failed; see the function logs for invocation inv-1' },
    });
    expect(JSON.stringify(response.jsonBody)).not.toContain('secret detail');
    expect(logged).toEqual([['POST /api/thing failed: Error: secret detail']]);
  });
});
