import { createHash } from 'node:crypto';
import type { ChatCompletionBody, ChatMessage, TokenCounter } from '../../src/core/chat.js';
import { chatMessageText } from '../../src/adapters/tokenizer/index.js';
import { createSeededRandom } from './seededRandom.js';

export const FinishReason = {
  stop: 'stop',
  length: 'length',
  contentFilter: 'content_filter',
} as const;
export type FinishReason = (typeof FinishReason)[keyof typeof FinishReason];

export interface SimulatedCompletion {
  readonly content: string;
  /** Always `tokenCounter.countText(content)`. */
  readonly completionTokens: number;
  readonly finishReason: FinishReason;
}

/** A prompt containing this gets a 400 content-filter error (a non-retryable 4xx on demand). */
export const PROMPT_CONTENT_FILTER_MARKER = '[[content_filter]]';
/** A prompt containing this gets a 200 whose completion was filtered (`finish_reason: content_filter`). */
export const COMPLETION_CONTENT_FILTER_MARKER = '[[content_filter_completion]]';

const MIN_FILLER_WORDS = 8;
const MAX_FILLER_WORDS = 64;

const FILLER_WORDS = [
  'alpha',
  'batch',
  'cloud',
  'delta',
  'echo',
  'field',
  'graph',
  'harbor',
  'index',
  'jungle',
  'kernel',
  'ledger',
  'metric',
  'node',
  'orbit',
  'prompt',
  'queue',
  'record',
  'signal',
  'token',
  'update',
  'vector',
  'window',
  'yield',
  'zone',
  'answer',
  'budget',
  'careful',
  'data',
  'early',
  'final',
  'green',
  'honest',
  'input',
  'journey',
  'kind',
  'light',
  'model',
  'number',
  'output',
  'plain',
  'quiet',
  'result',
  'simple',
  'table',
  'useful',
  'valid',
  'water',
  'example',
  'summary',
  'the',
  'a',
  'of',
  'and',
  'to',
  'in',
  'is',
  'for',
  'with',
  'on',
  'as',
  'by',
  'this',
  'that',
] as const;

/** Every answer's first word. */
const ANCHOR = 'Simulated';

/** Every word of an answer but the prompt's hash. */
const FIXED_WORDS: ReadonlySet<string> = new Set<string>([ANCHOR, 'answer', ...FILLER_WORDS]);

/** JSON with object keys sorted at every level, so equal values always serialise the same way. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(sortKeys);
  }
  if (typeof value === 'object' && value !== null) {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return sorted;
  }
  return value;
}

/** sha256 (hex) of the canonical JSON of the messages: the identity of a prompt in the simulator. */
export function hashMessages(messages: readonly ChatMessage[]): string {
  return createHash('sha256').update(canonicalJson(messages)).digest('hex');
}

export function promptContains(messages: readonly ChatMessage[], marker: string): boolean {
  return messages.some((message) => chatMessageText(message.content).includes(marker));
}

/**
 * The answer the simulator gives to a request: a pure function of the messages (and `max_tokens`),
 * so tests can compute the expected output line for any input line.
 */
export function simulatedCompletion(body: ChatCompletionBody, tokenCounter: TokenCounter): SimulatedCompletion {
  if (promptContains(body.messages, COMPLETION_CONTENT_FILTER_MARKER)) {
    return { content: '', completionTokens: 0, finishReason: FinishReason.contentFilter };
  }
  const hash = hashMessages(body.messages);
  const random = createSeededRandom(Number.parseInt(hash.slice(12, 20), 16));
  const fillerCount =
    MIN_FILLER_WORDS + (Number.parseInt(hash.slice(20, 24), 16) % (MAX_FILLER_WORDS - MIN_FILLER_WORDS + 1));
  const words: string[] = [ANCHOR, 'answer', hash.slice(0, 12)];
  for (let i = 0; i < fillerCount; i += 1) {
    words.push(FILLER_WORDS[Math.floor(random() * FILLER_WORDS.length)] as string);
  }
  return fitToMaxTokens(words, body.max_tokens ?? undefined, tokenCounter);
}

/** Token counts of the fixed words (and of each with the closing period), per counter: the simulator answers hundreds of requests a second. */
const wordCountsByCounter = new WeakMap<TokenCounter, Map<string, number>>();

/**
 * Tokens that `word` adds to the answer at `position`. The first word is counted alone; a later one
 * as the text after the first word and a space (a space is its own token in some vocabularies and
 * part of the next word in others).
 */
function wordTokens(word: string, position: number, tokenCounter: TokenCounter): number {
  let counts = wordCountsByCounter.get(tokenCounter);
  if (counts === undefined) {
    counts = new Map();
    wordCountsByCounter.set(tokenCounter, counts);
  }
  const key = position === 0 ? word : ` ${word}`;
  let count = counts.get(key);
  if (count === undefined) {
    count =
      position === 0
        ? tokenCounter.countText(word)
        : tokenCounter.countText(`${ANCHOR} ${word}`) - wordTokens(ANCHOR, 0, tokenCounter);
    // Only the fixed vocabulary is kept; the per-prompt hash word would grow the map without bound.
    if (FIXED_WORDS.has(word.endsWith('.') ? word.slice(0, -1) : word)) counts.set(key, count);
  }
  return count;
}

/**
 * The full answer (its words and a closing period) if it fits `maxTokens`, else its longest run of
 * whole words that fits (finish_reason "length"). Both vocabularies split text at spaces before
 * tokenizing (SentencePiece's whitespace split, tiktoken's word chunks), so an answer's count is the
 * sum of what its words add (see wordTokens): one pass over the words, with the fixed words' counts
 * cached, instead of tokenizing prefixes of the answer. The tests hold this sum to the tokenizer's
 * count of the whole text.
 */
function fitToMaxTokens(
  words: readonly string[],
  maxTokens: number | undefined,
  tokenCounter: TokenCounter,
): SimulatedCompletion {
  const last = words.length - 1;
  let tokens = 0;
  for (let i = 0; i < last; i += 1) tokens += wordTokens(words[i] as string, i, tokenCounter);
  const fullTokens = tokens + wordTokens(`${words[last] as string}.`, last, tokenCounter);
  if (maxTokens === undefined || fullTokens <= maxTokens) {
    return { content: `${words.join(' ')}.`, completionTokens: fullTokens, finishReason: FinishReason.stop };
  }
  let fitting = 0;
  tokens = 0;
  while (fitting < words.length) {
    const next = tokens + wordTokens(words[fitting] as string, fitting, tokenCounter);
    if (next > maxTokens) break;
    tokens = next;
    fitting += 1;
  }
  if (fitting > 0)
    return { content: words.slice(0, fitting).join(' '), completionTokens: tokens, finishReason: FinishReason.length };
  // Not even the first word fits: as many of its characters as do.
  const first = words[0] ?? '';
  const fittingChars = largestFitting(first.length, (n) => tokenCounter.countText(first.slice(0, n)) <= maxTokens);
  const content = first.slice(0, fittingChars);
  return { content, completionTokens: tokenCounter.countText(content), finishReason: FinishReason.length };
}

/** Largest n in [0, upper] with fits(n), given fits(0) and fits monotone decreasing. */
function largestFitting(upper: number, fits: (n: number) => boolean): number {
  let low = 0;
  let high = upper;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(mid)) {
      low = mid;
    } else {
      high = mid - 1;
    }
  }
  return low;
}
