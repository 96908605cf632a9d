import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBatchLine } from '../../src/core/parseBatchLine.js';

const messages = [{ role: 'user', content: 'Hi' }];

describe('parseBatchLine', () => {
  it('accepts an OpenAI Batch request line', () => {
    const line = JSON.stringify({
      custom_id: 'r1',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'm', messages, max_tokens: 5 },
    });
    expect(parseBatchLine(line)).toEqual({
      kind: 'request',
      customId: 'r1',
      body: { model: 'm', messages, max_tokens: 5 },
    });
  });

  it('accepts /chat/completions and a bare chat body with or without custom_id', () => {
    expect(parseBatchLine(JSON.stringify({ custom_id: 'a', url: '/chat/completions', body: { messages } })).kind).toBe(
      'request',
    );
    expect(parseBatchLine(JSON.stringify({ messages }))).toEqual({
      kind: 'request',
      customId: undefined,
      body: { messages },
    });
    expect(parseBatchLine(JSON.stringify({ custom_id: 'b', messages, temperature: 0 }))).toEqual({
      kind: 'request',
      customId: 'b',
      body: { messages, temperature: 0 },
    });
  });

  it('treats whitespace-only lines as blank', () => {
    expect(parseBatchLine('   \t')).toEqual({ kind: 'blank' });
  });

  it.each([
    ['not json', 'invalid_json_line', undefined],
    ['[1,2]', 'invalid_json_line', undefined],
    ['"text"', 'invalid_json_line', undefined],
    [
      JSON.stringify({ custom_id: 'x', method: 'GET', url: '/v1/chat/completions', body: { messages } }),
      'method_mismatch',
      'method',
    ],
    [
      JSON.stringify({ custom_id: 'x', method: 'POST', url: '/v1/embeddings', body: { messages } }),
      'url_mismatch',
      'url',
    ],
    [
      JSON.stringify({
        custom_id: 'x',
        method: 'POST',
        url: 'https://evil.example/v1/chat/completions',
        body: { messages },
      }),
      'url_mismatch',
      'url',
    ],
    [JSON.stringify({ custom_id: 'x', url: '/v1/chat/completions', body: 'nope' }), 'invalid_request', 'body'],
    [
      JSON.stringify({ custom_id: 'x', url: '/v1/chat/completions', body: { messages: [] } }),
      'invalid_request',
      'body.messages',
    ],
    [JSON.stringify({ messages: [{ role: 'wizard', content: 'x' }] }), 'invalid_request', 'messages[0].role'],
    [JSON.stringify({ messages: [{ role: 'user', content: 5 }] }), 'invalid_request', 'messages[0].content'],
    [JSON.stringify({ messages, max_tokens: -1 }), 'invalid_request', 'max_tokens'],
    [JSON.stringify({ messages, max_tokens: 1.5 }), 'invalid_request', 'max_tokens'],
    [JSON.stringify({ messages, temperature: 'hot' }), 'invalid_request', 'temperature'],
    [JSON.stringify({ messages, stream: true }), 'invalid_request', 'stream'],
    [JSON.stringify({ custom_id: 7, messages }), 'invalid_request', 'custom_id'],
    [JSON.stringify({ custom_id: '', messages }), 'invalid_request', 'custom_id'],
  ])('rejects %s with %s', (line, code, param) => {
    const parsed = parseBatchLine(line);
    expect(parsed.kind).toBe('invalid');
    if (parsed.kind !== 'invalid') return;
    expect(parsed.error.code).toBe(code);
    if (param !== undefined) expect(parsed.error.param).toMatch(new RegExp(`${param.replace(/[[\]]/g, '\\$&')}$`));
  });

  it('refuses deeply nested JSON without throwing', () => {
    const deep = `{"messages":[{"role":"user","content":"x","extra":${'['.repeat(5000)}${']'.repeat(5000)}}]}`;
    const parsed = parseBatchLine(deep);
    expect(parsed.kind).toBe('invalid');
  });

  it('keeps __proto__ keys as plain data and never pollutes prototypes', () => {
    const parsed = parseBatchLine('{"__proto__":{"polluted":true},"messages":[{"role":"user","content":"x"}]}');
    expect(parsed.kind).toBe('request');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('never throws, whatever the text (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ messages: v, custom_id: v })),
        ),
        (text) => {
          const parsed = parseBatchLine(text);
          expect(['blank', 'request', 'invalid']).toContain(parsed.kind);
        },
      ),
    );
  });
});
