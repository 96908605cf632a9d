import { parseRequestMessage, type RequestMessage } from '../../src/core/requestMessage.js';

/** The work message a queued payload holds; a payload that is none fails the test, saying why. */
export function requestMessageOf(payload: unknown): RequestMessage {
  const parsed = parseRequestMessage(payload);
  if (!parsed.ok) throw new Error(`Not a work message: ${parsed.error}`);
  return parsed.value;
}
