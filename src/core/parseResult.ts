/**
 * What a parser of untrusted input returns: the value, or why there is none. Callers branch on `ok`;
 * the error text is for people (logs, messages), never matched by code.
 */
export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

export function parsed<T>(value: T): ParseResult<T> {
  return { ok: true, value };
}

export function rejected<T>(error: string): ParseResult<T> {
  return { ok: false, error };
}
