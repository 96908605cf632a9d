import { describe, expect, it } from 'vitest';
import {
  ServerSentEventParser,
  StreamedCompletionAssembler,
  StreamedCompletionError,
} from '../../src/core/streamedCompletion.js';

describe('ServerSentEventParser', () => {
  it('splits events across chunk boundaries and line endings, skipping comments', () => {
    const parser = new ServerSentEventParser();
    const text = ': keep-alive\r\ndata: {"a":1}\r\n\r\ndata: first\ndata: second\n\nevent: x\rdata: [DONE]\r\r';
    const events: string[] = [];
    // One character at a time: every boundary falls inside something.
    for (const character of text) events.push(...parser.push(character));
    // The last CR might be half a CRLF: the event is complete only once the stream ends.
    expect(events).toEqual(['{"a":1}', 'first\nsecond']);
    expect(parser.end()).toEqual(['[DONE]']);
  });

  it('keeps an event the stream ended without its empty line', () => {
    const parser = new ServerSentEventParser();
    expect(parser.push('data: last')).toEqual([]);
    expect(parser.end()).toEqual(['last']);
  });
});

const chunk = (choices: unknown[], extra: object = {}) =>
  JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'Phi-3-medium-128k-instruct',
    choices,
    ...extra,
  });

describe('StreamedCompletionAssembler', () => {
  it('adds the deltas up to the chat.completion, with the usage of the last chunk', () => {
    const assembler = new StreamedCompletionAssembler();
    assembler.add(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
    assembler.add(chunk([{ index: 0, delta: { content: 'Hello' }, finish_reason: null }]));
    assembler.add(chunk([{ index: 0, delta: { content: ' world.' }, finish_reason: null }]));
    assembler.add(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
    assembler.add(chunk([], { usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } }));
    expect(assembler.done).toBe(false);
    assembler.add('[DONE]');
    expect(assembler.done).toBe(true);
    expect(assembler.result()).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'Phi-3-medium-128k-instruct',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello world.' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
    });
  });

  it('fails on a stream cut before its finish reason, on no chunk, and on what is not a chunk', () => {
    const cut = new StreamedCompletionAssembler();
    cut.add(chunk([{ index: 0, delta: { content: 'Hel' }, finish_reason: null }]));
    expect(() => cut.result()).toThrow(StreamedCompletionError);
    expect(() => new StreamedCompletionAssembler().result()).toThrow(/no chunk/);
    expect(() => new StreamedCompletionAssembler().add('{not json')).toThrow(StreamedCompletionError);
    expect(() => new StreamedCompletionAssembler().add('{"error":{"code":"500"}}')).toThrow(
      /not a chat.completion.chunk/,
    );
  });
});
