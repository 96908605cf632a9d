import type { ChatCompletionBody } from './chat.js';
import { LineErrorCode, type LineError } from './lineErrors.js';

export type ParsedLine =
  | { readonly kind: 'blank' }
  | { readonly kind: 'request'; readonly customId: string | undefined; readonly body: ChatCompletionBody }
  | { readonly kind: 'invalid'; readonly customId: string | undefined; readonly error: LineError };

/** The request URLs a line may name; anything else is `url_mismatch`. The line never chooses the endpoint. */
export const CHAT_COMPLETIONS_URLS: ReadonlySet<string> = new Set(['/v1/chat/completions', '/chat/completions']);
const MESSAGE_ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant', 'tool']);
const MAX_CUSTOM_ID_LENGTH = 512;
/** Ids of this form (`~line-<n>`) are given to lines without a custom_id; no line may take one itself. */
export const RESERVED_CUSTOM_ID_PREFIX = '~line-';
const RESERVED_CUSTOM_ID = /^~line-\d+$/;
/** Deeper bodies are refused so that later serialisation can never exhaust the stack. */
const MAX_JSON_DEPTH = 32;
/**
 * The largest context of any Phi-3 model: more could never be served, and a request is admitted
 * against the shared budget for its max_tokens, so 1e300 would stall the whole deployment for good.
 */
export const MAX_MAX_TOKENS = 131_072;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(error: LineError, customId?: string): ParsedLine {
  return { kind: 'invalid', customId, error };
}

function exceedsDepth(root: unknown, limit: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value: root, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(value)) stack.push({ value: child, depth: depth + 1 });
  }
  return false;
}

/**
 * Parses one JSONL line: an OpenAI Batch request line, or a bare chat/completions body.
 * Returns what the line is; never throws for bad input.
 */
export function parseBatchLine(text: string): ParsedLine {
  if (text.trim().length === 0) return { kind: 'blank' };

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'unparseable';
    return invalid({ code: LineErrorCode.invalidJsonLine, message: `Line is not valid JSON: ${reason}` });
  }
  if (!isObject(parsed)) {
    return invalid({ code: LineErrorCode.invalidJsonLine, message: 'Line must be a JSON object' });
  }
  if (exceedsDepth(parsed, MAX_JSON_DEPTH)) {
    return invalid({
      code: LineErrorCode.invalidRequest,
      message: `JSON nesting deeper than ${MAX_JSON_DEPTH} levels`,
    });
  }

  const rawCustomId = parsed['custom_id'];
  let customId: string | undefined;
  if (rawCustomId !== undefined) {
    if (typeof rawCustomId !== 'string' || rawCustomId.length === 0 || rawCustomId.length > MAX_CUSTOM_ID_LENGTH) {
      return invalid({
        code: LineErrorCode.invalidRequest,
        message: `custom_id must be a non-empty string of at most ${MAX_CUSTOM_ID_LENGTH} characters`,
        param: 'custom_id',
      });
    }
    if (RESERVED_CUSTOM_ID.test(rawCustomId)) {
      return invalid({
        code: LineErrorCode.invalidRequest,
        message: `custom_id "${rawCustomId}" has the form ${RESERVED_CUSTOM_ID_PREFIX}<n>, which is kept for lines without a custom_id`,
        param: 'custom_id',
      });
    }
    customId = rawCustomId;
  }

  const isBatchLine = 'body' in parsed || 'url' in parsed || 'method' in parsed;
  let body: JsonObject;
  if (isBatchLine) {
    const envelope = batchLineBody(parsed);
    if ('code' in envelope) return invalid(envelope, customId);
    body = envelope.body;
  } else {
    const { custom_id: _ignored, ...rest } = parsed;
    body = rest;
  }

  const bodyError = validateChatBody(body, isBatchLine ? 'body.' : '');
  if (bodyError !== undefined) return invalid(bodyError, customId);
  return { kind: 'request', customId, body: body as unknown as ChatCompletionBody };
}

/** The request body of an OpenAI Batch line, once its method and url are what a chat completion needs. */
function batchLineBody(line: JsonObject): { readonly body: JsonObject } | LineError {
  const method = line['method'];
  if (method !== undefined && method !== 'POST') {
    return { code: LineErrorCode.methodMismatch, message: 'method must be "POST"', param: 'method' };
  }
  const url = line['url'];
  if (url !== undefined && (typeof url !== 'string' || !CHAT_COMPLETIONS_URLS.has(url))) {
    const message = `url must be one of ${[...CHAT_COMPLETIONS_URLS].join(', ')}`;
    return { code: LineErrorCode.urlMismatch, message, param: 'url' };
  }
  const body = line['body'];
  if (!isObject(body))
    return { code: LineErrorCode.invalidRequest, message: 'body must be a JSON object', param: 'body' };
  return { body };
}

function validateChatBody(body: JsonObject, prefix: string): LineError | undefined {
  const fail = (param: string, message: string): LineError => ({
    code: LineErrorCode.invalidRequest,
    message: `${prefix}${param} ${message}`,
    param: `${prefix}${param}`,
  });
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return fail('messages', 'must be a non-empty array');
  for (const [index, message] of messages.entries()) {
    const at = `messages[${index}]`;
    if (!isObject(message)) return fail(at, 'must be an object');
    const role = message['role'];
    if (typeof role !== 'string' || !MESSAGE_ROLES.has(role)) {
      return fail(`${at}.role`, `must be one of ${[...MESSAGE_ROLES].join(', ')}`);
    }
    const content = message['content'];
    const contentIsValid =
      typeof content === 'string' ||
      (content === null && role === 'assistant') ||
      (Array.isArray(content) && content.every((part) => isObject(part) && typeof part['type'] === 'string'));
    if (!contentIsValid) return fail(`${at}.content`, 'must be a string or an array of content parts');
  }
  const maxTokens = body['max_tokens'];
  if (
    maxTokens !== undefined &&
    maxTokens !== null &&
    !(Number.isInteger(maxTokens) && (maxTokens as number) > 0 && (maxTokens as number) <= MAX_MAX_TOKENS)
  ) {
    return fail('max_tokens', `must be a positive integer of at most ${MAX_MAX_TOKENS}, or null`);
  }
  for (const field of ['temperature', 'top_p', 'frequency_penalty', 'presence_penalty'] as const) {
    const value = body[field];
    if (value !== undefined && value !== null && (typeof value !== 'number' || !Number.isFinite(value))) {
      return fail(field, 'must be a number');
    }
  }
  if (body['stream'] === true) return fail('stream', 'is not supported in a batch');
  const model = body['model'];
  if (model !== undefined && typeof model !== 'string') return fail('model', 'must be a string');
  return undefined;
}
