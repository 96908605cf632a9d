import type { ChatCompletionBody } from '../../src/core/chat.js';

export const ValidationCode = {
  missing: 'missing',
  invalidType: 'invalid_type',
  invalidValue: 'invalid_value',
  parameterNotSupported: 'parameter_not_supported',
  extraParametersNotAllowed: 'extra_parameters_not_allowed',
  contextLengthExceeded: 'context_length_exceeded',
} as const;
export type ValidationCode = (typeof ValidationCode)[keyof typeof ValidationCode];

/** Values of the `extra-parameters` header (`allow` is the older spelling of `pass-through`). */
export const ExtraParametersMode = {
  passThrough: 'pass-through',
  allow: 'allow',
  drop: 'drop',
  error: 'error',
} as const;
export type ExtraParametersMode = (typeof ExtraParametersMode)[keyof typeof ExtraParametersMode];

/** Becomes the Azure 422 body `{status, code, detail: {loc, input}, message}`. */
export interface ValidationFailure {
  readonly code: ValidationCode;
  readonly loc: readonly (string | number)[];
  readonly input: unknown;
  readonly message: string;
}

export type ChatRequestValidation =
  | { readonly ok: true; readonly body: ChatCompletionBody; readonly maxTokens: number | null }
  | { readonly ok: false; readonly failure: ValidationFailure };

/** Parameters of the Azure AI Model Inference chat-completions API; anything else is an "extra parameter". */
const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  'messages',
  'model',
  'max_tokens',
  'temperature',
  'top_p',
  'stop',
  'stream',
  'stream_options',
  'seed',
  'frequency_penalty',
  'presence_penalty',
  'response_format',
  'tools',
  'tool_choice',
]);

const ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant', 'tool']);

/** Internal: unwinds the checks to the single place that turns it into a result. */
class Invalid extends Error {
  override readonly name = 'InvalidChatRequest';
  readonly failure: ValidationFailure;

  constructor(failure: ValidationFailure) {
    super(failure.message);
    this.failure = failure;
  }
}

function fail(code: ValidationCode, loc: readonly (string | number)[], input: unknown, message: string): never {
  throw new Invalid({ code, loc, input, message });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkNumberIn(body: Record<string, unknown>, field: string, min: number, max: number): void {
  const value = body[field];
  if (value === undefined || value === null) {
    return;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail(ValidationCode.invalidType, ['body', field], value, `${field} must be a number.`);
  }
  if (value < min || value > max) {
    fail(ValidationCode.invalidValue, ['body', field], value, `${field} must be between ${min} and ${max}.`);
  }
}

function checkMessages(messages: unknown): void {
  if (messages === undefined) {
    fail(ValidationCode.missing, ['body', 'messages'], null, 'messages is required.');
  }
  if (!Array.isArray(messages)) {
    fail(ValidationCode.invalidType, ['body', 'messages'], messages, 'messages must be an array.');
  }
  if (messages.length === 0) {
    fail(ValidationCode.invalidValue, ['body', 'messages'], messages, 'messages must contain at least one message.');
  }
  messages.forEach((message: unknown, index) => {
    const loc = ['body', 'messages', index];
    if (!isRecord(message)) {
      fail(ValidationCode.invalidType, loc, message, `messages[${index}] must be an object.`);
    }
    const { role, content } = message;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      fail(
        role === undefined ? ValidationCode.missing : ValidationCode.invalidValue,
        [...loc, 'role'],
        role ?? null,
        `messages[${index}].role must be one of system, user, assistant, tool.`,
      );
    }
    if (content === undefined || content === null) {
      // Only an assistant turn that carried tool calls may come without content.
      if (role === 'assistant') {
        return;
      }
      fail(ValidationCode.missing, [...loc, 'content'], null, `messages[${index}].content is required.`);
    }
    if (typeof content === 'string') {
      return;
    }
    if (!Array.isArray(content)) {
      fail(
        ValidationCode.invalidType,
        [...loc, 'content'],
        content,
        `messages[${index}].content must be a string or an array of parts.`,
      );
    }
    content.forEach((part: unknown, partIndex) => {
      const partLoc = [...loc, 'content', partIndex];
      if (!isRecord(part) || typeof part.type !== 'string') {
        fail(ValidationCode.invalidType, partLoc, part, 'Each content part must be an object with a string `type`.');
      }
      if (part.type === 'text' && typeof part.text !== 'string') {
        fail(ValidationCode.invalidType, [...partLoc, 'text'], part.text ?? null, 'A text part needs a string `text`.');
      }
    });
  });
}

