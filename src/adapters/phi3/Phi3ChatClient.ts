import { Pool, errors as undiciErrors } from 'undici';
import type { ChatClient, ChatCompleteOptions, ChatCompletionResult } from '../../app/ports.js';
import type { ChatCompletionBody } from '../../core/chat.js';
import {
  ServerSentEventParser,
  StreamedCompletionAssembler,
  StreamedCompletionError,
} from '../../core/streamedCompletion.js';
import { toChatCompletionResult, type Phi3HttpAnswer } from './phi3Answer.js';

export interface Phi3ChatClientOptions {
  /** The deployment's target URI, e.g. https://<name>.<region>.models.ai.azure.com */
  readonly endpoint: string;
  readonly apiKey: string;
  readonly apiVersion: string;
  readonly timeoutInMs: number;
  readonly connections: number;
  /** Dates a `retry-after` sent as an HTTP date; the system clock by default. */
  readonly nowInMs?: () => number;
}

/** Header carrying the line's custom_id, so a request can be traced end to end in the endpoint's logs. */
export const CUSTOM_ID_HEADER = 'x-phi3batch-custom-id';

const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
/** Failures before a connection existed: the request never reached the endpoint, so it cannot be billed. */
const NEVER_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** Half a surrogate pair: legal in a JSON string, but encodeURIComponent throws on it. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The Azure AI model inference chat/completions call over one keep-alive pool per process. Resolves
 * with a typed completion or rejects with the port's typed error for what happened (see `phi3Answer`);
 * the retry policy decides what to do about it.
 */
export class Phi3ChatClient implements ChatClient {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #authorization: string;
  readonly #nowInMs: () => number;
  /** The endpoint refused a streamed request's parameters once: this client's calls are plain from then on. */
  #streamRefused = false;

