import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/core/chat.js';
import {
  chatMessageText,
  createTokenCounter,
  TokenizerFamily,
  tokenizerFamilyForModel,
} from '../../src/adapters/tokenizer/index.js';

// Expected figures were read off llama-tokenizer-js `encode(text, false, true)` and
// js-tiktoken cl100k_base `encode(text, [], [])` for the same strings.
const mini = createTokenCounter('Phi-3-mini-4k-instruct');
const small = createTokenCounter('Phi-3-small-8k-instruct');

describe('countText', () => {
  it.each([
    ['Hello world!', 3, 3],
    ['The quick brown fox jumps over the lazy dog.', 12, 10],
    ['Bonjour, ça va ?', 8, 5],
    ['function add(a, b) {\n  return a + b;\n}', 17, 14],
    ['', 0, 0],
  ])('counts %j as the vocabularies do (mini %i, small %i)', (text, miniTokens, smallTokens) => {
    expect(mini.countText(text)).toBe(miniTokens);
    expect(small.countText(text)).toBe(smallTokens);
  });

  it('treats special-token look-alikes in text as plain characters', () => {
    expect(mini.countText('<|endoftext|>')).toBe(7);
    expect(small.countText('<|endoftext|>')).toBe(7);
  });
});

describe('countChatPrompt', () => {
  it('counts BOS, the final <|assistant|> and its newline for an empty conversation', () => {
    // <s> + <|assistant|> + "\n" (SentencePiece: "▁" "\n" = 2; cl100k: 1)
    expect(mini.countChatPrompt([])).toBe(1 + 1 + 2);
    expect(small.countChatPrompt([])).toBe(1 + 1 + 1);
  });

  it('adds one token per special marker around each message', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: 'Hello world!' }];
    // <s> | <|user|> "\nHello world!" | <|end|> "\n" | <|assistant|> "\n"
    expect(mini.countChatPrompt(messages)).toBe(1 + (1 + 5) + (1 + 2) + (1 + 2));
    expect(small.countChatPrompt(messages)).toBe(1 + (1 + 4) + (1 + 1) + (1 + 1));
  });

  it('does not tokenize the characters of the special markers', () => {
    const perMessageOverhead = mini.countChatPrompt([{ role: 'system', content: '' }]) - mini.countChatPrompt([]);
    // <|system|> + "\n" (2) + <|end|> + "\n" (2): far below the 5+ tokens "<|system|>" spelled out would take.
    expect(perMessageOverhead).toBe(6);
  });

  it('counts a two-message conversation', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Hello world!' },
    ];
    expect(mini.countChatPrompt(messages)).toBe(1 + (1 + 8 + 1 + 2) + (1 + 5 + 1 + 2) + (1 + 2));
    expect(small.countChatPrompt(messages)).toBe(1 + (1 + 7 + 1 + 1) + (1 + 4 + 1 + 1) + (1 + 1));
  });

  it('spells out roles that have no special token', () => {
    const messages: ChatMessage[] = [{ role: 'tool', content: 'result 42' }];
    // <s> | "<|tool|>\nresult 42" (10) | <|end|> "\n" | <|assistant|> "\n"
    expect(mini.countChatPrompt(messages)).toBe(1 + 10 + (1 + 2) + (1 + 2));
  });

  it('counts the text parts of array content and ignores the other parts', () => {
    const asParts: ChatMessage[] = [
      {
        role: 'user',
        content: [{ type: 'text', text: 'Hello ' }, { type: 'image_url' }, { type: 'text', text: 'world!' }],
      },
    ];
    const asString: ChatMessage[] = [{ role: 'user', content: 'Hello world!' }];
    expect(mini.countChatPrompt(asParts)).toBe(mini.countChatPrompt(asString));
    expect(small.countChatPrompt(asParts)).toBe(small.countChatPrompt(asString));
    expect(chatMessageText(asParts[0]!.content)).toBe('Hello world!');
    expect(chatMessageText(null)).toBe('');
  });

  it('gives the same count for repeated (cached) contents, short and long', () => {
    const longSystemPrompt = 'Answer in one short sentence, citing the source. '.repeat(40);
    const messages: ChatMessage[] = [
      { role: 'system', content: longSystemPrompt },
      { role: 'user', content: 'Hello world!' },
    ];
    const first = mini.countChatPrompt(messages);
    expect(mini.countChatPrompt(messages)).toBe(first);
    expect(createTokenCounter('phi-3-medium-4k-instruct').countChatPrompt(messages)).toBe(first);
    expect(first).toBe(1 + (1 + mini.countText(`\n${longSystemPrompt}`) + 1 + 2) + (1 + 5 + 1 + 2) + (1 + 2));
  });
});

describe('model dispatch', () => {
  it.each([
    ['Phi-3-small-8k-instruct', TokenizerFamily.cl100kBase],
    ['phi-3-small-8k-instruct', TokenizerFamily.cl100kBase],
    ['PHI-3-SMALL-128K-INSTRUCT', TokenizerFamily.cl100kBase],
    ['Phi-3-mini-4k-instruct', TokenizerFamily.llama2SentencePiece],
    ['Phi-3-mini-128k-instruct', TokenizerFamily.llama2SentencePiece],
    ['Phi-3-medium-128k-instruct', TokenizerFamily.llama2SentencePiece],
    ['Phi-3.5-mini-instruct', TokenizerFamily.llama2SentencePiece],
    ['Phi-3.5-MoE-instruct', TokenizerFamily.llama2SentencePiece],
    ['my-phi3-deployment', TokenizerFamily.llama2SentencePiece],
  ])('%s uses %s', (model, family) => {
    expect(tokenizerFamilyForModel(model)).toBe(family);
  });

  it('counts the same text differently for Phi-3-small and Phi-3-mini', () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    expect(createTokenCounter('Phi-3-small-128k-instruct').countText(text)).toBe(10);
    expect(createTokenCounter('Phi-3-mini-128k-instruct').countText(text)).toBe(12);
  });
});
