import { Agent } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ChatCompletionBody } from '../../src/core/chat.js';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import {
  CUSTOM_ID_HEADER,
  hashMessages,
  simulatedCompletion,
  SimulatorOutcome,
  startPhi3Simulator,
  type Phi3Simulator,
  type SimulatorLogEntry,
  type StartPhi3SimulatorOptions,
} from '../../dev/simulator/index.js';
import { createSimulatorClient } from './simulatorHttp.js';
import { waitFor } from '../support/waitFor.js';

const agent = new Agent();
const call = createSimulatorClient(agent);
const running = new Set<Phi3Simulator>();

async function start(options: StartPhi3SimulatorOptions = {}): Promise<Phi3Simulator> {
  const simulator = await startPhi3Simulator({
    latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 },
    ...options,
  });
  running.add(simulator);
  return simulator;
}

afterEach(async () => {
  await Promise.all([...running].map((simulator) => simulator.close()));
  running.clear();
});

afterAll(async () => {
  await agent.close();
});

/** Resolves with the next log entry, without polling. */
function nextLogEntry(simulator: Phi3Simulator): Promise<SimulatorLogEntry> {
  return new Promise((resolve) => {
    const unsubscribe = simulator.log.subscribe((entry) => {
      unsubscribe();
      resolve(entry);
    });
  });
}

const mini = createTokenCounter('Phi-3-mini-4k-instruct');
const chat = (content: string, extra: Record<string, unknown> = {}): ChatCompletionBody => ({
  messages: [
    { role: 'system', content: 'You are a concise assistant.' },
    { role: 'user', content },
  ],
  ...extra,
});

describe('chat completions contract', () => {
  it('answers with the Azure shape, tokenizer usage and the deterministic content', async () => {
    const simulator = await start();
    const body = chat('What is the capital of France?', { max_tokens: 200 });
    const response = await call(simulator, '/chat/completions?api-version=2024-05-01-preview', { body });
    expect(response.status).toBe(200);
    const expected = simulatedCompletion(body, mini);
    const promptTokens = mini.countChatPrompt(body.messages);
    expect(response.body).toEqual({
      id: expect.stringMatching(/^chatcmpl-[0-9a-f]+$/),
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'Phi-3-mini-4k-instruct',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: expected.content },
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: expected.completionTokens,
        total_tokens: promptTokens + expected.completionTokens,
      },
    });
    expect(response.body.usage.completion_tokens).toBe(mini.countText(response.body.choices[0].message.content));
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers['x-ratelimit-limit-requests']).toBe('1000');
    expect(response.headers['x-ratelimit-limit-tokens']).toBe('200000');
    expect(response.headers['x-ratelimit-remaining-requests']).toBe('165');
    expect(response.headers['x-ratelimit-remaining-tokens']).toBe(String(200_000 - (promptTokens + 200)));

    const again = await call(simulator, '/chat/completions', { body });
    expect(again.body.choices).toEqual(response.body.choices);
    expect(again.body.usage).toEqual(response.body.usage);
    expect(again.body.id).not.toBe(response.body.id);
  });

  it('serves the alternative paths and GET /info', async () => {
    const simulator = await start({ model: 'Phi-3-small-8k-instruct' });
    const body = chat('Hi');
    for (const path of ['/v1/chat/completions', '/models/chat/completions', '/chat/completions/']) {
      const response = await call(simulator, path, { body });
      expect(response.status).toBe(200);
      // Phi-3-small counts with cl100k.
      expect(response.body.usage.prompt_tokens).toBe(
        createTokenCounter('Phi-3-small-8k-instruct').countChatPrompt(body.messages),
      );
    }
    expect((await call(simulator, '/info')).body).toEqual({
      model_name: 'Phi-3-small-8k-instruct',
      model_type: 'chat-completion',
      model_provider_name: 'Microsoft',
    });
  });

  it('truncates at max_tokens with finish_reason "length"', async () => {
    const simulator = await start();
    const body = chat('Write a long essay.', { max_tokens: 5 });
    const response = await call(simulator, '/chat/completions', { body });
    expect(response.body.choices[0].finish_reason).toBe('length');
    expect(response.body.usage.completion_tokens).toBeLessThanOrEqual(5);
    expect(response.body.choices[0].message.content).toBe(simulatedCompletion(body, mini).content);
  });

  it('logs what was sent, with the custom id and client request id headers, and echoes the client request id', async () => {
    const simulator = await start();
    const body = chat('Log me', { max_tokens: 50 });
    const response = await call(simulator, '/chat/completions', {
      body,
      headers: { [CUSTOM_ID_HEADER]: 'request-7', 'x-ms-client-request-id': 'call-42' },
    });
    expect(response.headers['x-ms-client-request-id']).toBe('call-42');
    const promptTokens = mini.countChatPrompt(body.messages);
    expect(simulator.log.entries()).toEqual([
      {
        atInMs: expect.any(Number),
        status: 200,
        outcome: SimulatorOutcome.completed,
        requestId: expect.any(String),
        promptTokens,
        maxTokens: 50,
        admittedTokens: promptTokens + 50,
        completionTokens: simulatedCompletion(body, mini).completionTokens,
        requestHash: hashMessages(body.messages),
        clientRequestId: 'call-42',
        customIdHeader: 'request-7',
      },
    ]);
  });
});

