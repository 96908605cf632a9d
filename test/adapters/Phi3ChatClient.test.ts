import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toChatCompletionResult } from '../../src/adapters/phi3/phi3Answer.js';
import { Phi3ChatClient } from '../../src/adapters/phi3/Phi3ChatClient.js';
import {
  AuthenticationError,
  BadRequestError,
  ChatCallError,
  ConnectionError,
  ContentFilterError,
  ContextLengthError,
  MalformedResponseError,
  NotFoundError,
  RateLimitedError,
  ServerError,
  TimeoutError,
} from '../../src/app/ports.js';
import type { ChatCompletionBody } from '../../src/core/chat.js';
import { startPhi3Simulator } from '../../dev/simulator/index.js';

/*
 * The Phi-3 client turns what the endpoint answers into the port's types: a completion with usage,
 * finish reason, request id and rate-limit figures, or the error class for what happened, with the
 * answer kept for the line's record. A real HTTP server on port 0 answers as scripted per prompt.
 */

interface Scripted {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Never answer (the client's timeout fires). */
  readonly hang?: true;
  /** Answer this long after the request, past the client's default time limit. */
  readonly delayInMs?: number;
  /** Start an event stream, send these events, then stall (`hang`) or end. */
  readonly events?: readonly string[];
}

const COMPLETION = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'Phi-3-mini-4k-instruct',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'length' }],
  usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
};