  constructor(options: Phi3ChatClientOptions) {
    const url = new URL(options.endpoint);
    const basePath = url.pathname.replace(/\/+$/, '');
    this.#path = `${basePath}/chat/completions?api-version=${encodeURIComponent(options.apiVersion)}`;
    this.#authorization = `Bearer ${options.apiKey}`;
    this.#nowInMs = options.nowInMs ?? Date.now;
    this.#pool = new Pool(url.origin, {
      connections: options.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutInMs,
      bodyTimeout: options.timeoutInMs,
      connect: { timeout: Math.min(10_000, options.timeoutInMs) },
    });
  }

  async complete(body: ChatCompletionBody, options: ChatCompleteOptions = {}): Promise<ChatCompletionResult> {
    if (options.stream === undefined || this.#streamRefused) {
      return toChatCompletionResult(await this.exchange(body, withoutStream(options)), this.#nowInMs());
    }
    const answer = await this.exchange(body, options);
    if (!refusesStreaming(answer)) return toChatCompletionResult(answer, this.#nowInMs());
    // `stream_options` is not in every deployment's contract; a refused request was not generated nor
    // billed, so the call is made again plain, with its whole-answer limit, and so are the ones after it.
    this.#streamRefused = true;
    return toChatCompletionResult(await this.exchange(body, withoutStream(options)), this.#nowInMs());
  }

  /** The HTTP exchange itself: what came back, or how it failed. Rejects only when aborted. */
  async exchange(body: ChatCompletionBody, options: ChatCompleteOptions = {}): Promise<Phi3HttpAnswer> {
    // A serverless deployment serves one model; a `model` from the user's file would be refused or ignored.
    const { model: _ignored, ...userPayload } = body;
    const stream = options.stream;
    const payload =
      stream === undefined ? userPayload : { ...userPayload, stream: true, stream_options: { include_usage: true } };
    const startedAt = performance.now();
    const latency = (): number => Math.round(performance.now() - startedAt);
    const headers: Record<string, string> = {
      authorization: this.#authorization,
      'content-type': 'application/json',
      accept: stream === undefined ? 'application/json' : 'text/event-stream, application/json',
    };
    if (options.callId !== undefined) headers['x-ms-client-request-id'] = options.callId;
    if (options.customId !== undefined)
      headers[CUSTOM_ID_HEADER] = encodeURIComponent(options.customId.replace(LONE_SURROGATE, '\ufffd'));
    try {
      const response = await this.#pool.request({
        method: 'POST',
        path: this.#path,
        headers,
        body: JSON.stringify(payload),
        signal: options.abortSignal,
        ...timeoutsOf(options),
      });
      const flatHeaders: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        flatHeaders[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
      }
      const requestId =
        flatHeaders['x-request-id'] ?? flatHeaders['apim-request-id'] ?? flatHeaders['x-ms-request-id'] ?? '';
      const status = response.statusCode;
      // Errors come before a stream starts, as JSON: only a 2xx event stream is read chunk by chunk.
      const isStream = (flatHeaders['content-type'] ?? '').includes('text/event-stream');
      const read =
        isStream && status >= 200 && status < 300 ? await readStream(response.body) : readJson(response.body);
      const { body: parsed, streamProblem } = await read;
      return {
        kind: 'response',
        status,
        headers: flatHeaders,
        body: parsed,
        requestId,
        latencyInMs: latency(),
        ...(streamProblem === undefined ? {} : { streamProblem }),
      };
    } catch (error) {
      const code = (error as { code?: string } | null)?.code;
      if (code !== undefined && TIMEOUT_CODES.has(code)) return { kind: 'timeout', latencyInMs: latency() };
      if (error instanceof undiciErrors.RequestAbortedError) throw error;
      const message = error instanceof Error ? `${error.name}: ${error.message}` : 'unknown network error';
      return {
        kind: 'network',
        message,
        neverSent: code !== undefined && NEVER_SENT_CODES.has(code),
        latencyInMs: latency(),
      };
    }
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

function withoutStream(options: ChatCompleteOptions): ChatCompleteOptions {
  const { stream: _stream, ...plain } = options;
  return plain;
}

/** A 400 or 422 that names the streaming parameters: the deployment does not take them. */
function refusesStreaming(answer: Phi3HttpAnswer): boolean {
  if (answer.kind !== 'response' || (answer.status !== 400 && answer.status !== 422)) return false;
  return /stream/i.test(JSON.stringify(answer.body ?? ''));
}

type ResponseBody = AsyncIterable<Buffer | string> & { text(): Promise<string> };

/**
 * A call's own limits: unstreamed, until the answer's headers (an unstreamed answer comes whole) and
 * between two chunks of its body; streamed, until the first chunk, then between chunks (an idle limit).
 */
function timeoutsOf(options: ChatCompleteOptions): { headersTimeout?: number; bodyTimeout?: number } {
  if (options.stream !== undefined)
    return { headersTimeout: options.stream.firstChunkInMs, bodyTimeout: options.stream.idleInMs };
  if (options.timeoutInMs !== undefined)
    return { headersTimeout: options.timeoutInMs, bodyTimeout: options.timeoutInMs };
  return {};
}

/** An unstreamed body: JSON, or the text when it is not (a proxy's HTML error page, kept for the line's record). */
async function readJson(body: ResponseBody): Promise<{ body: unknown; streamProblem?: string }> {
  const text = await body.text();
  try {
    return { body: JSON.parse(text) as unknown };
  } catch {
    return { body: text };
  }
}

/**
 * A streamed body added up to the `chat.completion` an unstreamed call returns, usage from the stream's
 * end. A stream that breaks off or is not chunks is a malformed answer (billed, most likely); a stall
 * past the idle limit rejects with undici's body timeout, as an unstreamed one does.
 */
async function readStream(body: ResponseBody): Promise<{ body: unknown; streamProblem?: string }> {
  const parser = new ServerSentEventParser();
  const assembler = new StreamedCompletionAssembler();
  const decoder = new TextDecoder();
  try {
    for await (const chunk of body) {
      const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      for (const event of parser.push(text)) assembler.add(event);
    }
    for (const event of parser.push(decoder.decode())) assembler.add(event);
    for (const event of parser.end()) assembler.add(event);
    const completion = assembler.result();
    return { body: completion.usage === undefined ? { ...completion, usage: null } : completion };
  } catch (error) {
    if (!(error instanceof StreamedCompletionError)) throw error;
    return { body: null, streamProblem: `a stream that does not add up to a completion (${error.message})` };
  }
}