/** The events of a server-sent-events body, `[DONE]` included. */
function sseEvents(text: string): string[] {
  return text
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => {
      expect(block.startsWith('data: ')).toBe(true);
      return block.slice('data: '.length);
    });
}

async function streamChat(
  simulator: Phi3Simulator,
  body: unknown,
): Promise<{ status: number; contentType: string; events: string[] }> {
  const response = await agent.request({
    origin: simulator.url,
    path: '/chat/completions',
    method: 'POST',
    headers: { authorization: `Bearer ${simulator.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    contentType: String(response.headers['content-type']),
    events: sseEvents(text),
  };
}

describe('streaming', () => {
  it('streams the same answer as chunks, with the usage in a last chunk when include_usage is set', async () => {
    const simulator = await start({ latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 } });
    const body = chat('Stream me an answer', {
      max_tokens: 200,
      stream: true,
      stream_options: { include_usage: true },
    });
    const response = await streamChat(simulator, body);
    expect(response.status).toBe(200);
    expect(response.contentType).toMatch(/^text\/event-stream/);
    expect(response.events.at(-1)).toBe('[DONE]');
    const chunks = response.events.slice(0, -1).map((event) => JSON.parse(event));
    const expected = simulatedCompletion(body, mini);
    const promptTokens = mini.countChatPrompt(body.messages);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'Phi-3-mini-4k-instruct')).toBe(
      true,
    );
    expect(chunks[0].choices).toEqual([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
    const content = chunks.flatMap((c) => c.choices.map((choice: any) => choice.delta.content ?? '')).join('');
    expect(content).toBe(expected.content);
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.at(-2).choices).toEqual([{ index: 0, delta: {}, finish_reason: 'stop' }]);
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: expected.completionTokens,
        total_tokens: promptTokens + expected.completionTokens,
      },
    });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(simulator.log.entries()).toMatchObject([
      { status: 200, outcome: SimulatorOutcome.completed, completionTokens: expected.completionTokens },
    ]);
  });

  it('leaves the usage out without include_usage, and reports a truncated answer as "length"', async () => {
    const simulator = await start();
    const response = await streamChat(simulator, chat('Write a long essay.', { max_tokens: 5, stream: true }));
    const chunks = response.events.slice(0, -1).map((event) => JSON.parse(event));
    expect(chunks.some((c) => 'usage' in c)).toBe(false);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('length');
  });

  it('answers errors before the stream starts as plain JSON', async () => {
    const simulator = await start({ faults: { errorRate: 1 } });
    const response = await call(simulator, '/chat/completions', { body: chat('x', { stream: true }) });
    expect(response.status).toBe(500);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
  });
});

describe('calls under way', () => {
  it('counts admitted calls until their answer is over, and keeps the peak', async () => {
    const simulator = await start({ latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 } });
    const seenAtAdmission: number[] = [];
    simulator.log.subscribe(() => seenAtAdmission.push(simulator.inFlight));
    const body = chat('Count me', { max_tokens: 20 });
    await Promise.all([1, 2, 3].map(() => call(simulator, '/chat/completions', { body })));
    expect(seenAtAdmission.every((count) => count >= 1)).toBe(true);
    // A rejected call is not under way.
    expect((await call(simulator, '/chat/completions', { body: chat('x [[content_filter]]') })).status).toBe(400);
    await waitFor(() => simulator.inFlight === 0, { description: 'answered calls to leave the count' });
    expect(simulator.peakInFlight).toBe(Math.max(...seenAtAdmission));
    const stats = await call(simulator, '/_simulator/stats');
    expect(stats.body).toEqual({ inFlight: 0, peakInFlight: simulator.peakInFlight });
  });

  it('stops counting a call whose client left', async () => {
    const simulator = await start({ latency: { baseInMs: 60_000, perCompletionTokenInMs: 0, jitterInMs: 0 } });
    const controller = new AbortController();
    const admitted = nextLogEntry(simulator);
    const pending = call(simulator, '/chat/completions', { body: chat('Slow'), signal: controller.signal }).catch(
      (error: unknown) => error,
    );
    await admitted;
    expect(simulator.inFlight).toBe(1);
    controller.abort();
    await pending;
    await waitFor(() => simulator.inFlight === 0, { description: 'the abandoned call to leave the count' });
    expect(simulator.peakInFlight).toBe(1);
  });
});

describe('authentication', () => {
  it('accepts the key as a Bearer token or an api-key header and rejects anything else with 401', async () => {
    const simulator = await start({ apiKey: 'k'.repeat(32) });
    const body = chat('Hi');
    expect(
      (await call(simulator, '/chat/completions', { body, auth: false, headers: { 'api-key': 'k'.repeat(32) } }))
        .status,
    ).toBe(200);
    const wrongHeaders: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Basic ${'k'.repeat(32)}` },
      { 'api-key': 'x' },
    ];
    for (const headers of wrongHeaders) {
      const response = await call(simulator, '/chat/completions', { body, auth: false, headers });
      expect(response.status).toBe(401);
      expect(response.headers['x-ms-error-code']).toBe('Unauthorized');
      expect(response.body.error.code).toBe('Unauthorized');
      expect(JSON.stringify(response.body)).not.toContain('k'.repeat(32));
    }
    for (const path of ['/info', '/_simulator/log']) {
      expect((await call(simulator, path, { auth: false })).status).toBe(401);
    }
    expect(simulator.log.entries().map((entry) => entry.status)).toEqual([200, 401, 401, 401, 401]);
  });
});

