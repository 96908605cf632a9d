import { createHash } from 'node:crypto';
import type { ChatMessage, TokenCounter } from '../../core/chat.js';
import { LruCache } from './LruCache.js';
import { getCl100kSegmentCounter, getLlamaSegmentCounter, type CountSegmentTokens } from './textEncoders.js';

export const TokenizerFamily = {
  /** Phi-3-mini, Phi-3-medium, Phi-3.5-mini, Phi-3.5-MoE: the Llama-2 32k vocabulary plus chat tokens. */
  llama2SentencePiece: 'llama2-sentencepiece',
  /** Phi-3-small: a tiktoken cl100k_base vocabulary. */
  cl100kBase: 'cl100k_base',
} as const;
export type TokenizerFamily = (typeof TokenizerFamily)[keyof typeof TokenizerFamily];

/** Chat-template markers that the Phi-3 vocabularies hold as single tokens. */
export const PHI3_SPECIAL_TOKENS = ['<|system|>', '<|user|>', '<|assistant|>', '<|end|>'] as const;

/** Counts of message contents kept per tokenizer family; batch files repeat system prompts a lot. */
export const MESSAGE_COUNT_CACHE_MAX_ENTRIES = 2_000;

/** Contents up to this length are their own cache key; longer ones are keyed by a digest to bound memory. */
const LITERAL_KEY_MAX_CHARS = 256;

const ROLES_WITH_SPECIAL_TOKEN: ReadonlySet<string> = new Set(['system', 'user', 'assistant']);
const BOS_TOKENS = 1;
const SPECIAL_TOKEN = 1;

/**
 * Deployment names are free text, so anything that is not recognisably Phi-3-small gets the
 * vocabulary of the rest of the family.
 */
export function tokenizerFamilyForModel(model: string): TokenizerFamily {
  return /phi-?3-small/i.test(model) ? TokenizerFamily.cl100kBase : TokenizerFamily.llama2SentencePiece;
}

/** The text a message contributes: a string, or its text parts concatenated (other parts add nothing). */
export function chatMessageText(content: ChatMessage['content']): string {
  if (content === null || content === undefined) {
    return '';
  }
  if (typeof content === 'string') {
    return content;
  }
  let text = '';
  for (const part of content) {
    if (part.type === 'text' && typeof part.text === 'string') {
      text += part.text;
    }
  }
  return text;
}

interface FamilyCounting {
  readonly countSegment: CountSegmentTokens;
  readonly cache: LruCache<string, number>;
  /** Tokens of the "\n" that follows every `<|end|>` and the final `<|assistant|>`. */
  readonly newlineTokens: number;
}

const countingByFamily = new Map<TokenizerFamily, FamilyCounting>();

function countingFor(family: TokenizerFamily): FamilyCounting {
  let counting = countingByFamily.get(family);
  if (counting === undefined) {
    const countSegment = family === TokenizerFamily.cl100kBase ? getCl100kSegmentCounter() : getLlamaSegmentCounter();
    counting = {
      countSegment,
      cache: new LruCache<string, number>(MESSAGE_COUNT_CACHE_MAX_ENTRIES),
      newlineTokens: countSegment('\n'),
    };
    countingByFamily.set(family, counting);
  }
  return counting;
}

function cachedSegmentCount(counting: FamilyCounting, segment: string): number {
  const key =
    segment.length <= LITERAL_KEY_MAX_CHARS
      ? `t:${segment}`
      : `h:${createHash('sha256').update(segment).digest('base64')}`;
  const cached = counting.cache.get(key);
  if (cached !== undefined) {
    return cached;
  }
  const count = counting.countSegment(segment);
  counting.cache.set(key, count);
  return count;
}

/**
 * Phi-3 chat template: `<s>` then, per message, `<|role|>\n{content}<|end|>\n`, then `<|assistant|>\n`.
 * Special tokens count one each; the text between them is tokenized as its own segment, as the
 * model's tokenizer splits on added tokens before running the vocabulary.
 */
export function createTokenCounter(model: string): TokenCounter {
  const family = tokenizerFamilyForModel(model);
  // Resolved on first use so that creating a counter stays cheap.
  let counting: FamilyCounting | undefined;
  const getCounting = (): FamilyCounting => (counting ??= countingFor(family));

  return {
    countChatPrompt(messages: readonly ChatMessage[]): number {
      const c = getCounting();
      let total = BOS_TOKENS;
      for (const message of messages) {
        const text = chatMessageText(message.content);
        if (ROLES_WITH_SPECIAL_TOKEN.has(message.role)) {
          total += SPECIAL_TOKEN + cachedSegmentCount(c, `\n${text}`);
        } else {
          // No single token exists for other roles (e.g. "tool"): its marker is ordinary text.
          total += cachedSegmentCount(c, `<|${message.role}|>\n${text}`);
        }
        total += SPECIAL_TOKEN + c.newlineTokens;
      }
      return total + SPECIAL_TOKEN + c.newlineTokens;
    },
    countText(text: string): number {
      // Not cached: completions are mostly unique and would push repeated prompts out of the cache.
      return getCounting().countSegment(text);
    },
  };
}
