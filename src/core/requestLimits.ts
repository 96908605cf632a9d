import { LineErrorCode, type LineError } from './lineErrors.js';
import { MAX_MAX_TOKENS } from './parseBatchLine.js';

/** What one call to a deployment can hold: checked before a line is sent, so it never reaches the budget. */
export interface RequestLimits {
  /** Prompt tokens + max_tokens the deployment's model accepts (its context window). */
  readonly contextLength: number;
  /** The deployment's tokens per minute: a request that asks for more could never be admitted within it. */
  readonly tokensPerMinute: number;
}

/**
 * The context window a model's name implies: Phi-3's variants name it (`-4k-`, `-8k-`, `-128k-`), the
 * Phi-3.5 models have 128k; a name that says nothing gets the largest Phi-3 context (the endpoint still decides).
 */
export function defaultContextLength(model: string): number {
  const name = model.toLowerCase();
  const named = /(?:^|[-_ ])(\d{1,3})k(?:$|[-_ ])/.exec(name);
  if (named !== undefined && named !== null) return Number(named[1]) * 1024;
  if (name.startsWith('phi-3.5')) return 131_072;
  return MAX_MAX_TOKENS;
}

export interface RequestSize {
  /** Prompt tokens as the deployment's tokenizer counts them; 0 when not counted (then only max_tokens is checked). */
  readonly promptTokens: number;
  readonly maxTokens: number;
  /** max_tokens is the default, not the line's own. */
  readonly maxTokensDefaulted: boolean;
}

/** Why a request could never be served by the deployment, or undefined if it could. */
export function requestSizeError(size: RequestSize, limits: RequestLimits): LineError | undefined {
  const total = size.promptTokens + size.maxTokens;
  const maxTokens = size.maxTokensDefaulted
    ? `max_tokens (${size.maxTokens}, the default: the line sets none)`
    : `max_tokens (${size.maxTokens})`;
  const asked =
    size.promptTokens > 0
      ? `The prompt (${size.promptTokens} tokens) + ${maxTokens} = ${total} tokens`
      : `${maxTokens}`;
  if (total > limits.contextLength) {
    return {
      code: LineErrorCode.contextLengthExceeded,
      message: `${asked} exceed the model's context of ${limits.contextLength} tokens; lower max_tokens or shorten the prompt`,
      param: 'body.max_tokens',
    };
  }
  if (total > limits.tokensPerMinute) {
    return {
      code: LineErrorCode.tokensExceedRateLimit,
      message: `${asked} exceed the deployment's limit of ${limits.tokensPerMinute} tokens per minute, so it could never be admitted; lower max_tokens`,
      param: 'body.max_tokens',
    };
  }
  return undefined;
}
