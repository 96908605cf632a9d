import type { ChatCompletionBody } from '../../core/chat.js';
import type { LineOutcome } from '../../core/lineOutcome.js';
import type { RequestItem } from '../../core/requestMessage.js';

/** One line's way through its attempts: what it sends and what its attempts have come to so far. */
export interface LineState {
  readonly item: RequestItem;
  /** The request as sent: `max_tokens` filled in with the default when the line left it out. */
  readonly body: ChatCompletionBody;
  /** The line set no max_tokens of its own (the default was filled in). */
  readonly maxTokensDefaulted: boolean;
  /** Calls made for the line, earlier rounds and throttled calls included. */
  attempts: number;
  /** Failed calls in this round that count against the retry limit (throttled ones do not). */
  failedAttempts: number;
  /** Calls of this round our time limit cut off: each may have been billed (decision 0010). */
  timedOutAttempts: number;
  /** When the first call of this round left. */
  startedAtInMs: number | null;
  /**
   * Prompt tokens plus max_tokens, counted once the line first has a call slot, not when its message
   * arrives: a batch of messages brings hundreds of lines at once, and counting them all in one go
   * held up the budget's timers.
   */
  reservedTokens: number | undefined;
}

/** How a line's run ended: with its outcome, or travelling on in a delayed message. */
export type LineResult =
  | { readonly kind: 'outcome'; readonly outcome: LineOutcome }
  | { readonly kind: 'requeue'; readonly item: RequestItem; readonly delayInMs: number; readonly reason: string };

export function startLine(item: RequestItem, body: ChatCompletionBody, defaultMaxTokens: number): LineState {
  const maxTokensDefaulted = body.max_tokens === undefined || body.max_tokens === null;
  const withMaxTokens = maxTokensDefaulted ? { ...body, max_tokens: defaultMaxTokens } : body;
  return {
    item,
    body: withMaxTokens,
    maxTokensDefaulted,
    attempts: item.prior ?? 0,
    failedAttempts: 0,
    timedOutAttempts: 0,
    startedAtInMs: null,
    reservedTokens: undefined,
  };
}