const SCRIPTS: Record<string, Scripted> = {
  ok: {
    status: 200,
    headers: {
      'x-request-id': 'req-1',
      'x-ratelimit-remaining-requests': '-2',
      'x-ratelimit-remaining-tokens': '1200',
      'x-ratelimit-limit-tokens': '200000',
    },
    body: JSON.stringify(COMPLETION),
  },
  throttled: {
    status: 429,
    headers: { 'retry-after-ms': '1500', 'retry-after': '2', 'x-ms-error-code': '429', 'x-request-id': 'req-429' },
    body: JSON.stringify({
      error: { code: '429', message: 'Rate limit is exceeded.' },
      message: 'Rate limit is exceeded.',
      status: 429,
    }),
  },
  unauthorized: { status: 401, body: JSON.stringify({ error: { code: 'Unauthorized', message: 'Access denied' } }) },
  forbidden: { status: 403, body: '' },
  missing: { status: 404, body: JSON.stringify({ error: { code: 'NotFound', message: 'No route' } }) },
  filtered: { status: 400, body: JSON.stringify({ error: { code: 'content_filter', message: 'filtered' } }) },
  tooLong: {
    status: 422,
    body: JSON.stringify({ status: 422, code: 'context_length_exceeded', message: 'too long', detail: {} }),
  },
  unsupported: { status: 422, headers: { 'x-ms-error-code': 'parameter_not_supported' }, body: '{}' },
  gatewayHtml: { status: 502, body: '<html>Bad gateway</html>' },
  okHtml: { status: 200, body: '<html>maintenance</html>' },
  okTruncated: { status: 200, body: JSON.stringify(COMPLETION).slice(0, 40) },
  okNoUsage: { status: 200, body: JSON.stringify({ choices: [] }) },
  hang: { status: 200, hang: true },
  longGeneration: { status: 200, body: JSON.stringify(COMPLETION), delayInMs: 1_500 },
  streamStalls: {
    status: 200,
    hang: true,
    events: [JSON.stringify({ id: 's', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' } }] })],
  },
  streamCut: {
    status: 200,
    events: [JSON.stringify({ id: 's', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' } }] })],
  },
};

let server: Server;
let client: Phi3ChatClient;
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (text += chunk));
    request.on('end', () => {
      const body = JSON.parse(text) as ChatCompletionBody;
      const script = SCRIPTS[String(body.messages[0]?.content)]!;
      if (script.events !== undefined) {
        response.writeHead(script.status, { 'content-type': 'text/event-stream' });
        for (const event of script.events) response.write(`data: ${event}\n\n`);
        if (script.hang !== true) response.end();
        return;
      }
      if (script.hang) return;
      const answer = (): void => {
        response.writeHead(script.status, { 'content-type': 'application/json', ...script.headers });
        response.end(script.body ?? '');
      };
      if (script.delayInMs === undefined) answer();
      else setTimeout(answer, script.delayInMs);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new Phi3ChatClient({
    endpoint: `http://127.0.0.1:${port}`,
    apiKey: 'k'.repeat(32),
    apiVersion: '2024-05-01-preview',
    timeoutInMs: 300,
    connections: 2,
  });
});

afterAll(async () => {
  await client?.close();
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

const ask = (prompt: keyof typeof SCRIPTS): ChatCompletionBody => ({
  messages: [{ role: 'user', content: prompt }],
  max_tokens: 5,
});

async function failure(prompt: keyof typeof SCRIPTS): Promise<ChatCallError> {
  const error = await client.complete(ask(prompt)).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ChatCallError)) throw new Error(`expected a ChatCallError, got ${String(error)}`);
  return error;
}

describe('Phi3ChatClient answers', () => {
  it('a completion: the body as sent, usage, finish reason, request id and rate-limit figures (negative ones too)', async () => {
    const result = await client.complete(ask('ok'));
    expect(result).toMatchObject({
      completion: COMPLETION,
      usage: { promptTokens: 7, completionTokens: 3, totalTokens: 10 },
      finishReason: 'length',
      status: 200,
      requestId: 'req-1',
      rateLimit: { remainingRequests: -2, remainingTokens: 1200, limitTokens: 200000, limitRequests: undefined },
    });
  });

  it('a 429: RateLimitedError with retry-after-ms preferred, the answer kept for the record', async () => {
    const error = await failure('throttled');
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({
      status: 429,
      retryAfterInMs: 1500,
      errorCode: '429',
      message: 'Rate limit is exceeded.',
      mayHaveBilled: false,
    });
    expect((error as RateLimitedError).response).toEqual({
      status: 429,
      requestId: 'req-429',
      body: JSON.parse(SCRIPTS['throttled']!.body!),
    });
  });

  it('401 and 403 are AuthenticationError, 404 NotFoundError', async () => {
    expect(await failure('unauthorized')).toBeInstanceOf(AuthenticationError);
    const forbidden = await failure('forbidden');
    expect(forbidden).toBeInstanceOf(AuthenticationError);
    expect(forbidden).toMatchObject({ status: 403, errorCode: undefined, message: 'The endpoint answered HTTP 403' });
    expect(await failure('missing')).toBeInstanceOf(NotFoundError);
  });

  it('4xx refusals: content filter, context length, and others named by body or x-ms-error-code', async () => {
    expect(await failure('filtered')).toBeInstanceOf(ContentFilterError);
    const tooLong = await failure('tooLong');
    expect(tooLong).toBeInstanceOf(ContextLengthError);
    expect(tooLong).toMatchObject({ errorCode: 'context_length_exceeded', message: 'too long' });
    const unsupported = await failure('unsupported');
    expect(unsupported).toBeInstanceOf(BadRequestError);
    expect(unsupported).not.toBeInstanceOf(ContentFilterError);
    expect(unsupported).toMatchObject({ status: 422, errorCode: 'parameter_not_supported' });
  });

  it('a 5xx with an HTML page: ServerError keeping the text', async () => {
    const error = await failure('gatewayHtml');
    expect(error).toBeInstanceOf(ServerError);
    expect(error).toMatchObject({ status: 502, errorCode: undefined, response: { body: '<html>Bad gateway</html>' } });
  });

  it('a 2xx that is not a chat.completion with usage: MalformedResponseError, which may have been billed', async () => {
    for (const [prompt, reason] of [
      ['okHtml', 'a body that is not JSON'],
      ['okTruncated', 'a body that is not JSON'],
      ['okNoUsage', 'a body without usage'],
    ] as const) {
      const error = await failure(prompt);
      expect(error, prompt).toBeInstanceOf(MalformedResponseError);
      expect(error, prompt).toMatchObject({
        mayHaveBilled: true,
        message: `The endpoint answered HTTP 200 with ${reason}`,
      });
    }
  });

  it('no answer in time: TimeoutError, which may have been billed', async () => {
    const error = await failure('hang');
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.mayHaveBilled).toBe(true);
  });

  it("a call's own time limit replaces the client's: a generation longer than the default still answers", async () => {
    // The client's limit is 300 ms; the answer takes 1.5 s (undici checks its timers about every half second); this call may take 10 s.
    const result = await client.complete(ask('longGeneration'), { timeoutInMs: 10_000 });
    expect(result.usage.completionTokens).toBe(3);
    const error = await client.complete(ask('hang'), { timeoutInMs: 50 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TimeoutError);
  });
});

describe('Phi3ChatClient streamed calls', () => {
  const body: ChatCompletionBody = {
    messages: [{ role: 'user', content: 'Write about the tides and the moon.' }],
    max_tokens: 40,
  };

  it('adds the stream up to the same chat.completion as a plain call, usage from its end', async () => {
    const simulator = await startPhi3Simulator({ latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 } });
    const direct = clientOf(simulator.url, simulator.apiKey);
    try {
      const plain = await direct.complete(body);
      const streamed = await direct.complete(body, { stream: { firstChunkInMs: 5_000, idleInMs: 5_000 } });
      const { id: _a, created: _b, ...plainRest } = plain.completion as unknown as Record<string, unknown>;
      const { id: _c, created: _d, ...streamedRest } = streamed.completion as unknown as Record<string, unknown>;
      expect(streamedRest).toEqual(plainRest);
      expect(streamed.usage).toEqual(plain.usage);
      expect(streamed.finishReason).toBe(plain.finishReason);
      const requests = simulator.log.entries().map((e) => e.status);
      expect(requests).toEqual([200, 200]);
    } finally {
      await direct.close();
      await simulator.close();
    }
  });

  it('a generation that keeps sending is not cut by a limit shorter than the whole answer', async () => {
    // Chunks every 40 ms; the whole answer takes well over the 900 ms that cuts the same call unstreamed.
    const simulator = await startPhi3Simulator({
      latency: { baseInMs: 0, perCompletionTokenInMs: 40, jitterInMs: 0 },
    });
    const direct = clientOf(simulator.url, simulator.apiKey);
    try {
      const unstreamed = await direct.complete(body, { timeoutInMs: 900 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(unstreamed).toBeInstanceOf(TimeoutError);
      const streamed = await direct.complete(body, { stream: { firstChunkInMs: 900, idleInMs: 900 } });
      expect(streamed.usage.completionTokens * 40).toBeGreaterThan(900);
      expect(streamed.finishReason).not.toBeNull();
    } finally {
      await direct.close();
      await simulator.close();
    }
  });

  it('a stream that stalls past the idle limit is a TimeoutError (may have been billed)', async () => {
    const error = await client.complete(ask('streamStalls'), { stream: { firstChunkInMs: 200, idleInMs: 200 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).mayHaveBilled).toBe(true);
  });

  it('a stream that ends before its finish reason is a MalformedResponseError', async () => {
    const error = await client.complete(ask('streamCut'), { stream: { firstChunkInMs: 1_000, idleInMs: 1_000 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as MalformedResponseError).message).toMatch(/a stream that does not add up to a completion/);
  });

  it('a deployment that refuses the streaming parameters gets the call again plain, and plain calls after it', async () => {
    const seen: boolean[] = [];
    const refusing = createServer((request, response) => {
      let text = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (text += chunk));
      request.on('end', () => {
        const streamed = 'stream_options' in (JSON.parse(text) as Record<string, unknown>);
        seen.push(streamed);
        response.writeHead(streamed ? 422 : 200, { 'content-type': 'application/json' });
        response.end(
          streamed
            ? JSON.stringify({
                error: { code: 'extra_forbidden', message: 'Extra inputs are not permitted: stream_options' },
              })
            : JSON.stringify(PLAIN_COMPLETION),
        );
      });
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const direct = clientOf(`http://127.0.0.1:${(refusing.address() as AddressInfo).port}`, 'k'.repeat(32));
    try {
      const limits = { stream: { firstChunkInMs: 1_000, idleInMs: 1_000 }, timeoutInMs: 5_000 };
      const first = await direct.complete(body, limits);
      const second = await direct.complete(body, limits);
      expect([first.usage, second.usage]).toEqual([PLAIN_USAGE, PLAIN_USAGE]);
      expect(seen).toEqual([true, false, false]);
    } finally {
      await direct.close();
      await new Promise<void>((resolve) => refusing.close(() => resolve()));
    }
  });

  it('an error before the stream is the same typed error as for a plain call', async () => {
    const error = await client.complete(ask('throttled'), { stream: { firstChunkInMs: 1_000, idleInMs: 1_000 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RateLimitedError);
  });
});

const PLAIN_COMPLETION = {
  id: 'chatcmpl-plain',
  object: 'chat.completion',
  created: 1,
  model: 'phi-3',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Tides.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
};
const PLAIN_USAGE = { promptTokens: 9, completionTokens: 2, totalTokens: 11 };

function clientOf(endpoint: string, apiKey: string): Phi3ChatClient {
  return new Phi3ChatClient({ endpoint, apiKey, apiVersion: '2024-05-01-preview', timeoutInMs: 300, connections: 2 });
}

describe('toChatCompletionResult', () => {
  it('dates a retry-after given as an HTTP date from the clock it is given', () => {
    const answer = {
      kind: 'response',
      status: 429,
      headers: { 'retry-after': new Date(10_000).toUTCString() },
      body: {},
      requestId: '',
      latencyInMs: 1,
    } as const;
    expect(() => toChatCompletionResult(answer, 4_000)).toThrow(RateLimitedError);
    try {
      toChatCompletionResult(answer, 4_000);
    } catch (error) {
      expect((error as RateLimitedError).retryAfterInMs).toBe(6_000);
    }
  });

  it('keeps usage an error answer reported (such a call was billed), and a connection never made is not billed', () => {
    const answer = {
      kind: 'response',
      status: 400,
      headers: {},
      body: { error: { code: 'x' }, usage: { prompt_tokens: 4, completion_tokens: 0 } },
      requestId: 'r',
      latencyInMs: 1,
    } as const;
    expect(() => toChatCompletionResult(answer, 0)).toThrow(
      expect.objectContaining({ usage: { promptTokens: 4, completionTokens: 0, totalTokens: 4 } }),
    );
    expect(() =>
      toChatCompletionResult({ kind: 'network', message: 'refused', neverSent: true, latencyInMs: 1 }, 0),
    ).toThrow(expect.objectContaining({ name: 'ConnectionError', mayHaveBilled: false }));
    expect(new ConnectionError('reset', false, 1).mayHaveBilled).toBe(true);
  });
});
