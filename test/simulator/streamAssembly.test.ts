import { Agent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerSentEventParser, StreamedCompletionAssembler } from '../../src/core/streamedCompletion.js';
import { startPhi3Simulator } from '../../dev/simulator/index.js';

describe('a streamed call to the simulator', () => {
  const agent = new Agent();
  afterAll(() => agent.close());

  it('assembles to the same completion as the unstreamed call', async () => {
    const simulator = await startPhi3Simulator({ latency: { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 } });
    try {
      const body = { messages: [{ role: 'user', content: 'Tell me about tides.' }], max_tokens: 200 };
      const post = (payload: object) =>
        agent.request({
          origin: simulator.url,
          path: '/chat/completions',
          method: 'POST',
          headers: { authorization: `Bearer ${simulator.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(payload),
        });
      const plain = (await (await post(body)).body.json()) as Record<string, unknown>;
      const streamed = await post({ ...body, stream: true, stream_options: { include_usage: true } });
      const parser = new ServerSentEventParser();
      const assembler = new StreamedCompletionAssembler();
      for await (const bytes of streamed.body) {
        for (const event of parser.push((bytes as Buffer).toString('utf8'))) assembler.add(event);
      }
      for (const event of parser.end()) assembler.add(event);
      expect(assembler.done).toBe(true);
      const { id: _id, created: _created, ...rest } = assembler.result();
      expect(rest).toEqual({
        object: plain['object'],
        model: plain['model'],
        choices: plain['choices'],
        usage: plain['usage'],
      });
    } finally {
      await simulator.close();
    }
  });
});
