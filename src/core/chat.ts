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

/** Counts tokens the way a model's tokenizer does. Implementations live in adapters; the core only asks. */
export interface TokenCounter {
  /** Tokens of the whole chat prompt, including the model's chat-template special tokens. */
  countChatPrompt(messages: readonly ChatMessage[]): number;
  countText(text: string): number;
}