describe('request errors', () => {
  it('answers 422 in the Azure shape, with x-ms-error-code', async () => {
    const simulator = await start();
    const cases: [unknown, string, unknown[]][] = [
      [chat('x', { response_format: { type: 'json_object' } }), 'parameter_not_supported', ['body', 'response_format']],
      [{ messages: [] }, 'invalid_value', ['body', 'messages']],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 'invalid_value', ['body', 'messages', 0, 'role']],
      [chat('x', { max_tokens: -1 }), 'invalid_value', ['body', 'max_tokens']],
      [chat('x', { temperature: 3 }), 'invalid_value', ['body', 'temperature']],
      [chat('x', { top_p: 2 }), 'invalid_value', ['body', 'top_p']],
      [chat('x', { n: 2 }), 'extra_parameters_not_allowed', ['body', 'n']],
      [chat('x', { max_tokens: 4_096 }), 'context_length_exceeded', ['body', 'max_tokens']],
    ];
    for (const [body, code, loc] of cases) {
      const response = await call(simulator, '/chat/completions', { body });
      expect(response.status).toBe(422);
      expect(response.headers['x-ms-error-code']).toBe(code);
      expect(response.body).toEqual({
        status: 422,
        code,
        detail: { loc, input: expect.anything() },
        message: expect.any(String),
      });
    }
  });

  it('applies the extra-parameters header', async () => {
    const simulator = await start();
    const body = chat('x', { safe_prompt: true });
    expect((await call(simulator, '/chat/completions', { body })).status).toBe(422);
    expect((await call(simulator, '/chat/completions', { body, headers: { 'extra-parameters': 'drop' } })).status).toBe(
      200,
    );
    expect(
      (await call(simulator, '/chat/completions', { body, headers: { 'extra-parameters': 'pass-through' } })).status,
    ).toBe(200);
  });

  it('answers 400 to invalid JSON and to the content-filter marker, 404 and 405 elsewhere', async () => {
    const simulator = await start();
    const invalid = await call(simulator, '/chat/completions', { body: '{"messages": [' });
    expect(invalid.status).toBe(400);
    expect(invalid.headers['x-ms-error-code']).toBe('BadRequest');

    const filtered = await call(simulator, '/chat/completions', { body: chat('Tell me [[content_filter]] now') });
    expect(filtered.status).toBe(400);
    expect(filtered.headers['x-ms-error-code']).toBe('content_filter');
    expect(filtered.body.error).toMatchObject({ code: 'content_filter', status: 400, message: expect.any(String) });
    expect(simulator.log.entries().at(-1)).toMatchObject({
      outcome: SimulatorOutcome.contentFilter,
      admittedTokens: 0,
    });

    const missing = await call(simulator, '/completions', { body: chat('x') });
    expect(missing.status).toBe(404);
    expect(missing.headers['x-ms-error-code']).toBe('NotFound');
    const wrongMethod = await call(simulator, '/chat/completions', { method: 'GET' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers['x-ms-error-code']).toBe('MethodNotAllowed');
  });

  it('answers 413 to a body over the limit', async () => {
    const simulator = await start({ maxBodyBytes: 1_000 });
    const response = await call(simulator, '/chat/completions', { body: chat('x'.repeat(2_000)) });
    expect(response.status).toBe(413);
    expect(response.headers['x-ms-error-code']).toBe('PayloadTooLarge');
  });
});

