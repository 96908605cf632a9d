/** Stable error codes; callers branch on `code`, never on message text. */
export const ErrorCode = {
  config: 'invalid_configuration',
  notFound: 'not_found',
  badRequest: 'bad_request',
  conflict: 'conflict',
  endpoint: 'endpoint_error',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class Phi3BatchError extends Error {
  override readonly name: string = 'Phi3BatchError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A setting is missing or malformed. The message always names the setting. */
export class ConfigError extends Phi3BatchError {
  override readonly name = 'ConfigError';
  readonly setting: string;

  constructor(setting: string, expected: string, received?: string) {
    super(
      ErrorCode.config,
      `Setting ${setting}: expected ${expected}${received === undefined ? '' : `, got ${JSON.stringify(received)}`}`,
    );
    this.setting = setting;
  }
}

export class NotFoundError extends Phi3BatchError {
  override readonly name = 'NotFoundError';
  /** The request field that named what was not found, when there is one. */
  readonly parameter: string | undefined;
  constructor(message: string, parameter?: string) {
    super(ErrorCode.notFound, message);
    this.parameter = parameter;
  }
}

export class BadRequestError extends Phi3BatchError {
  override readonly name = 'BadRequestError';
  readonly parameter: string | undefined;
  constructor(message: string, parameter?: string) {
    super(ErrorCode.badRequest, message);
    this.parameter = parameter;
  }
}

/** The request conflicts with the resource's state (e.g. cancelling a completed job). */
export class ConflictError extends Phi3BatchError {
  override readonly name = 'ConflictError';
  constructor(message: string) {
    super(ErrorCode.conflict, message);
  }
}

/** Normalises whatever was thrown into an Error, so every catch boundary sees the same shape. */
export function ensureError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  let text: string;
  try {
    text = typeof thrown === 'string' ? thrown : JSON.stringify(thrown);
  } catch {
    text = String(thrown);
  }
  return new Error(`Non-error value thrown: ${text}`);
}
