export const LocalHostErrorCode = {
  InvalidHostJson: 'InvalidHostJson',
  UnknownAppSetting: 'UnknownAppSetting',
  MissingConnection: 'MissingConnection',
  InvalidBinding: 'InvalidBinding',
  UnsupportedBinding: 'UnsupportedBinding',
  InvalidRoute: 'InvalidRoute',
  InvalidSchedule: 'InvalidSchedule',
  NoFunctionsRegistered: 'NoFunctionsRegistered',
  DuplicateFunction: 'DuplicateFunction',
  RegistrationOutsideStartup: 'RegistrationOutsideStartup',
  UnknownFunction: 'UnknownFunction',
  InvalidState: 'InvalidState',
} as const;
export type LocalHostErrorCode = (typeof LocalHostErrorCode)[keyof typeof LocalHostErrorCode];

/** Bad configuration or misuse of the host: raised at start-up (or by the offending call), never retried. */
export class LocalHostError extends Error {
  override readonly name = 'LocalHostError';
  readonly code: LocalHostErrorCode;

  constructor(code: LocalHostErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The handler did not settle within host.json `functionTimeout`. */
export class FunctionTimeoutError extends Error {
  override readonly name = 'FunctionTimeoutError';
  readonly code = 'FunctionTimeout';
  readonly timeoutInMs: number;

  constructor(functionName: string, timeoutInMs: number) {
    super(`Function "${functionName}" did not complete within its timeout of ${timeoutInMs} ms.`);
    this.timeoutInMs = timeoutInMs;
  }
}

/** A handler threw (or rejected with) something that is not an Error. */
export class NonErrorThrownError extends Error {
  override readonly name = 'NonErrorThrownError';
  readonly code = 'NonErrorThrown';
  readonly value: unknown;

  constructor(value: unknown) {
    super(`A non-Error value was thrown: ${describe(value)}`);
    this.value = value;
  }
}

export function ensureError(value: unknown): Error {
  return value instanceof Error ? value : new NonErrorThrownError(value);
}

function describe(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value);
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** True for a storage SDK RestError with one of the given HTTP statuses. */
export function hasStatusCode(error: unknown, ...statuses: number[]): boolean {
  if (typeof error !== 'object' || error === null) {
    return false;
  }
  const statusCode = (error as { statusCode?: unknown }).statusCode;
  return typeof statusCode === 'number' && statuses.includes(statusCode);
}
