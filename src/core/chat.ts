/** The chat/completions request body as the Azure AI model inference API accepts it. */
export interface ChatMessage {
  readonly role: string;
  readonly content: string | readonly ChatContentPart[] | null;
  readonly name?: string;
}

export interface ChatContentPart {
  readonly type: string;
  readonly text?: string;
}

export interface ChatCompletionBody {
  readonly messages: readonly ChatMessage[];
  readonly model?: string;
  readonly max_tokens?: number | null;
  readonly [field: string]: unknown;
}

export interface TokenUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

/** `usage` as a chat.completion carries it. */
export interface CompletionUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens?: number;
}

/** Why the model stopped; endpoints may add others, so any string is kept. */
export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | (string & {});

/** One choice of a chat.completion. */
export interface ChatChoice {
  readonly index?: number;
  /** The assistant's message. */
  readonly message?: { readonly role?: string; readonly content?: string | null; readonly [field: string]: unknown };
  readonly finish_reason?: FinishReason | null;
  readonly [field: string]: unknown;
}

/**
 * The chat.completion the endpoint answers with (Azure AI model inference), as the worker relies on it:
 * a `choices` list and the billed `usage`. Other fields are kept as sent.
 */
export interface ChatCompletion {
  /** The endpoint's id for the completion. */
  readonly id?: string;
  /** "chat.completion". */
  readonly object?: string;
  /** Unix seconds. */
  readonly created?: number;
  /** The model that answered. */
  readonly model?: string;
  readonly choices: readonly ChatChoice[];
  /** Tokens billed for the call (`total_tokens` may be missing). */
  readonly usage: CompletionUsage;
  readonly [field: string]: unknown;
}

/** Counts tokens the way a model's tokenizer does. Implementations live in adapters; the core only asks. */
export interface TokenCounter {
  /** Tokens of the whole chat prompt, including the model's chat-template special tokens. */
  countChatPrompt(messages: readonly ChatMessage[]): number;
  countText(text: string): number;
}
