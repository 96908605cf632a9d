import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { FileTooLargeError } from '../../app/openai/ports.js';
import { BadRequestError, ConflictError, ErrorCode, NotFoundError } from '../../core/errors.js';
import { answeringErrors, jsonResponse, type HttpHandler } from './httpResponses.js';

/** OpenAI's error body: `{error: {message, type, param, code}}`; the SDK turns the status into its typed errors. */
export function openaiError(
  status: number,
  type: string,
  message: string,
  param?: string,
  code?: string,
): HttpResponseInit {
  return jsonResponse(status, { error: { message, type, param: param ?? null, code: code ?? null } });
}

/** Our generic codes say nothing OpenAI's `code` would: they become null, as OpenAI's are for these errors. */
const specificCode = (code: string): string | undefined =>
  code === ErrorCode.badRequest || code === ErrorCode.notFound || code === ErrorCode.conflict ? undefined : code;

/** Maps the app's errors to OpenAI's statuses and body; anything unexpected is logged and answered without internals. */
export function openaiHandler(handler: HttpHandler): HttpHandler {
  return answeringErrors(handler, {
    known(thrown) {
      if (thrown instanceof BadRequestError)
        return openaiError(400, 'invalid_request_error', thrown.message, thrown.parameter, specificCode(thrown.code));
      if (thrown instanceof NotFoundError)
        return openaiError(404, 'invalid_request_error', thrown.message, thrown.parameter);
      if (thrown instanceof ConflictError) return openaiError(409, 'invalid_request_error', thrown.message);
      if (thrown instanceof FileTooLargeError)
        return openaiError(413, 'invalid_request_error', thrown.message, 'file', thrown.code);
      return undefined;
    },
    unexpected: (message) => openaiError(500, 'server_error', message),
  });
}

/** The JSON body, or a 400 in OpenAI's shape. */
export async function readJsonBody(request: HttpRequest): Promise<unknown> {
  const text = await request.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BadRequestError('The request body is not valid JSON');
  }
}
