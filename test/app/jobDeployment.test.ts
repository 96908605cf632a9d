import { describe, expect, it } from 'vitest';
import { Deployments } from '../../src/app/deployments.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { chatLine, createWorld, RecordingLimiter, roughTokenCounter, ScriptedChatClient } from './fixtures.js';

const SMALL = 'Phi-3-small-8k-instruct';

describe('the deployment a job is pinned to', () => {
  it('is on the job before its first message can be read, so even the quickest worker calls the model the file asks for', async () => {
    const world = createWorld();
    const miniChat = new ScriptedChatClient();
    const smallChat = new ScriptedChatClient();
    const deployments = new Deployments([
      {
        name: 'mini',
        model: 'Phi-3-mini-4k-instruct',
        chat: miniChat,
        limiter: new RecordingLimiter(world.clock),
        tokenCounter: roughTokenCounter,
      },
      {
        name: 'small',
        model: SMALL,
        chat: smallChat,
        limiter: new RecordingLimiter(world.clock),
        tokenCounter: roughTokenCounter,
      },
    ]);
    const workerDeps = { ...world.workerDeps, deployments };
    // A worker that receives each message the moment it is sent: it reads the job as the message lands.
    const seenAtSend: string[] = [];
    const requestQueue = {
      async ensureExists(): Promise<void> {},
      async send(payloads: readonly unknown[]): Promise<void> {
        for (const payload of payloads) {
          const message = requestMessageOf(JSON.parse(JSON.stringify(payload)));
          seenAtSend.push((await world.jobs.getJob(message.jobId))!.job.deployment);
          await processRequestMessage(message, workerDeps, { dequeueCount: 1 });
        }
      },
    };
    const lines = Array.from({ length: 6 }, (_, i) => chatLine(`r${i}`, `prompt ${i}`, { model: SMALL }));
    await world.blobs.upload(
      'batch-input',
      'small.jsonl',
      (async function* () {
        yield Buffer.from(`${lines.join('\n')}\n`);
      })(),
    );

    const result = await ingestBlob('batch-input', 'small.jsonl', { ...world.ingestDeps, deployments, requestQueue });

    expect(result.kind).toBe('ingested');
    expect(seenAtSend).toEqual(['small', 'small']);
    expect(miniChat.calls).toHaveLength(0);
    expect(smallChat.calls).toHaveLength(6);
    const job = (await world.jobs.getJob((result as { jobId: string }).jobId))!.job;
    expect({ deployment: job.deployment, model: job.model, succeeded: job.counts.succeeded }).toEqual({
      deployment: 'small',
      model: SMALL,
      succeeded: 6,
    });
  });
});