describe('rate limiting with an injected clock', () => {
  it('rejects the request beyond the window with the true retry-after, then admits it', async () => {
    let now = 1_700_000_000_000;
    // 30 RPM over 10 s windows = 5 requests per window.
    const simulator = await start({ clock: () => now, limits: { requestsPerMinute: 30 } });
    const body = chat('Hi', { max_tokens: 10 });
    const start0 = now;
    for (let i = 0; i < 5; i += 1) {
      now = start0 + i * 1_000;
      const response = await call(simulator, '/chat/completions', { body });
      expect(response.status).toBe(200);
      expect(response.headers['x-ratelimit-remaining-requests']).toBe(String(4 - i));
    }
    now = start0 + 4_500;
    const rejected = await call(simulator, '/chat/completions', { body });
    expect(rejected.status).toBe(429);
    // The rejection holds a slot too, so the second request (at +1 s) has to leave: +11 s.
    expect(rejected.headers['retry-after-ms']).toBe('6500');
    expect(rejected.headers['retry-after']).toBe('7');
    expect(rejected.headers['x-ms-error-code']).toBe('429');
    expect(rejected.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(rejected.body).toEqual({
      error: { code: '429', message: 'Rate limit is exceeded. Try again in 7 seconds.' },
      message: 'Rate limit is exceeded. Try again in 7 seconds.',
      status: 429,
    });
    now = start0 + 4_500 + 6_500;
    expect((await call(simulator, '/chat/completions', { body })).status).toBe(200);
    expect(simulator.log.rejected429()).toHaveLength(1);
    expect(simulator.log.rejected429()[0]).toMatchObject({ admittedTokens: 0, retryAfterInMs: 6_500 });
    expect(simulator.log.maxInAnyWindow({ windowInMs: 10_000, metric: 'requests', statuses: [200] })).toBe(5);
  });

  it('does not count rejected requests when configured so', async () => {
    let now = 1_700_000_000_000;
    const simulator = await start({ clock: () => now, limits: { requestsPerMinute: 6, countRejectedRequests: false } });
    const body = chat('Hi', { max_tokens: 10 });
    expect((await call(simulator, '/chat/completions', { body })).status).toBe(200);
    now += 2_000;
    for (let i = 0; i < 3; i += 1) {
      const response = await call(simulator, '/chat/completions', { body });
      expect(response.status).toBe(429);
      expect(response.headers['retry-after-ms']).toBe('8000');
    }
    now += 8_000;
    expect((await call(simulator, '/chat/completions', { body })).status).toBe(200);
  });

  it('charges prompt + max_tokens at admission against the token window', async () => {
    let now = 1_700_000_000_000;
    const simulator = await start({ clock: () => now, limits: { tokensPerMinute: 1_000 } });
    const body = chat('Count me', { max_tokens: 400 });
    const cost = mini.countChatPrompt(body.messages) + 400;
    const first = await call(simulator, '/chat/completions', { body });
    expect(first.headers['x-ratelimit-remaining-tokens']).toBe(String(1_000 - cost));
    now += 15_000;
    const second = await call(simulator, '/chat/completions', { body });
    expect(second.status).toBe(200);
    expect(second.headers['x-ratelimit-remaining-tokens']).toBe(String(1_000 - 2 * cost));
    now += 15_000;
    const third = await call(simulator, '/chat/completions', { body });
    expect(third.status).toBe(429);
    // Room for a third estimate only once the first leaves, 60 s after it arrived.
    expect(third.headers['retry-after-ms']).toBe('30000');
    expect(third.headers['retry-after']).toBe('30');
    now += 30_000;
    expect((await call(simulator, '/chat/completions', { body })).status).toBe(200);
    expect(simulator.log.admitted().map((entry) => entry.admittedTokens)).toEqual([cost, cost, cost]);
    expect(simulator.log.maxInAnyWindow({ windowInMs: 60_000, metric: 'tokens' })).toBe(2 * cost);
  });

  it('charges the remaining context, or the configured default, when max_tokens is absent', async () => {
    const simulator = await start();
    const body = chat('No limit given');
    const promptTokens = mini.countChatPrompt(body.messages);
    await call(simulator, '/chat/completions', { body });
    expect(simulator.log.entries()[0]?.admittedTokens).toBe(4_096);
    simulator.setLimits({ defaultMaxTokensForAdmission: 100 });
    await call(simulator, '/chat/completions', { body: { ...body, max_tokens: null } });
    expect(simulator.log.entries()[1]?.admittedTokens).toBe(promptTokens + 100);
  });
});

describe('fault injection', () => {
  async function statusesFor(seed: number): Promise<number[]> {
    const simulator = await start({ faults: { errorRate: 0.3, seed } });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      statuses.push(
        (await call(simulator, '/chat/completions', { body: chat(`Question ${i}`, { max_tokens: 10 }) })).status,
      );
    }
    await simulator.close();
    return statuses;
  }

  it('is reproducible by seed', async () => {
    const first = await statusesFor(11);
    expect(await statusesFor(11)).toEqual(first);
    expect(first).toContain(500);
    expect(first).toContain(200);
    expect(await statusesFor(12)).not.toEqual(first);
  });

  it('answers injected 500s with a JSON body after admitting the tokens', async () => {
    const simulator = await start({ faults: { errorRate: 1 } });
    const response = await call(simulator, '/chat/completions', { body: chat('x', { max_tokens: 10 }) });
    expect(response.status).toBe(500);
    expect(response.headers['x-ms-error-code']).toBe('InternalServerError');
    expect(response.body.error.code).toBe('InternalServerError');
    expect(simulator.log.entries()[0]).toMatchObject({
      outcome: SimulatorOutcome.serverError,
      admittedTokens: expect.any(Number),
    });
    expect(simulator.log.entries()[0]?.admittedTokens).toBeGreaterThan(10);
  });

  it('injects 429 bursts', async () => {
    const simulator = await start({ faults: { burst429: { everyN: 4, length: 2, retryAfterInMs: 2_500 } } });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      const response = await call(simulator, '/chat/completions', { body: chat('x', { max_tokens: 10 }) });
      statuses.push(response.status);
      if (response.status === 429) {
        expect(response.headers['retry-after']).toBe('3');
        expect(response.headers['retry-after-ms']).toBe('2500');
      }
    }
    expect(statuses).toEqual([200, 200, 429, 429, 200, 200, 429, 429]);
  });

  it('reports negative remaining tokens when asked', async () => {
    const simulator = await start({ faults: { negativeRemainingTokensRate: 1 } });
    const response = await call(simulator, '/chat/completions', { body: chat('x', { max_tokens: 10 }) });
    expect(response.status).toBe(200);
    expect(Number(response.headers['x-ratelimit-remaining-tokens'])).toBeLessThan(0);
  });

  it('answers the next request with a daily-quota 429 and admits nothing', async () => {
    const simulator = await start();
    simulator.setFaults({ dailyQuotaOnce: true });
    const response = await call(simulator, '/chat/completions', { body: chat('x', { max_tokens: 10 }) });
    expect(response.status).toBe(429);
    expect(response.headers['retry-after']).toBe('86400');
    expect(response.headers['retry-after-ms']).toBe('86400000');
    expect(response.body.error.code).toBe('429');
    expect(response.headers['x-ratelimit-remaining-tokens']).toBe('200000');
    expect(simulator.log.entries()[0]).toMatchObject({ outcome: SimulatorOutcome.dailyQuota, admittedTokens: 0 });
    expect((await call(simulator, '/chat/completions', { body: chat('x', { max_tokens: 10 }) })).status).toBe(200);
  });

  it('holds a hanging request until close(), which drops it', async () => {
    const simulator = await start({ faults: { hangRate: 1 } });
    const logged = nextLogEntry(simulator);
    const pending = call(simulator, '/chat/completions', { body: chat('hang', { max_tokens: 10 }) });
    const outcome = pending.then(
      () => 'answered',
      () => 'dropped',
    );
    expect(await logged).toMatchObject({ outcome: SimulatorOutcome.hang });
    await simulator.close();
    expect(await outcome).toBe('dropped');
  });

  it('lets go of a hanging request when the client leaves, and keeps serving', async () => {
    const simulator = await start({ faults: { hangRate: 1 } });
    const abort = new AbortController();
    const logged = nextLogEntry(simulator);
    const pending = call(simulator, '/chat/completions', {
      body: chat('hang', { max_tokens: 10 }),
      signal: abort.signal,
    });
    await logged;
    abort.abort();
    await expect(pending).rejects.toThrow();
    simulator.setFaults({ hangRate: 0 });
    expect((await call(simulator, '/chat/completions', { body: chat('x') })).status).toBe(200);
  });

  it('answers a hang with 504 once hangInMs has passed', async () => {
    const simulator = await start({ faults: { hangRate: 1, hangInMs: 1 } });
    const response = await call(simulator, '/chat/completions', { body: chat('hang briefly', { max_tokens: 10 }) });
    expect(response.status).toBe(504);
    expect(response.headers['x-ms-error-code']).toBe('GatewayTimeout');
  });
});

