/**
 * A streamed chat completion (`stream: true`), turned back into the `chat.completion` an unstreamed call
 * returns: a line's output is the same whichever way the call was made. Two pure steps: the server-sent
 * events are split out of the bytes as they arrive ({@link ServerSentEventParser}), then their
 * `chat.completion.chunk`s are added up ({@link StreamedCompletionAssembler}).
 */
import type { TokenUsage } from './chat.js';

/** The `data` of one server-sent event (several `data:` lines joined by newlines). Other fields are ignored. */
export type ServerSentEvent = string;

/**
 * Splits a `text/event-stream` into events, across chunk boundaries: lines end with LF, CRLF or CR; an
 * empty line ends an event; lines starting with `:` are comments (keep-alives).
 */
export class ServerSentEventParser {
  #buffer = '';
  #data: string[] = [];

  /** The events completed by `text` (and what came before it). */
  push(text: string): ServerSentEvent[] {
    this.#buffer += text;
    const events: ServerSentEvent[] = [];
    for (;;) {
      const match = /\r\n|\n|\r/.exec(this.#buffer);
      // A lone CR at the end may be the first half of a CRLF: wait for the next chunk.
      if (match === null || (match[0] === '\r' && match.index === this.#buffer.length - 1)) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      if (line === '') {
        if (this.#data.length > 0) events.push(this.#data.join('\n'));
        this.#data = [];
      } else if (line.startsWith('data:')) {
        const value = line.slice('data:'.length);
        this.#data.push(value.startsWith(' ') ? value.slice(1) : value);
      }
    }
    return events;
  }

  /** Whatever is left at the end of the stream: an event without its closing empty line still counts. */
  end(): ServerSentEvent[] {
    const events = this.push('\n\n');
    this.#buffer = '';
    return events;
  }
}

/** The end-of-stream marker OpenAI-compatible endpoints send as the last event. */
export const STREAM_DONE = '[DONE]';

/** The stream was not a chat-completion stream, or ended before its finish reason. */
export class StreamedCompletionError extends Error {
  override readonly name = 'StreamedCompletionError';
  readonly code = 'invalid_completion_stream';
}

export interface AssembledChoice {
  readonly index: number;
  readonly message: { readonly role: string; readonly content: string };
  readonly finish_reason: string | null;
}

/** The `chat.completion` the stream adds up to. */
export interface AssembledCompletion {
  readonly id: string;
  readonly object: 'chat.completion';
  readonly created: number;
  readonly model: string;
  readonly choices: readonly AssembledChoice[];
  /** From the last chunk when `stream_options.include_usage` was set; undefined when the stream had none. */
  readonly usage: TokenUsage | undefined;
}

interface ChoiceState {
  role: string;
  content: string[];
  finishReason: string | null;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function isUsage(value: unknown): value is TokenUsage {
  return (
    isRecord(value) &&
    typeof value['prompt_tokens'] === 'number' &&
    typeof value['completion_tokens'] === 'number' &&
    typeof value['total_tokens'] === 'number'
  );
}

/** Adds up the chunks of one streamed completion. */
export class StreamedCompletionAssembler {
  #id: string | undefined;
  #created = 0;
  #model = '';
  #usage: TokenUsage | undefined;
  #done = false;
  readonly #choices = new Map<number, ChoiceState>();

  /** Whether `[DONE]` has arrived. */
  get done(): boolean {
    return this.#done;
  }

  /** Takes one event's data: a JSON chunk, or `[DONE]`. */
  add(event: ServerSentEvent): void {
    if (event.trim() === STREAM_DONE) {
      this.#done = true;
      return;
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(event);
    } catch (error) {
      throw new StreamedCompletionError('A stream event is not JSON', { cause: error });
    }
    if (!isRecord(chunk) || !Array.isArray(chunk['choices'])) {
      throw new StreamedCompletionError('A stream event is not a chat.completion.chunk');
    }
    if (typeof chunk['id'] === 'string') this.#id ??= chunk['id'];
    if (typeof chunk['created'] === 'number') this.#created = chunk['created'];
    if (typeof chunk['model'] === 'string') this.#model = chunk['model'];
    if (isUsage(chunk['usage'])) this.#usage = chunk['usage'];
    for (const choice of chunk['choices'] as unknown[]) {
      if (!isRecord(choice)) continue;
      const index = typeof choice['index'] === 'number' ? choice['index'] : 0;
      let state = this.#choices.get(index);
      if (state === undefined) {
        state = { role: 'assistant', content: [], finishReason: null };
        this.#choices.set(index, state);
      }
      const delta = choice['delta'];
      if (isRecord(delta)) {
        if (typeof delta['role'] === 'string') state.role = delta['role'];
        if (typeof delta['content'] === 'string') state.content.push(delta['content']);
      }
      if (typeof choice['finish_reason'] === 'string') state.finishReason = choice['finish_reason'];
    }
  }

  /** The completion; fails when no chunk came or a choice never got its finish reason (the stream was cut). */
  result(): AssembledCompletion {
    if (this.#id === undefined) throw new StreamedCompletionError('The stream carried no chunk');
    const choices = [...this.#choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, state]): AssembledChoice => {
        if (state.finishReason === null)
          throw new StreamedCompletionError(`Choice ${index} ended without a finish reason`);
        return {
          index,
          message: { role: state.role, content: state.content.join('') },
          finish_reason: state.finishReason,
        };
      });
    return {
      id: this.#id,
      object: 'chat.completion',
      created: this.#created,
      model: this.#model,
      choices,
      usage: this.#usage,
    };
  }
}
