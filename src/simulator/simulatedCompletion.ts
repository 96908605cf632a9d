import { createHash } from 'node:crypto';
import type { ChatCompletionBody, ChatMessage, TokenCounter } from '../core/chat.js';
import { chatMessageText } from '../adapters/tokenizer/index.js';
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
  'alpha', 'batch', 'cloud', 'delta', 'echo', 'field', 'graph', 'harbor', 'index', 'jungle', 'kernel',
  'ledger', 'metric', 'node', 'orbit', 'prompt', 'queue', 'record', 'signal', 'token', 'update', 'vector',
  'window', 'yield', 'zone', 'answer', 'budget', 'careful', 'data', 'early', 'final', 'green', 'honest',
  'input', 'journey', 'kind', 'light', 'model', 'number', 'output', 'plain', 'quiet', 'result', 'simple',
  'table', 'useful', 'valid', 'water', 'example', 'summary', 'the', 'a', 'of', 'and', 'to', 'in', 'is',
  'for', 'with', 'on', 'as', 'by', 'this', 'that',
] as const;

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
  const words: string[] = ['Simulated', 'answer', hash.slice(0, 12)];
  for (let i = 0; i < fillerCount; i += 1) {
    words.push(FILLER_WORDS[Math.floor(random() * FILLER_WORDS.length)] as string);
  }
  const full = `${words.join(' ')}.`;
  const fullTokens = tokenCounter.countText(full);
  const maxTokens = body.max_tokens;
  if (maxTokens === null || maxTokens === undefined || fullTokens <= maxTokens) {
    return { content: full, completionTokens: fullTokens, finishReason: FinishReason.stop };
  }
  const content = longestPrefixWithin(words, maxTokens, tokenCounter);
  return { content, completionTokens: tokenCounter.countText(content), finishReason: FinishReason.length };
}

/**
 * The longest prefix (whole words first, then characters of the first word) whose token count fits.
 * Binary search assumes counts grow with the prefix, which holds for these words; whatever it returns
 * has been counted and fits, so the result never exceeds `maxTokens`.
 */
function longestPrefixWithin(words: readonly string[], maxTokens: number, tokenCounter: TokenCounter): string {
  const wordsPrefix = (n: number): string => words.slice(0, n).join(' ');
  const fittingWords = largestFitting(words.length, (n) => tokenCounter.countText(wordsPrefix(n)) <= maxTokens);
  if (fittingWords > 0) {
    return wordsPrefix(fittingWords);
  }
  const first = words[0] ?? '';
  const fittingChars = largestFitting(first.length, (n) => tokenCounter.countText(first.slice(0, n)) <= maxTokens);
  return first.slice(0, fittingChars);
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