describe('admin routes', () => {
  it('exposes the log, clears it, and changes faults and limits over HTTP', async () => {
    const simulator = await start();
    await call(simulator, '/chat/completions', {
      body: chat('x', { max_tokens: 10 }),
      headers: { [CUSTOM_ID_HEADER]: 'line-1' },
    });
    const log = await call(simulator, '/_simulator/log');
    expect(log.status).toBe(200);
    expect(log.body).toEqual(simulator.log.entries());
    expect(log.body[0].customIdHeader).toBe('line-1');

    expect((await call(simulator, '/_simulator/log/clear', { body: {} })).status).toBe(200);
    expect(simulator.log.entries()).toEqual([]);

    const faults = await call(simulator, '/_simulator/faults', { body: { errorRate: 1 } });
    expect(faults.status).toBe(200);
    expect(faults.body.errorRate).toBe(1);
    expect((await call(simulator, '/chat/completions', { body: chat('x') })).status).toBe(500);

    const limits = await call(simulator, '/_simulator/limits', { body: { requestsPerMinute: 60 } });
    expect(limits.body).toMatchObject({ requestsPerMinute: 60, tokensPerMinute: 200_000 });
    expect((await call(simulator, '/_simulator/limits')).body.requestsPerMinute).toBe(60);

    const latency = await call(simulator, '/_simulator/latency', { body: { jitterInMs: 0, tailSigma: 0.5 } });
    expect(latency.body).toEqual({ baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0, tailSigma: 0.5, seed: 1 });
  });

  it('rejects invalid settings with a message naming them', async () => {
    const simulator = await start();
    const response = await call(simulator, '/_simulator/limits', { body: { requestsPerMinute: -5 } });
    expect(response.status).toBe(422);
    expect(response.body.error.message).toContain('limits.requestsPerMinute');
    expect((await call(simulator, '/_simulator/faults', { body: 'not json' })).status).toBe(400);
    expect((await call(simulator, '/_simulator/nothing')).status).toBe(404);
  });
});

describe('start-up options', () => {
  it('refuses unusable options', async () => {
    await expect(startPhi3Simulator({ port: 70_000 })).rejects.toThrow(/port/);
    await expect(startPhi3Simulator({ apiKey: '' })).rejects.toThrow(/apiKey/);
    await expect(startPhi3Simulator({ limits: { requestsPerMinute: 0 } })).rejects.toThrow(/limits.requestsPerMinute/);
    await expect(startPhi3Simulator({ faults: { errorRate: 2 } })).rejects.toThrow(/faults.errorRate/);
  });

  it('closes idempotently', async () => {
    const simulator = await start();
    await call(simulator, '/chat/completions', { body: chat('x') });
    await simulator.close();
    await simulator.close();
  });
});
