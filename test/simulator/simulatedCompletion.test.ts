import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChatCompletionBody } from '../../src/core/chat.js';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import {
  canonicalJson,
  COMPLETION_CONTENT_FILTER_MARKER,
  FinishReason,
  hashMessages,
  simulatedCompletion,
} from '../../dev/simulator/simulatedCompletion.js';

const counter = createTokenCounter('Phi-3-mini-4k-instruct');
const body = (content: string, max_tokens?: number | null): ChatCompletionBody => ({
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content },
  ],
  ...(max_tokens === undefined ? {} : { max_tokens }),
});

describe('simulatedCompletion', () => {
  it('is a function of the messages', () => {
    const first = simulatedCompletion(body('What is 2 + 2?'), counter);
    expect(simulatedCompletion(body('What is 2 + 2?'), counter)).toEqual(first);
    expect(simulatedCompletion(body('What is 2 + 3?'), counter).content).not.toBe(first.content);
    expect(
      first.content.startsWith(`Simulated answer ${hashMessages(body('What is 2 + 2?').messages).slice(0, 12)} `),
    ).toBe(true);
    expect(first.finishReason).toBe(FinishReason.stop);
    expect(first.completionTokens).toBe(counter.countText(first.content));
  });

  it('ignores key order and parameters other than max_tokens', () => {
    const reordered: ChatCompletionBody = {
      temperature: 0.3,
      messages: [
        { content: 'You are a helpful assistant.', role: 'system' },
        { content: 'What is 2 + 2?', role: 'user' },
      ],
    };
    expect(simulatedCompletion(reordered, counter)).toEqual(simulatedCompletion(body('What is 2 + 2?'), counter));
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
  });

  it('truncates to max_tokens with finish_reason "length"', () => {
    const full = simulatedCompletion(body('Tell me a story.'), counter);
    const cut = simulatedCompletion(body('Tell me a story.', 10), counter);
    expect(cut.finishReason).toBe(FinishReason.length);
    expect(cut.completionTokens).toBeLessThanOrEqual(10);
    expect(cut.completionTokens).toBe(counter.countText(cut.content));
    expect(full.content.startsWith(cut.content)).toBe(true);
    expect(simulatedCompletion(body('Tell me a story.', full.completionTokens), counter)).toEqual(full);
  });

  it('respects any max_tokens, even one, and reports what the tokenizer counts, with either vocabulary', () => {
    for (const tokenizer of [counter, createTokenCounter('Phi-3-small-8k-instruct')]) {
      fc.assert(
        fc.property(
          fc.string({ maxLength: 40 }),
          fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }),
          (prompt, maxTokens) => {
            const result = simulatedCompletion(body(prompt, maxTokens), tokenizer);
            expect(result.completionTokens).toBe(tokenizer.countText(result.content));
            if (maxTokens !== undefined) expect(result.completionTokens).toBeLessThanOrEqual(maxTokens);
            expect(result.completionTokens).toBeGreaterThan(0);
          },
        ),
        { numRuns: 200 },
      );
    }
  });

  it('cuts at the longest run of whole words that fits, with either vocabulary', () => {
    for (const tokenizer of [counter, createTokenCounter('Phi-3-small-8k-instruct')]) {
      fc.assert(
        fc.property(fc.string({ maxLength: 40 }), fc.integer({ min: 4, max: 80 }), (prompt, maxTokens) => {
          const full = simulatedCompletion(body(prompt), tokenizer);
          const cut = simulatedCompletion(body(prompt, maxTokens), tokenizer);
          if (cut.finishReason === FinishReason.stop) {
            expect(cut).toEqual(full);
            return;
          }
          const words = full.content.slice(0, -1).split(' ');
          const kept = cut.content.split(' ').length;
          expect(cut.content).toBe(words.slice(0, kept).join(' '));
          const oneMore = kept < words.length ? words.slice(0, kept + 1).join(' ') : full.content;
          expect(tokenizer.countText(oneMore)).toBeGreaterThan(maxTokens);
        }),
        { numRuns: 100 },
      );
    }
  });

  it('counts with the tokenizer it is given', () => {
    const small = createTokenCounter('Phi-3-small-8k-instruct');
    const result = simulatedCompletion(body('Hello'), small);
    expect(result.completionTokens).toBe(small.countText(result.content));
    expect(result.content).toBe(simulatedCompletion(body('Hello'), counter).content);
  });

  it('filters the completion when the prompt asks for it', () => {
    expect(simulatedCompletion(body(`x ${COMPLETION_CONTENT_FILTER_MARKER}`), counter)).toEqual({
      content: '',
      completionTokens: 0,
      finishReason: FinishReason.contentFilter,
    });
  });
});
