import { createRequire } from 'node:module';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import { LruCache } from './LruCache.js';

/** Counts the tokens of a plain text segment (no BOS, no chat template). */
export type CountSegmentTokens = (text: string) => number;

const require = createRequire(import.meta.url);

let llamaCounter: CountSegmentTokens | undefined;
let cl100kCounter: CountSegmentTokens | undefined;

/**
 * Runs of letters, of symbols or of whitespace, which cl100k merges as one word each. js-tiktoken
 * merges a word in time that grows faster than the square of its length: 8,000 × "é" or 16,000
 * spaces take half a minute, a 1 MiB line of them days.
 */
const LONG_WORD = /\p{L}{65,}|[^\s\p{L}\p{N}]{65,}|\s{65,}/gu;
const WORD_PIECE_CHARS = 16;

/**
 * Counts text whose words are all short exactly; a long word is counted in pieces of 16 characters,
 * which costs at most a token or so per piece more than the word would (admission errs on the safe side).
 */
function countWithLongWordsInPieces(text: string, count: CountSegmentTokens): number {
  let total = 0;
  let from = 0;
  for (const match of text.matchAll(LONG_WORD)) {
    const start = match.index;
    if (start > from) total += count(text.slice(from, start));
    const word = match[0];
    for (let at = 0; at < word.length;) {
      let end = Math.min(word.length, at + WORD_PIECE_CHARS);
      // Never split a surrogate pair.
      const last = word.charCodeAt(end - 1);
      if (end < word.length && last >= 0xd800 && last <= 0xdbff) end += 1;
      total += count(word.slice(at, end));
      at = end;
    }
    from = start + word.length;
  }
  return from === 0 ? count(text) : total + (from < text.length ? count(text.slice(from)) : 0);
}

/**
 * Words (chunks, with their leading space) up to this long are remembered; longer ones are rarer and
 * counted each time. V8 copies a substring shorter than 13 characters, while a longer one is a view that
 * would keep its whole text (a prompt, maybe megabytes) alive in the cache.
 */
const WORD_CACHE_MAX_CHARS = 12;
/**
 * The most recently used words: a language's most frequent words, which make up most of its text, stay.
 * A cache ten times larger catches few more words and adds its size to every ingest's peak memory.
 */
const WORD_CACHE_MAX_ENTRIES = 2_000;
const SPACE = 0x20;
/** "▁", the character SentencePiece writes a space as: text may hold it literally. */
const SPACE_MARK = 0x2581;

/**
 * Counts Llama-2 SentencePiece tokens word by word, which gives the same count as the whole text and
 * lets recurring words be counted once. The vocabulary has no piece in which "▁" (a space) follows any
 * other character, so no merge spans the start of a space that follows a non-space: the text splits
 * there into chunks that BPE handles independently, each beginning with its space. (The test checks
 * the vocabulary for such pieces and compares both counts over generated text.)
 */
export function countLlamaByWords(
  text: string,
  countWithLeadingSpace: CountSegmentTokens,
  cache: LruCache<string, number>,
): number {
  if (text.length === 0) return 0;
  // The dummy prefix: SentencePiece encodes a segment as if it began with a space.
  const spaced = ` ${text}`;
  let total = 0;
  let from = 0;
  for (let at = 1; at <= spaced.length; at += 1) {
    if (at < spaced.length) {
      if (spaced.charCodeAt(at) !== SPACE) continue;
      const before = spaced.charCodeAt(at - 1);
      if (before === SPACE || before === SPACE_MARK) continue;
    }
    const word = spaced.slice(from, at);
    from = at;
    if (word.length > WORD_CACHE_MAX_CHARS) {
      total += countWithLeadingSpace(word);
      continue;
    }
    let count = cache.get(word);
    if (count === undefined) {
      count = countWithLeadingSpace(word);
      cache.set(word, count);
    }
    total += count;
  }
  return total;
}

/**
 * Llama-2 SentencePiece (Phi-3-mini/medium, Phi-3.5). Loaded on first use with `require` because
 * llama-tokenizer-js decodes its 32k vocabulary while its module is evaluated: a static
 * import would charge that to every process that merely imports this adapter.
 */
export function getLlamaSegmentCounter(): CountSegmentTokens {
  if (llamaCounter === undefined) {
    const tokenizer = (require('llama-tokenizer-js') as typeof import('llama-tokenizer-js')).default;
    // SentencePiece adds its dummy prefix ("▁") to every segment it encodes, as Phi-3's tokenizer does
    // to the text between two special tokens (countLlamaByWords adds it); BOS is accounted for by the
    // chat template, not here.
    const countWithLeadingSpace: CountSegmentTokens = (word) => tokenizer.encode(word, false, false).length;
    const cache = new LruCache<string, number>(WORD_CACHE_MAX_ENTRIES);
    llamaCounter = (text) => countLlamaByWords(text, countWithLeadingSpace, cache);
  }
  return llamaCounter;
}

/** cl100k_base (Phi-3-small). Building its rank maps takes most of a second, so only on first use. */
export function getCl100kSegmentCounter(): CountSegmentTokens {
  if (cl100kCounter === undefined) {
    // The CJS build of the ranks module exports the encoding object itself.
    const ranks = require('js-tiktoken/ranks/cl100k_base') as TiktokenBPE | { default: TiktokenBPE };
    const encoding = new Tiktoken('default' in ranks ? ranks.default : ranks);
    // Special-token look-alikes inside user text are plain text to us (the library would throw by default).
    const count: CountSegmentTokens = (text) => (text.length === 0 ? 0 : encoding.encode(text, [], []).length);
    cl100kCounter = (text) => countWithLongWordsInPieces(text, count);
  }
  return cl100kCounter;
}