function checkParameters(body: Record<string, unknown>): number | null {
  const maxTokens = body.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) {
    if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
      fail(
        ValidationCode.invalidValue,
        ['body', 'max_tokens'],
        maxTokens,
        'max_tokens must be a positive integer or null.',
      );
    }
  }
  checkNumberIn(body, 'temperature', 0, 2);
  checkNumberIn(body, 'top_p', 0, 1);
  checkNumberIn(body, 'frequency_penalty', -2, 2);
  checkNumberIn(body, 'presence_penalty', -2, 2);
  if (body.seed !== undefined && body.seed !== null && !Number.isInteger(body.seed)) {
    fail(ValidationCode.invalidType, ['body', 'seed'], body.seed, 'seed must be an integer.');
  }
  const { stop } = body;
  if (
    stop !== undefined &&
    stop !== null &&
    typeof stop !== 'string' &&
    !(Array.isArray(stop) && stop.every((item) => typeof item === 'string'))
  ) {
    fail(ValidationCode.invalidType, ['body', 'stop'], stop, 'stop must be a string or an array of strings.');
  }
  if (body.model !== undefined && body.model !== null && typeof body.model !== 'string') {
    fail(ValidationCode.invalidType, ['body', 'model'], body.model, 'model must be a string.');
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    fail(ValidationCode.invalidType, ['body', 'stream'], body.stream, 'stream must be a boolean.');
  }
  const streamOptions = body.stream_options;
  if (streamOptions !== undefined && streamOptions !== null) {
    if (!isRecord(streamOptions)) {
      fail(ValidationCode.invalidType, ['body', 'stream_options'], streamOptions, 'stream_options must be an object.');
    }
    if (body.stream !== true) {
      fail(
        ValidationCode.invalidValue,
        ['body', 'stream_options'],
        streamOptions,
        'stream_options is only allowed when stream is true.',
      );
    }
    const includeUsage = streamOptions.include_usage;
    if (includeUsage !== undefined && includeUsage !== null && typeof includeUsage !== 'boolean') {
      fail(
        ValidationCode.invalidType,
        ['body', 'stream_options', 'include_usage'],
        includeUsage,
        'include_usage must be a boolean.',
      );
    }
  }
  const responseFormat = body.response_format;
  if (responseFormat !== undefined && responseFormat !== null) {
    if (!isRecord(responseFormat) || typeof responseFormat.type !== 'string') {
      fail(
        ValidationCode.invalidType,
        ['body', 'response_format'],
        responseFormat,
        'response_format must be an object with a `type`.',
      );
    }
    if (responseFormat.type !== 'text') {
      fail(
        ValidationCode.parameterNotSupported,
        ['body', 'response_format'],
        responseFormat.type,
        `response_format of type ${responseFormat.type} is not supported by this model.`,
      );
    }
  }
  if (Array.isArray(body.tools) ? body.tools.length > 0 : body.tools !== undefined && body.tools !== null) {
    fail(
      ValidationCode.parameterNotSupported,
      ['body', 'tools'],
      body.tools,
      'Tool calling is not supported by this model.',
    );
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null && body.tool_choice !== 'none') {
    fail(
      ValidationCode.parameterNotSupported,
      ['body', 'tool_choice'],
      body.tool_choice,
      'Tool calling is not supported by this model.',
    );
  }
  return maxTokens ?? null;
}

function parseExtraParametersMode(header: string | undefined): ExtraParametersMode {
  if (header === undefined || header === '') {
    return ExtraParametersMode.error;
  }
  const mode = Object.values(ExtraParametersMode).find((value) => value === header.trim().toLowerCase());
  if (mode === undefined) {
    fail(
      ValidationCode.invalidValue,
      ['header', 'extra-parameters'],
      header,
      'extra-parameters must be one of pass-through, drop, error.',
    );
  }
  return mode;
}

/**
 * Checks a parsed chat-completions body the way the Azure AI Model Inference API does for Phi-3.
 * Semantics that need the tokenizer (context length) are checked by the caller.
 */
export function validateChatRequest(input: unknown, extraParametersHeader?: string): ChatRequestValidation {
  try {
    const mode = parseExtraParametersMode(extraParametersHeader);
    if (!isRecord(input)) {
      fail(ValidationCode.invalidType, ['body'], input, 'The request body must be a JSON object.');
    }
    let body = input;
    const extraFields = Object.keys(input).filter((field) => !KNOWN_FIELDS.has(field));
    if (extraFields.length > 0) {
      if (mode === ExtraParametersMode.error) {
        const field = extraFields[0] as string;
        fail(
          ValidationCode.extraParametersNotAllowed,
          ['body', field],
          input[field],
          `Extra parameter '${field}' is not allowed when 'extra-parameters' is 'error' (the default).`,
        );
      }
      if (mode === ExtraParametersMode.drop) {
        body = Object.fromEntries(Object.entries(input).filter(([field]) => KNOWN_FIELDS.has(field)));
      }
    }
    checkMessages(body.messages);
    const maxTokens = checkParameters(body);
    return { ok: true, body: body as unknown as ChatCompletionBody, maxTokens };
  } catch (error) {
    if (error instanceof Invalid) {
      return { ok: false, failure: error.failure };
    }
    throw error;
  }
}

/** Context windows of the Phi-3 deployments, from the model name (4k when nothing says otherwise). */
export function contextLengthForModel(model: string): number {
  const name = model.toLowerCase();
  if (/-128k\b/.test(name) || /phi-?3\.5/.test(name)) {
    return 131_072;
  }
  if (/-8k\b/.test(name)) {
    return 8_192;
  }
  return 4_096;
}

/** Prompt plus requested completion must fit in the context, else Azure answers 422. */
export function checkContextLength(
  promptTokens: number,
  maxTokens: number | null,
  contextLength: number,
): ValidationFailure | null {
  if (promptTokens + (maxTokens ?? 0) <= contextLength) {
    return null;
  }
  const field = maxTokens === null ? 'messages' : 'max_tokens';
  return {
    code: ValidationCode.contextLengthExceeded,
    loc: ['body', field],
    input: maxTokens,
    message:
      `This model's maximum context length is ${contextLength} tokens. However, you requested ` +
      `${promptTokens + (maxTokens ?? 0)} tokens (${promptTokens} in the messages, ${maxTokens ?? 0} in the completion).`,
  };
}
