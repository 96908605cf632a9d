import {
  AuthenticationError,
  BadRequestError,
  ConnectionError,
  ContentFilterError,
  ContextLengthError,
  EndpointHttpError,
  MalformedResponseError,
  NotFoundError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  type ChatCompletionResult,
  type ChatUsage,
  type EndpointErrorDetails,
  type EndpointResponse,
  type RateLimitInfo,
} from '../../app/ports.js';
import type { ChatCompletion } from '../../core/chat.js';
import { parseRetryAfterInMs } from '../../core/retryPolicy.js';

/** Response headers, lower-cased, repeated values joined with ", ". */
export type Phi3Headers = Readonly<Record<string, string | undefined>>;

/** One exchange with the endpoint as the HTTP client saw it, before it is turned into a typed result. */
export type Phi3HttpAnswer =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly headers: Phi3Headers;
      /** The parsed JSON body, or the text when it was not JSON. */
      readonly body: unknown;
      readonly requestId: string;
      readonly latencyInMs: number;
      /** Why a streamed answer does not add up to a completion (cut, not chunks), when it does not. */
      readonly streamProblem?: string;
    }
  | { readonly kind: 'timeout'; readonly latencyInMs: number }
  /** `neverSent`: the connection was never made (refused, unresolvable), so the endpoint cannot have billed it. */
  | { readonly kind: 'network'; readonly message: string; readonly neverSent: boolean; readonly latencyInMs: number };

/**
 * Turns an exchange into the port's typed answer: a billed, well-formed completion, or the error
 * class for what happened, thrown. `nowInMs` dates a `retry-after` given as an HTTP date.
 */
export function toChatCompletionResult(answer: Phi3HttpAnswer, nowInMs: number): ChatCompletionResult {
  if (answer.kind === 'timeout') throw new TimeoutError(answer.latencyInMs);
  if (answer.kind === 'network') throw new ConnectionError(answer.message, answer.neverSent, answer.latencyInMs);
  const { status, headers, body, requestId, latencyInMs } = answer;
  if (status < 200 || status >= 300) {
    throw endpointHttpError(status, body, headers, { requestId, latencyInMs, nowInMs });
  }
  const rateLimit = rateLimitOf(headers);
  const problem = answer.streamProblem ?? completionProblem(body);
  if (problem !== undefined) {
    const response: EndpointResponse = { status, requestId, body };
    throw new MalformedResponseError(response, problem, latencyInMs, rateLimit);
  }
  const completion = body as ChatCompletion;
  const finishReason = completion.choices[0]?.finish_reason;
  return {
    completion,
    usage: usageOf(body)!,
    finishReason: typeof finishReason === 'string' ? finishReason : null,
    status,
    requestId,
    latencyInMs,
    rateLimit,
  };
}

/** As the openai SDK's `APIError.generate`: the error class for a non-2xx answer, read from its body and headers. */
export function endpointHttpError(
  status: number,
  body: unknown,
  headers: Phi3Headers,
  call: { readonly requestId: string; readonly latencyInMs: number; readonly nowInMs: number },
): EndpointHttpError {
  const envelope = body as { error?: { code?: unknown; message?: unknown }; code?: unknown; message?: unknown } | null;
  const code = envelope?.error?.code ?? envelope?.code ?? headers['x-ms-error-code'];
  const message = envelope?.error?.message ?? envelope?.message;
  const details: EndpointErrorDetails = {
    response: { status, requestId: call.requestId, body },
    errorCode: typeof code === 'string' && code.length > 0 ? code : undefined,
    endpointMessage: typeof message === 'string' ? message : undefined,
    rateLimit: rateLimitOf(headers),
    retryAfterInMs: parseRetryAfterInMs(headers, call.nowInMs),
    usage: usageOf(body),
    latencyInMs: call.latencyInMs,
  };
  if (status === 429) return new RateLimitedError(details);
  if (status === 401 || status === 403) return new AuthenticationError(details);
  if (status === 404) return new NotFoundError(details);
  if (status >= 500) return new ServerError(details);
  if (status >= 400 && status < 500) {
    if (details.errorCode === 'content_filter') return new ContentFilterError(details);
    if (details.errorCode === 'context_length_exceeded') return new ContextLengthError(details);
    return new BadRequestError(details);
  }
  return new EndpointHttpError(details);
}

/** Why a 2xx body is not a chat.completion with usage, or undefined if it is one. */
function completionProblem(body: unknown): string | undefined {
  if (typeof body === 'string') return 'a body that is not JSON';
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'a body that is not a JSON object';
  const choices = (body as { choices?: unknown }).choices;
  if (!Array.isArray(choices) || choices.some((c) => typeof c !== 'object' || c === null)) {
    return 'a body without a list of choices';
  }
  if (usageOf(body) === undefined) return 'a body without usage';
  return undefined;
}

function usageOf(body: unknown): ChatUsage | undefined {
  const usage = (
    body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown } } | null
  )?.usage;
  if (typeof usage !== 'object' || usage === null) return undefined;
  const { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total } = usage;
  if (typeof prompt !== 'number' || typeof completion !== 'number') return undefined;
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: typeof total === 'number' ? total : prompt + completion,
  };
}

function numberHeader(headers: Phi3Headers, name: string): number | undefined {
  const raw = headers[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) ? value : undefined;
}

/** `x-ratelimit-*` as numbers; the remaining counts can be negative (an overdrawn budget). */
export function rateLimitOf(headers: Phi3Headers): RateLimitInfo {
  return {
    remainingRequests: numberHeader(headers, 'x-ratelimit-remaining-requests'),
    remainingTokens: numberHeader(headers, 'x-ratelimit-remaining-tokens'),
    limitRequests: numberHeader(headers, 'x-ratelimit-limit-requests'),
    limitTokens: numberHeader(headers, 'x-ratelimit-limit-tokens'),
  };
}
