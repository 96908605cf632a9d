import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruCache } from '../../src/adapters/tokenizer/LruCache.js';
import { countLlamaByWords } from '../../src/adapters/tokenizer/textEncoders.js';

const tokenizer = (createRequire(import.meta.url)('llama-tokenizer-js') as typeof import('llama-tokenizer-js')).default;
/** What the adapter counted before: the whole text at once, with SentencePiece's dummy prefix. */
const wholeText = (text: string): number => (text.length === 0 ? 0 : tokenizer.encode(text, false, true).length);
const byWords =
  (cache: LruCache<string, number>) =>
  (text: string): number =>
    countLlamaByWords(text, (word) => tokenizer.encode(word, false, false).length, cache);

describe('counting Llama-2 tokens word by word', () => {
  it('rests on the vocabulary: no piece has "▁" (a space) after another character', () => {
    const vocabulary = (tokenizer as unknown as { vocabById: string[] }).vocabById;
    expect(vocabulary.length).toBe(32_000);
    const spanning = vocabulary.filter((piece) => /[^\u2581]\u2581/u.test(piece));
    expect(spanning).toEqual([]);
  });

  it('counts exactly what the whole text counts, on generated text', () => {
    const count = byWords(new LruCache(64));
    const pieces = [
      'a',
      'the',
      'Item',
      ' ',
      ' ',
      '  ',
      '\u2581',
      '\n',
      '\t',
      '7',
      '42',
      '.',
      ',',
      ':',
      'é',
      'ça',
      '日本',
      '😀',
      'x\u2581y',
      '<|end|>',
      '\r\n',
    ];
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 40 }),
        (parts) => {
          const text = parts.join('');
          expect(count(text)).toBe(wholeText(text));
        },
      ),
      { numRuns: 2_000, seed: 20261127 },
    );
  });

  it('counts the example batch file as the whole text does, with the cache warm and cold', () => {
    const lines = readFileSync(new URL('../../examples/prompts.jsonl', import.meta.url), 'utf8')
      .trim()
      .split('\n');
    const texts = lines.flatMap((line) =>
      (JSON.parse(line) as { body: { messages: Array<{ content: string }> } }).body.messages.map((m) => m.content),
    );
    expect(texts.length).toBeGreaterThan(100);
    const warm = byWords(new LruCache(10_000));
    for (const text of [...texts, ...texts]) expect(warm(text)).toBe(wholeText(text));
    const tiny = byWords(new LruCache(1));
    for (const text of texts) expect(tiny(text)).toBe(wholeText(text));
  });
});
