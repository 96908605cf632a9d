import type { ChatCompletionBody, TokenCounter } from '../../core/chat.js';
import { INGEST_DEFAULT_TOKENS_PER_CHAR } from '../tuning.js';
import type { IngestTally } from './IngestTally.js';

/** Prompt text of a request, for estimating tokens from characters beyond the exactly counted sample. */
export function promptChars(body: ChatCompletionBody): number {
  let chars = 0;
  for (const message of body.messages) {
    const content = message.content;
    if (typeof content === 'string') chars += content.length;
    else if (content !== null) {
      for (const part of content) chars += typeof part.text === 'string' ? part.text.length : 0;
    }
  }
  return chars;
}

/** The request's prompt tokens counted exactly, when it is among the first `exactTokenLines` requests. */
export function exactPromptTokens(
  tally: IngestTally,
  body: ChatCompletionBody,
  counter: TokenCounter,
  exactTokenLines: number,
): number | undefined {
  return tally.sampledLines < exactTokenLines ? counter.countChatPrompt(body.messages) : undefined;
}

/**
 * Adds a request's prompt tokens to the tally. The tokenizer is exact but slow: the first
 * `exactTokenLines` requests are counted exactly (`counted`, when the caller has counted them already),
 * the rest estimated from their length at the rate the sample showed (plus the sample's per-line overhead).
 */
export function addPromptTokens(
  tally: IngestTally,
  body: ChatCompletionBody,
  counter: TokenCounter,
  exactTokenLines: number,
  counted: number | undefined = exactPromptTokens(tally, body, counter, exactTokenLines),
): void {
  if (counted !== undefined) {
    tally.estimatedPromptTokens += counted;
    tally.sampledTokens += counted;
    tally.sampledChars += promptChars(body);
    tally.sampledLines += 1;
    return;
  }
  const { sampledChars, sampledTokens, sampledLines } = tally;
  const perChar = sampledChars === 0 ? INGEST_DEFAULT_TOKENS_PER_CHAR : sampledTokens / sampledChars;
  const overheadPerLine = (sampledTokens - sampledChars * perChar) / Math.max(1, sampledLines);
  tally.estimatedPromptTokens += Math.ceil(promptChars(body) * perChar + overheadPerLine);
}

/** Adds a request's completion tokens at most (its max_tokens, else the default) to the tally. */
export function addMaxCompletionTokens(tally: IngestTally, body: ChatCompletionBody, defaultMaxTokens: number): void {
  const maxTokens = body.max_tokens;
  if (maxTokens === undefined || maxTokens === null) tally.defaultMaxTokensApplied += 1;
  tally.maxCompletionTokens += maxTokens ?? defaultMaxTokens;
}
