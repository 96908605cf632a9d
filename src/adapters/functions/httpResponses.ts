import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { BadRequestError, ConflictError, NotFoundError, ensureError } from '../../core/errors.js';

export function jsonResponse(status: number, body: unknown): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'cache-control': 'no-store' } };
}

function errorResponse(status: number, code: string, message: string, param?: string): HttpResponseInit {
  return jsonResponse(status, { error: { code, message, param: param ?? null } });
}

export type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** How one API answers errors: those it knows, and the rest (logged first, answered without internals). */
export interface ErrorAnswers {
  /** The answer for an error the app raises on purpose; undefined for anything unexpected. */
  known(thrown: unknown): HttpResponseInit | undefined;
  /** The answer for an unexpected error, which points at the invocation's logs. */
  unexpected(message: string): HttpResponseInit;
}

/** Runs the handler, turning what it throws into `answers`' responses; an unexpected error is logged. */
export function answeringErrors(handler: HttpHandler, answers: ErrorAnswers): HttpHandler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (thrown) {
      const known = answers.known(thrown);
      if (known !== undefined) return known;
      const error = ensureError(thrown);
      context.error(`${request.method} ${new URL(request.url).pathname} failed: ${error.name}: ${error.message}`);
      return answers.unexpected(`The request failed; see the function logs for invocation ${context.invocationId}`);
    }
  };
}

/** Maps the app's errors to HTTP; anything unexpected is logged and answered without internals. */
export function httpHandler(handler: HttpHandler): HttpHandler {
  return answeringErrors(handler, {
    known(thrown) {
      if (thrown instanceof BadRequestError) return errorResponse(400, thrown.code, thrown.message, thrown.parameter);
      if (thrown instanceof NotFoundError) return errorResponse(404, thrown.code, thrown.message);
      if (thrown instanceof ConflictError) return errorResponse(409, thrown.code, thrown.message);
      return undefined;
    },
    unexpected: (message) => errorResponse(500, 'internal_error', message),
  });
}
