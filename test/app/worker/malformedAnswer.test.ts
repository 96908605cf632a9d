import { describe, expect, it } from 'vitest';
import { finalizeJob } from '../../../src/app/finalizeJob.js';
import { ingestBlob } from '../../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../../src/app/processRequestMessage.js';
import { parseControlMessage } from '../../../src/core/controlMessage.js';
import { requestMessageOf } from '../../support/requestMessageOf.js';
import type { Phi3HttpAnswer } from '../../../src/adapters/phi3/phi3Answer.js';
import { chatLine, createWorld, okResponse, ScriptedChatClient } from '../fixtures.js';

/*
 * A 2xx that is not a chat.completion with usage is not a success: the line is retried like a lost
 * answer, and the call stays in the ledger as unconfirmed (the endpoint may have billed it).
 */

type World = ReturnType<typeof createWorld>;

async function runJob(world: World, text: string): Promise<string> {
  world.blobs.put('batch-input', 'in.jsonl', text);
  const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
  if (ingested.kind !== 'ingested') throw new Error('not ingested');
  for (let round = 0; round < 10; round += 1) {
    const work = world.requestQueue.drain();
    const control = world.controlQueue.drain();
    if (work.length === 0 && control.length === 0) break;
    for (const payload of work) await processRequestMessage(requestMessageOf(payload), world.workerDeps);
    for (const payload of control) {
      const message = parseControlMessage(payload);
      if (typeof message !== 'string' && message.kind === 'finalize')
        await finalizeJob(message.jobId, world.finalizeDeps);
    }
  }
  return ingested.jobId;
}

async function outcomesOf(world: World, jobId: string) {
  const all = [];
  for await (const o of world.jobs.listOutcomes(jobId)) all.push(o);
  return all;
}

const ok200 = (body: unknown): Phi3HttpAnswer => ({
  kind: 'response',
  status: 200,
  headers: {},
  body,
  requestId: 'req-bad',
  latencyInMs: 2,
});

describe('a 2xx that is not a chat.completion with usage', () => {
  it('is retried, not recorded as a success, and its call stays unconfirmed in the ledger', async () => {
    const chat = new ScriptedChatClient((body, call) => (call === 1 ? ok200({ choices: [] }) : okResponse(body)));
    const world = createWorld(chat);
    const jobId = await runJob(world, chatLine('only', 'hello'));

    const [outcome] = await outcomesOf(world, jobId);
    expect(outcome).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      usage: { prompt_tokens: 10, completion_tokens: 5 },
    });
    expect(chat.calls).toHaveLength(2);
    const entries = [...world.ledger.entries.values()].sort((a, b) => a.attempt - b.attempt);
    expect(entries.map((e) => [e.attempt, e.state])).toEqual([
      [1, 'sent'],
      [2, 'billed'],
    ]);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job.counts).toMatchObject({ succeeded: 1, failed: 0 });
  });

  it('fails the line with retries_exhausted once the attempts are spent (HTML, truncated JSON, no usage)', async () => {
    const bodies: unknown[] = [
      '<html>Service Unavailable</html>',
      '{"id":"chatcmpl-1","choices":[{"ind',
      { choices: [{ message: { content: 'x' } }] },
    ];
    const chat = new ScriptedChatClient((_body, call) => ok200(bodies[(call - 1) % bodies.length]));
    const world = createWorld(chat);
    const jobId = await runJob(world, chatLine('only', 'hello'));

    const [outcome] = await outcomesOf(world, jobId);
    expect(outcome).toMatchObject({
      status: 'failed',
      attempts: 3,
      response: null,
      usage: null,
      error: { code: 'retries_exhausted' },
    });
    expect(outcome!.error!.message).toBe('The endpoint answered HTTP 200 with a body without usage (after 3 attempts)');
    expect([...world.ledger.entries.values()].map((e) => e.state)).toEqual(['sent', 'sent', 'sent']);
    expect(world.sleeps).toHaveLength(2);
  });
});
