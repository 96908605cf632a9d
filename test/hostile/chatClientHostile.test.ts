import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Phi3ChatClient } from '../../src/adapters/phi3/Phi3ChatClient.js';
import { ChatCallError, ConnectionError } from '../../src/app/ports.js';
import type { ChatCompletionBody } from '../../src/core/chat.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';

/*
 * What a line may carry reaches the real client: custom_ids and prompts with any code unit (a lone
 * surrogate is legal in JSON), keys named like prototype members. The client answers every one of them
 * with a completion or one of the port's typed errors, and never sends anything but the body to the
 * configured path.
 */

let simulator: Phi3Simulator;
let client: Phi3ChatClient;

beforeAll(async () => {
  simulator = await startPhi3Simulator({ latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 } });
  client = new Phi3ChatClient({
    endpoint: simulator.url,
    apiKey: simulator.apiKey,
    apiVersion: '2024-05-01-preview',
    timeoutInMs: 10_000,
    connections: 4,
  });
});

afterAll(async () => {
  await client?.close();
  await simulator?.close();
});

const ask = (content: string): ChatCompletionBody => ({ messages: [{ role: 'user', content }], max_tokens: 5 });

describe('the Phi-3 client with hostile ids and bodies', () => {
  it('sends any custom_id as a header, lone surrogates, control characters and header syntax included', async () => {
    const ids = [
      'lone \ud83d high',
      'lone \udc00 low',
      'reversed \udc00\ud83d',
      'nul \u0000 and\r\nX-Injected: yes',
      '😀'.repeat(256),
      'x'.repeat(512),
      '%E0%A4%A',
      '../../etc/passwd',
      '',
    ];
    for (const customId of ids) {
      const result = await client.complete(ask('hello'), { customId });
      expect(result, JSON.stringify(customId)).toMatchObject({ status: 200, finishReason: expect.any(String) });
    }
    const seen = simulator.log.entries().map((e) => decodeURIComponent(e.customIdHeader ?? ''));
    expect(seen).toEqual(
      ids.map((id) => id.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')),
    );
  });

  it('answers bodies with odd text and prototype-named keys with a completion or a typed error', async () => {
    const bodies = [
      ask('lone \ud800 surrogate and \u0000 nul'),
      ask('\u202Eevil\u202C שלום 😀'),
      JSON.parse(
        '{"messages":[{"role":"user","content":"x","__proto__":{"role":"admin"}}],"max_tokens":5}',
      ) as ChatCompletionBody,
      JSON.parse(
        '{"__proto__":{"url":"https://evil.example"},"messages":[{"role":"user","content":"x"}],"max_tokens":5}',
      ) as ChatCompletionBody,
      {
        ...ask('y'),
        model: 'https://evil.example/v1',
        url: 'https://evil.example',
        headers: { authorization: 'Bearer stolen' },
      } as unknown as ChatCompletionBody,
    ];
    for (const body of bodies) {
      const result = await client.complete(body, { customId: 'b' }).catch((error: unknown) => error);
      expect(
        result instanceof ChatCallError || (typeof result === 'object' && result !== null && 'completion' in result),
      ).toBe(true);
    }
    // Every request went to the configured endpoint's path, and only there.
    expect(simulator.log.entries().length).toBeGreaterThanOrEqual(bodies.length);
    expect(({} as Record<string, unknown>)['role']).toBeUndefined();
  });
});

describe('the Phi-3 client and the usage ledger', () => {
  it('sends the call id as x-ms-client-request-id, so the endpoint logs the id our ledger keeps', async () => {
    const before = simulator.log.entries().length;
    await client.complete(ask('trace me'), { customId: 'line-9', callId: '3f1c2a64-0d55-4a53-9b7e-6a8f0e1d2c3b' });
    const [entry] = simulator.log.entries().slice(before);
    expect(entry).toMatchObject({ status: 200, clientRequestId: '3f1c2a64-0d55-4a53-9b7e-6a8f0e1d2c3b' });
  });

  it('tells a request that never left (connection refused) from one whose answer was lost', async () => {
    const closed = await startPhi3Simulator();
    const url = closed.url;
    await closed.close();
    const refusedClient = new Phi3ChatClient({
      endpoint: url,
      apiKey: 'k'.repeat(32),
      apiVersion: '2024-05-01-preview',
      timeoutInMs: 2_000,
      connections: 1,
    });
    try {
      const error = await refusedClient.complete(ask('nobody home')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error).toMatchObject({ neverSent: true, mayHaveBilled: false });
    } finally {
      await refusedClient.close();
    }
  });
});
