import { describe, expect, it } from 'vitest';
import {
  checkContextLength,
  contextLengthForModel,
  validateChatRequest,
  ValidationCode,
} from '../../dev/simulator/validateChatRequest.js';

const messages = [{ role: 'user', content: 'Hi' }];

describe('validateChatRequest', () => {
  it('accepts a plain request and reports max_tokens', () => {
    expect(validateChatRequest({ messages, max_tokens: 5, temperature: 0, top_p: 1 })).toMatchObject({
      ok: true,
      maxTokens: 5,
    });
    expect(validateChatRequest({ messages, max_tokens: null })).toMatchObject({ ok: true, maxTokens: null });
    expect(validateChatRequest({ messages, model: 'Phi-3-mini-4k-instruct', stream: false, seed: 3 })).toMatchObject({
      ok: true,
      maxTokens: null,
    });
    expect(validateChatRequest({ messages, stream: true, stream_options: { include_usage: true } }).ok).toBe(true);
    expect(
      validateChatRequest({
        messages: [
          { role: 'system', content: 'S' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'T' },
              { type: 'image_url', image_url: { url: 'x' } },
            ],
          },
          { role: 'assistant', content: null },
          { role: 'tool', content: '42' },
        ],
      }).ok,
    ).toBe(true);
  });

  it.each([
    ['a non-object body', [], ValidationCode.invalidType, ['body']],
    ['missing messages', {}, ValidationCode.missing, ['body', 'messages']],
    ['messages not an array', { messages: 'hi' }, ValidationCode.invalidType, ['body', 'messages']],
    ['empty messages', { messages: [] }, ValidationCode.invalidValue, ['body', 'messages']],
    [
      'an unknown role',
      { messages: [{ role: 'robot', content: 'x' }] },
      ValidationCode.invalidValue,
      ['body', 'messages', 0, 'role'],
    ],
    ['a missing role', { messages: [{ content: 'x' }] }, ValidationCode.missing, ['body', 'messages', 0, 'role']],
    [
      'user content missing',
      { messages: [{ role: 'user' }] },
      ValidationCode.missing,
      ['body', 'messages', 0, 'content'],
    ],
    [
      'content a number',
      { messages: [{ role: 'user', content: 3 }] },
      ValidationCode.invalidType,
      ['body', 'messages', 0, 'content'],
    ],
    [
      'a text part without text',
      { messages: [{ role: 'user', content: [{ type: 'text' }] }] },
      ValidationCode.invalidType,
      ['body', 'messages', 0, 'content', 0, 'text'],
    ],
    ['max_tokens zero', { messages, max_tokens: 0 }, ValidationCode.invalidValue, ['body', 'max_tokens']],
    ['max_tokens fractional', { messages, max_tokens: 1.5 }, ValidationCode.invalidValue, ['body', 'max_tokens']],
    ['max_tokens a string', { messages, max_tokens: '10' }, ValidationCode.invalidValue, ['body', 'max_tokens']],
    ['temperature above 2', { messages, temperature: 2.5 }, ValidationCode.invalidValue, ['body', 'temperature']],
    ['temperature a string', { messages, temperature: 'hot' }, ValidationCode.invalidType, ['body', 'temperature']],
    ['top_p above 1', { messages, top_p: 1.1 }, ValidationCode.invalidValue, ['body', 'top_p']],
    ['top_p below 0', { messages, top_p: -0.1 }, ValidationCode.invalidValue, ['body', 'top_p']],
    [
      'json_object response format',
      { messages, response_format: { type: 'json_object' } },
      ValidationCode.parameterNotSupported,
      ['body', 'response_format'],
    ],
    ['tools', { messages, tools: [{ type: 'function' }] }, ValidationCode.parameterNotSupported, ['body', 'tools']],
    [
      'stream_options without stream',
      { messages, stream_options: { include_usage: true } },
      ValidationCode.invalidValue,
      ['body', 'stream_options'],
    ],
    [
      'include_usage a string',
      { messages, stream: true, stream_options: { include_usage: 'yes' } },
      ValidationCode.invalidType,
      ['body', 'stream_options', 'include_usage'],
    ],
    [
      'an unknown field',
      { messages, logit_bias: {} },
      ValidationCode.extraParametersNotAllowed,
      ['body', 'logit_bias'],
    ],
  ])('rejects %s', (_, input, code, loc) => {
    const result = validateChatRequest(input);
    expect(result.ok).toBe(false);
    expect(result.ok ? null : result.failure).toMatchObject({ code, loc });
  });

  it('echoes the offending input', () => {
    const result = validateChatRequest({ messages, response_format: { type: 'json_object' } });
    expect(result.ok ? null : result.failure.input).toBe('json_object');
  });

  it('handles unknown fields as the extra-parameters header says', () => {
    const input = { messages, safe_prompt: true };
    expect(validateChatRequest(input, 'error').ok).toBe(false);
    const dropped = validateChatRequest(input, 'drop');
    expect(dropped.ok && dropped.body).toEqual({ messages });
    const passed = validateChatRequest(input, 'pass-through');
    expect(passed.ok && passed.body).toEqual(input);
    expect(validateChatRequest(input, 'allow').ok).toBe(true);
    expect(validateChatRequest(input, 'maybe')).toMatchObject({
      ok: false,
      failure: { code: ValidationCode.invalidValue, loc: ['header', 'extra-parameters'] },
    });
  });
});

describe('context length', () => {
  it.each([
    ['Phi-3-mini-4k-instruct', 4_096],
    ['Phi-3-mini-128k-instruct', 131_072],
    ['Phi-3-small-8k-instruct', 8_192],
    ['phi-3-small-128k-instruct', 131_072],
    ['Phi-3-medium-4k-instruct', 4_096],
    ['Phi-3.5-mini-instruct', 131_072],
    ['Phi-3.5-MoE-instruct', 131_072],
    ['custom-deployment', 4_096],
  ])('%s has %i tokens', (model, tokens) => {
    expect(contextLengthForModel(model)).toBe(tokens);
  });

  it('fails when prompt plus max_tokens exceed it', () => {
    expect(checkContextLength(96, 4_000, 4_096)).toBeNull();
    expect(checkContextLength(97, 4_000, 4_096)).toMatchObject({
      code: ValidationCode.contextLengthExceeded,
      loc: ['body', 'max_tokens'],
    });
    expect(checkContextLength(4_097, null, 4_096)).toMatchObject({ loc: ['body', 'messages'] });
  });
});
