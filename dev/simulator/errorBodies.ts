import type { ValidationFailure } from './validateChatRequest.js';

/** Status, `x-ms-error-code` and JSON body of an error response. */
export interface ErrorResponse {
  readonly status: number;
  readonly errorCode: string;
  readonly body: unknown;
}

function errorEnvelope(status: number, code: string, message: string): ErrorResponse {
  return { status, errorCode: code, body: { error: { code, message, status } } };
}

export function unauthorized(): ErrorResponse {
  return errorEnvelope(
    401,
    'Unauthorized',
    'Access denied due to a missing or invalid key. Send it as `Authorization: Bearer <key>` or `api-key: <key>`.',
  );
}

export function notFound(path: string): ErrorResponse {
  return errorEnvelope(404, 'NotFound', `No route for ${path}.`);
}

export function methodNotAllowed(method: string, path: string): ErrorResponse {
  return errorEnvelope(405, 'MethodNotAllowed', `${method} is not allowed on ${path}.`);
}

export function payloadTooLarge(maxBodyBytes: number): ErrorResponse {
  return errorEnvelope(413, 'PayloadTooLarge', `The request body is larger than ${maxBodyBytes} bytes.`);
}

export function invalidJson(): ErrorResponse {
  return errorEnvelope(400, 'BadRequest', 'The request body is not valid JSON.');
}

/** Azure AI Model Inference 422 shape. */
export function unprocessable(failure: ValidationFailure): ErrorResponse {
  return {
    status: 422,
    errorCode: failure.code,
    body: {
      status: 422,
      code: failure.code,
      detail: { loc: failure.loc, input: failure.input },
      message: failure.message,
    },
  };
}

export function contentFilter(): ErrorResponse {
  return {
    status: 400,
    errorCode: 'content_filter',
    body: {
      error: {
        code: 'content_filter',
        message:
          'The response was filtered due to the prompt triggering the content management policy. Please modify your prompt and retry.',
        param: 'prompt',
        type: null,
        status: 400,
      },
    },
  };
}

export function rateLimited(retryAfterInSeconds: number, reason?: string): ErrorResponse {
  const message =
    reason === undefined
      ? `Rate limit is exceeded. Try again in ${retryAfterInSeconds} seconds.`
      : `${reason} Try again in ${retryAfterInSeconds} seconds.`;
  return { status: 429, errorCode: '429', body: { error: { code: '429', message }, message, status: 429 } };
}

export function serverError(): ErrorResponse {
  return errorEnvelope(
    500,
    'InternalServerError',
    'The server had an error while processing your request. Please retry.',
  );
}

export function gatewayTimeout(): ErrorResponse {
  return errorEnvelope(504, 'GatewayTimeout', 'The model did not answer in time.');
}

export function simulatorInternalError(message: string): ErrorResponse {
  return errorEnvelope(500, 'SimulatorInternalError', `The simulator failed: ${message}`);
}

export function invalidSetting(message: string): ErrorResponse {
  return errorEnvelope(422, 'invalid_simulator_setting', message);
}
