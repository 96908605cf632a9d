import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { BadRequestError, ConflictError, NotFoundError, ensureError } from '../../core/errors.js';

export function jsonResponse(status: number, body: unknown): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'cache-control': 'no-store' } };
}

function errorResponse(status: number, code: string, message: string, param?: string): HttpResponseInit {
  return jsonResponse(status, { error: { code, message, param: param ?? null } });
}

/** Maps the app's errors to HTTP; anything unexpected is logged and answered without internals. */
export function httpHandler(
  handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>,
): (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (thrown) {
      if (thrown instanceof BadRequestError) return errorResponse(400, thrown.code, thrown.message, thrown.parameter);
      if (thrown instanceof NotFoundError) return errorResponse(404, thrown.code, thrown.message);
      if (thrown instanceof ConflictError) return errorResponse(409, thrown.code, thrown.message);
      const error = ensureError(thrown);
      context.error(`${request.method} ${new URL(request.url).pathname} failed: ${error.name}: ${error.message}`);
      return errorResponse(
        500,
        'internal_error',
        `The request failed; see the function logs for invocation ${context.invocationId}`,
      );
    }
  };
}
